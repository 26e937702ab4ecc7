/**
 * Constraints on `allow` rules, checked against the action's actual
 * arguments, never against the scope string. Each constraint fails closed:
 * if the arguments it needs are missing or cannot be parsed, it is violated.
 */
import { z } from "zod";
import { AddressError, addressMatches, parseAddressList } from "./addresses.ts";
import { canonicalHost, pathReadings, ScopeError } from "./scope.ts";
import { compileScopePattern, type ScopePattern } from "./pattern.ts";

const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
const DURATION_RE = /^(\d+)\s*(s|m|h|d)$/;

export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"];
  return Number(m[1]) * unit;
}

const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "use HH:MM (24-hour)");

export const ConstraintsSchema = z
  .object({
    recipients: z.array(z.string().min(3)).describe("allowed recipients: alice@example.com, *@example.com, *@*.example.com"),
    domains: z.array(z.string().min(1)).describe("allowed hosts for URL arguments: api.github.com, *.example.com"),
    paths: z.array(z.string().min(1)).describe("allowed path globs for path arguments"),
    time_window: z
      .object({
        days: z.array(z.enum(WEEKDAYS)).min(1).optional(),
        from: HHMM,
        to: HHMM,
        tz: z.string().optional(),
      })
      .strict()
      .refine((w) => w.tz === undefined || isValidTimeZone(w.tz), { message: "unknown time zone (use an IANA name such as Europe/Berlin)", path: ["tz"] }),
    rate_limit: z
      .object({ max: z.number().int().positive(), per: z.string().refine((s) => parseDuration(s) !== undefined, "use a duration like 30s, 10m, 1h, 1d") })
      .strict(),
    max_bytes: z.number().int().positive(),
  })
  .partial()
  .strict();
export type ConstraintsSpec = z.infer<typeof ConstraintsSchema>;

function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Which argument names carry recipients, URLs and paths. Tools declare theirs; these are the fallbacks. */
export interface ArgRoles {
  readonly recipients: readonly string[];
  readonly urls: readonly string[];
  readonly paths: readonly string[];
}

export const DEFAULT_ARG_ROLES: ArgRoles = {
  recipients: ["to", "cc", "bcc", "recipient", "recipients", "reply_to"],
  urls: ["url", "urls", "href", "endpoint"],
  paths: ["path", "paths", "file", "files", "src", "dest", "source", "target", "cwd"],
};

export interface RateCounter {
  /** Uses recorded for `key` within the last `windowMs` before `now`. */
  count(key: string, windowMs: number, now: number): number;
  record(key: string, now: number): void;
}

/** In-process sliding-window counter. */
export class MemoryRateCounter implements RateCounter {
  readonly #uses = new Map<string, number[]>();
  count(key: string, windowMs: number, now: number): number {
    const uses = this.#uses.get(key);
    if (!uses) return 0;
    const fresh = uses.filter((t) => t > now - windowMs);
    this.#uses.set(key, fresh);
    return fresh.length;
  }
  record(key: string, now: number): void {
    const uses = this.#uses.get(key) ?? [];
    uses.push(now);
    this.#uses.set(key, uses);
  }
}

export interface CompiledConstraints {
  readonly spec: ConstraintsSpec;
  readonly pathPatterns: readonly ScopePattern[];
}

export function compileConstraints(spec: ConstraintsSpec): CompiledConstraints {
  return { spec, pathPatterns: (spec.paths ?? []).map((p) => compileScopePattern(`files.any:${p}`)) };
}

export interface ConstraintContext {
  readonly args: Readonly<Record<string, unknown>>;
  readonly roles: ArgRoles;
  readonly now: Date;
  readonly rateCounter: RateCounter;
  readonly rateKey: string;
  readonly cwd?: string;
}

export interface ConstraintResult {
  readonly ok: boolean;
  /** One line per violated constraint, naming the argument and value. */
  readonly violations: readonly string[];
  /** Constraints that were checked and held. */
  readonly satisfied: readonly string[];
  /** An argument a constraint reads could not be parsed: always a deny, never a question to a person. */
  readonly unparseable: boolean;
}

function valuesFor(args: Readonly<Record<string, unknown>>, names: readonly string[]): unknown[] {
  const out: unknown[] = [];
  for (const name of names) {
    if (Object.hasOwn(args, name) && args[name] !== undefined && args[name] !== null) out.push(args[name]);
  }
  return out;
}

function flattenStrings(values: unknown[], what: string): string[] {
  const out: string[] = [];
  for (const v of values) {
    for (const item of Array.isArray(v) ? (v as unknown[]) : [v]) {
      if (typeof item !== "string") throw new TypeError(`${what} argument is not a string`);
      out.push(item);
    }
  }
  return out;
}

function hostMatches(host: string, pattern: string): boolean {
  const p = canonicalHost(pattern.replace(/^\*\./, "wildcard."));
  if (pattern.startsWith("*.")) {
    const suffix = p.slice("wildcard".length);
    return host.endsWith(suffix) && host.length > suffix.length;
  }
  return host === p;
}

function localParts(now: Date, tz: string | undefined): { day: string; minutes: number } {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(now);
  const get = (t: string): string => parts.find((p) => p.type === t)?.value ?? "";
  return { day: get("weekday").toLowerCase().slice(0, 3), minutes: Number(get("hour")) * 60 + Number(get("minute")) };
}

export function checkConstraints(c: CompiledConstraints, ctx: ConstraintContext): ConstraintResult {
  const violations: string[] = [];
  const satisfied: string[] = [];
  let unparseable = false;
  const { spec } = c;

  if (spec.recipients) {
    try {
      const found = valuesFor(ctx.args, ctx.roles.recipients);
      const addresses = found.flatMap((v) => parseAddressList(v));
      if (addresses.length === 0) violations.push(`recipients: no recipient found in arguments ${ctx.roles.recipients.join("/")}`);
      const outside = addresses.filter((a) => !spec.recipients?.some((p) => addressMatches(a, p)));
      if (outside.length > 0) violations.push(`recipients: ${outside.map((a) => a.address).join(", ")} not on the allowlist`);
      else if (addresses.length > 0) satisfied.push(`recipients: ${addresses.map((a) => a.address).join(", ")} on the allowlist`);
    } catch (err) {
      unparseable = true;
      violations.push(`recipients: unparseable (${err instanceof AddressError || err instanceof TypeError ? err.message : String(err)})`);
    }
  }

  if (spec.domains) {
    try {
      const urls = flattenStrings(valuesFor(ctx.args, ctx.roles.urls), "url");
      if (urls.length === 0) violations.push(`domains: no URL found in arguments ${ctx.roles.urls.join("/")}`);
      for (const raw of urls) {
        const url = new URL(raw);
        if (url.protocol !== "https:" && url.protocol !== "http:") {
          violations.push(`domains: ${url.protocol} URLs are not allowed (http and https only)`);
          continue;
        }
        if (url.username !== "" || url.password !== "") {
          violations.push(`domains: URL ${url.host} carries credentials in its userinfo`);
          continue;
        }
        const host = canonicalHost(url.hostname);
        if (spec.domains.some((p) => hostMatches(host, p))) satisfied.push(`domains: ${host} allowed`);
        else violations.push(`domains: ${host} not on the allowlist`);
      }
    } catch (err) {
      unparseable = true;
      violations.push(`domains: unparseable URL (${err instanceof Error ? err.message : String(err)})`);
    }
  }

  if (spec.paths) {
    try {
      const raws = flattenStrings(valuesFor(ctx.args, ctx.roles.paths), "path");
      if (raws.length === 0) violations.push(`paths: no path found in arguments ${ctx.roles.paths.join("/")}`);
      for (const raw of raws) {
        for (const reading of pathReadings(raw, ctx.cwd === undefined ? {} : { cwd: ctx.cwd })) {
          const scope = { text: `files.any:${reading}`, name: "files.any", resource: reading, kind: "path" as const };
          if (c.pathPatterns.some((p) => p.matches(scope, "exact"))) satisfied.push(`paths: ${reading} inside allowed paths`);
          else violations.push(`paths: ${reading} is outside ${spec.paths.join(", ")}`);
        }
      }
    } catch (err) {
      unparseable = true;
      violations.push(`paths: unparseable path (${err instanceof ScopeError || err instanceof TypeError ? err.message : String(err)})`);
    }
  }

  if (spec.time_window) {
    const w = spec.time_window;
    const { day, minutes } = localParts(ctx.now, w.tz);
    const toMin = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
    const from = toMin(w.from);
    const to = toMin(w.to);
    const inHours = from <= to ? minutes >= from && minutes < to : minutes >= from || minutes < to;
    const dayOk = w.days === undefined || (w.days as readonly string[]).includes(day);
    if (inHours && dayOk) satisfied.push(`time_window: ${w.from}-${w.to}${w.tz ? ` ${w.tz}` : ""}`);
    else violations.push(`time_window: only ${w.days ? `${w.days.join(",")} ` : ""}${w.from}-${w.to}${w.tz ? ` ${w.tz}` : ""}`);
  }

  if (spec.rate_limit) {
    const windowMs = parseDuration(spec.rate_limit.per) ?? 0;
    const used = ctx.rateCounter.count(ctx.rateKey, windowMs, ctx.now.getTime());
    if (used >= spec.rate_limit.max) violations.push(`rate_limit: ${used} of ${spec.rate_limit.max} per ${spec.rate_limit.per} already used`);
    else satisfied.push(`rate_limit: ${used + 1} of ${spec.rate_limit.max} per ${spec.rate_limit.per}`);
  }

  if (spec.max_bytes !== undefined) {
    const size = Buffer.byteLength(JSON.stringify(ctx.args), "utf8");
    if (size > spec.max_bytes) violations.push(`max_bytes: arguments are ${size} bytes, limit ${spec.max_bytes}`);
    else satisfied.push(`max_bytes: ${size} <= ${spec.max_bytes}`);
  }

  return { ok: violations.length === 0, violations, satisfied, unparseable };
}
