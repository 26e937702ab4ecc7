/**
 * Redaction of what leaves the envelope: known secret values in every
 * encoding a tool might print them in, plus the detectors for credentials
 * and PII nobody told us about (`./detectors/`).
 *
 * A secret that leaks is rarely printed verbatim: tools base64 it into auth
 * headers, hex-dump it, URL-encode it, put it in a JSON string, wrap it over
 * lines. So every known value is searched for in each of those forms (see
 * `secretPatterns`), all of them at once by one multi-pattern matcher
 * (`./matcher.ts`) whose cost does not grow with the number of secrets.
 *
 * What this cannot do: a tool that holds a secret can always transform it in
 * a way nobody anticipates (XOR, a cipher, one character per request).
 * Redaction catches the accidental and the naive leak; the broker (a tool
 * only gets the secrets its skill declares) and the sandbox's egress
 * allowlist are what stop a deliberate one.
 */
import { AegisError } from "../errors.ts";
import { ALL_DETECTORS, defaultDetectors, findAll, redactFindings, type Detector, type Finding } from "./detectors/index.ts";
import { MultiPatternMatcher, type MatcherPattern } from "./matcher.ts";

export interface RedactionResult {
  readonly text: string;
  /** How many spans were replaced. */
  readonly count: number;
  /** Spans replaced per detector id (`known-secret` for known values). Counts only: safe for the audit log. */
  readonly counts: Readonly<Record<string, number>>;
}

export interface Redactor {
  redact(text: string, knownSecrets: readonly string[]): RedactionResult;
}

/** The detector id under which known secret values are counted. */
export const KNOWN_SECRET_ID = "known-secret";

/**
 * Secrets shorter than this (in UTF-16 code units) are not redacted: a one-
 * to three-character value occurs by chance all over ordinary output, and
 * replacing every occurrence would destroy the output while hiding nothing
 * (such a value is guessable anyway). Use {@link unredactableSecrets} to find
 * them, e.g. to warn the operator that a credential is too short to protect.
 */
export const MIN_SECRET_LENGTH = 4;

/**
 * Secrets with at least this many ASCII letters and digits are also matched
 * with separators interleaved (see `matcher.ts`, skeleton patterns): wrapped
 * base64, `xx:xx:xx` hex dumps, a value spelled out with dashes or spaces,
 * reversed. Below it, a chance match in ordinary text becomes plausible.
 */
export const MIN_SKELETON_LENGTH = 12;

/**
 * The known secrets that are too short to redact (1 to MIN_SECRET_LENGTH - 1
 * characters), deduplicated, in the order given. Empty strings are not
 * secrets and are not reported. Never throws: redaction of the other secrets
 * goes on regardless.
 */
export function unredactableSecrets(values: readonly string[]): string[] {
  return [...new Set(values.filter((v) => v.length > 0 && v.length < MIN_SECRET_LENGTH))];
}

const HEX_UPPER = "0123456789ABCDEF";

/** Percent-encoding of every UTF-8 byte: `ab` → `%61%62`. */
function percentEncodeAll(bytes: Buffer): string {
  let out = "";
  for (const b of bytes) out += `%${HEX_UPPER[b >> 4] ?? ""}${HEX_UPPER[b & 15] ?? ""}`;
  return out;
}

function reverse(text: string): string {
  return Array.from(text).reverse().join("");
}

/**
 * Every form of `secret` we look for, as matcher patterns:
 *  - verbatim and reversed;
 *  - JSON-string-escaped when that differs (quotes, backslashes, control
 *    characters; also the ASCII-only `\uXXXX` and `\/` spellings other
 *    encoders use);
 *  - URL-encoded (`%20` or `+` for spaces) and every byte percent-encoded,
 *    escapes in either case;
 *  - hex, either case;
 *  - base64 and base64url at all three alignments, so a secret inside a
 *    longer encoded blob (`Basic base64(user:secret)`) is found, including the
 *    final characters and padding when the secret ends the blob;
 *  - when it has at least MIN_SKELETON_LENGTH letters and digits: the
 *    verbatim, reversed, hex and base64 forms again with separators allowed
 *    between characters.
 * Forms shorter than MIN_SECRET_LENGTH are dropped.
 */
export function secretPatterns(secret: string): MatcherPattern[] {
  const out = new Map<string, MatcherPattern>();
  const add = (text: string, foldHex = false, skeleton = false): void => {
    if (text.length < MIN_SECRET_LENGTH) return;
    const key = `${skeleton ? "s" : "e"}${foldHex ? "f" : "x"}${text}`;
    if (!out.has(key)) out.set(key, { text, foldHex, skeleton });
  };
  const bytes = Buffer.from(secret, "utf8");
  const hex = bytes.toString("hex");
  add(secret);
  add(reverse(secret));
  const uri = encodeURIComponent(secret);
  add(uri, uri.includes("%"));
  add(uri.replace(/%20/g, "+"), uri.includes("%"));
  add(percentEncodeAll(bytes), true);
  // Other percent-encoders: form encoding (URLSearchParams: also !'()~, spaces as +) and RFC 3986 path encoding
  // that keeps "/" (Python's quote()).
  const form = new URLSearchParams({ v: secret }).toString().slice(2);
  add(form, form.includes("%"));
  const keepSlash = uri.replace(/%2F/g, "/");
  add(keepSlash, keepSlash.includes("%"));
  add(hex, true);
  const base64Cores: string[] = [];
  for (let offset = 0; offset < 3; offset += 1) {
    // Prefix `offset` filler bytes, encode, then drop the characters that depend on the filler and on what follows.
    const padded = Buffer.concat([Buffer.alloc(offset), bytes]);
    const b64 = padded.toString("base64").replace(/=+$/, "");
    const start = Math.ceil((offset * 4) / 3);
    const usableEnd = Math.floor(((offset + bytes.length) * 4) / 3);
    const core = b64.slice(start, usableEnd);
    if (core.length < MIN_SECRET_LENGTH) continue;
    base64Cores.push(core);
    // When the secret ends the encoded data (`Basic base64(user:secret)`), its last characters are known too: with and without padding.
    const full = padded.toString("base64");
    for (const f of [core, b64.slice(start), full.slice(start)]) {
      add(f);
      add(f.replace(/\+/g, "-").replace(/\//g, "_"));
    }
  }
  const json = JSON.stringify(secret).slice(1, -1);
  add(json);
  // Python's json.dumps (ensure_ascii) escapes every non-ASCII character; PHP's json_encode also escapes "/".
  add(json.replace(/[^\x20-\x7e]/g, (c) => `\\u${(c.charCodeAt(0) + 0x10000).toString(16).slice(1)}`));
  add(json.replace(/\//g, "\\/"));
  if (alnumCount(secret) >= MIN_SKELETON_LENGTH) {
    add(secret, false, true);
    add(reverse(secret), false, true);
    add(hex, true, true);
    // Byte lists as code prints them: 0x77, 0x4a, … and \x77\x4a… (the skeleton keeps the 0x and x).
    add(Array.from(bytes, (b) => `0x${b.toString(16).padStart(2, "0")}`).join(","), true, true);
    add(Array.from(bytes, (b) => `x${b.toString(16).padStart(2, "0")}`).join(""), true, true);
    // base64url differs from base64 only in `+/` vs `-_`, which the skeleton skips.
    for (const core of base64Cores) if (alnumCount(core) >= MIN_SKELETON_LENGTH) add(core, false, true);
  }
  // A form made only of letters and digits is found by its skeleton pattern too (a skeleton match without separators
  // is an exact match, over the same span): scanning for it twice would only cost time.
  return [...out.values()].filter((p) => p.skeleton === true || !ALNUM_ONLY.test(p.text) || !out.has(`s${p.foldHex === true ? "f" : "x"}${p.text}`));
}

const ALNUM_ONLY = /^[A-Za-z0-9]+$/;

/** The texts of `secretPatterns(secret)` (for tests and diagnostics). */
export function secretForms(secret: string): string[] {
  return [...new Set(secretPatterns(secret).map((p) => p.text))];
}

function alnumCount(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) n += 1;
  }
  return n;
}

/** A compiled matcher for one set of known secrets. */
export class KnownSecretMatcher {
  readonly #matcher: MultiPatternMatcher;

  constructor(knownSecrets: readonly string[]) {
    const patterns: MatcherPattern[] = [];
    for (const s of new Set(knownSecrets)) if (s.length >= MIN_SECRET_LENGTH) patterns.push(...secretPatterns(s));
    this.#matcher = new MultiPatternMatcher(patterns);
  }

  /** How many characters before the end of a text a match that continues past it may start (for streaming). */
  get reach(): number {
    // A skeleton match may have separators between its characters; four per character is the allowance.
    return Math.max(this.#matcher.maxExactLength, this.#matcher.maxSkeletonLength * 4);
  }

  /** Every occurrence of any form of any secret, as findings attributed to `known-secret`. */
  find(text: string): Finding[] {
    const out: Finding[] = [];
    this.#matcher.scan(text, (start, end) => {
      out.push({ detector: KNOWN_SECRET_ID, start, end });
    });
    return out;
  }
}

/** Compiles known-secret matchers, reusing the last one while the set of secrets is the same. */
class MatcherCache {
  #last: { readonly secrets: readonly string[]; readonly copy: readonly string[]; readonly matcher: KnownSecretMatcher } | undefined;

  get(knownSecrets: readonly string[]): KnownSecretMatcher {
    const c = this.#last;
    // The same array unchanged (the broker hands over the same list) costs one pass of comparisons.
    if (c && c.copy.length === knownSecrets.length && c.copy.every((s, i) => s === knownSecrets[i])) return c.matcher;
    const matcher = new KnownSecretMatcher(knownSecrets);
    this.#last = { secrets: knownSecrets, copy: [...knownSecrets], matcher };
    return matcher;
  }
}

/** config.yaml `redaction:`. */
export interface RedactionSettings {
  readonly email: boolean;
  readonly phone: boolean;
  readonly disable: readonly string[];
}

/**
 * The detectors a configuration asks for: the defaults, plus e-mail and phone
 * when enabled, minus the disabled ids. An unknown id is an error — a typo
 * must not leave a detector on that the user meant off, or hide that the
 * setting does nothing.
 */
export function configuredDetectors(settings: RedactionSettings): Detector[] {
  const known = new Set(ALL_DETECTORS.map((d) => d.id));
  const unknown = settings.disable.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new AegisError("CONFIG_INVALID", `config.yaml redaction.disable names unknown detector id(s): ${unknown.join(", ")}. Known ids: ${[...known].join(", ")}.`, { details: { unknown } });
  }
  const wanted = new Set(defaultDetectors().map((d) => d.id));
  if (settings.email) wanted.add("email");
  if (settings.phone) wanted.add("phone");
  for (const id of settings.disable) wanted.delete(id);
  return ALL_DETECTORS.filter((d) => wanted.has(d.id));
}

export interface OutputRedactorOptions {
  /** Detectors for unknown credentials and PII; none by default here (the runtime passes the configured set). */
  readonly detectors?: readonly Detector[];
  /** What replaces a known secret. */
  readonly placeholder?: string;
}

/**
 * The redactor the envelope uses: known secrets first, then detectors; all
 * findings are merged so overlapping ones are replaced as one span (no part
 * of either survives), and counted per detector.
 */
export class OutputRedactor implements Redactor {
  readonly #detectors: readonly Detector[];
  readonly #known: Detector;
  readonly #cache = new MatcherCache();

  constructor(options: OutputRedactorOptions = {}) {
    this.#detectors = options.detectors ?? [];
    this.#known = {
      id: KNOWN_SECRET_ID,
      kind: "credential",
      description: "a value held in the secret store or issued by the broker, in any of its encodings",
      replacement: options.placeholder ?? "[REDACTED]",
      defaultEnabled: true,
      // Known-secret findings come from findings(), which knows the secrets; this entry supplies the replacement and the id.
      find: () => [],
    };
  }

  /** The detectors, known-secret first, in tie-breaking order. */
  get detectors(): readonly Detector[] {
    return [this.#known, ...this.#detectors];
  }

  /** Findings (possibly overlapping) of known secrets and every detector over `text`. */
  findings(text: string, knownSecrets: readonly string[]): Finding[] {
    const all = this.#cache.get(knownSecrets).find(text);
    for (const f of findAll(text, this.#detectors)) all.push(f);
    return all;
  }

  /** How far back from the end of a text a finding may begin that the next chunk could complete or extend. */
  reach(knownSecrets: readonly string[]): number {
    return Math.max(this.#cache.get(knownSecrets).reach, DETECTOR_REACH);
  }

  redact(text: string, knownSecrets: readonly string[]): RedactionResult {
    if (text.length === 0) return { text, count: 0, counts: {} };
    return this.apply(text, this.findings(text, knownSecrets));
  }

  apply(text: string, findings: readonly Finding[]): RedactionResult {
    const r = redactFindings(text, findings, this.detectors);
    let count = 0;
    for (const n of Object.values(r.counts)) count += n;
    return { text: r.text, count, counts: r.counts };
  }
}

/** Known secrets only, no detectors. */
export class KnownSecretRedactor extends OutputRedactor {
  constructor(placeholder = "[REDACTED]") {
    super({ placeholder });
  }
}

/**
 * How many characters a detector finding may span, for streaming: the
 * longest credentials detectors find are PEM private keys (an RSA-4096 key is
 * about 3,300 characters).
 */
export const DETECTOR_REACH = 8192;

/**
 * Redaction of a stream cut into chunks at arbitrary places: a secret split
 * across two writes is still found. Each `push` returns the part of the
 * stream that no later chunk can change — everything except the last
 * `reach` characters, and never cutting through a finding — redacted; `end`
 * returns the rest. Memory is bounded by `reach` plus one chunk.
 */
export class StreamRedactor {
  readonly #redactor: OutputRedactor;
  readonly #known: () => readonly string[];
  #pending = "";
  #count = 0;
  readonly #counts: Record<string, number> = {};

  constructor(redactor: OutputRedactor, knownSecrets: () => readonly string[]) {
    this.#redactor = redactor;
    this.#known = knownSecrets;
  }

  push(chunk: string): string {
    this.#pending += chunk;
    const known = this.#known();
    const reach = this.#redactor.reach(known);
    if (this.#pending.length <= reach) return "";
    const findings = this.#redactor.findings(this.#pending, known);
    let cut = this.#pending.length - reach;
    // A finding that crosses the cut is held back whole, with everything after its start.
    for (let moved = true; moved; ) {
      moved = false;
      for (const f of findings) {
        if (f.start < cut && f.end > cut) {
          cut = f.start;
          moved = true;
        }
      }
    }
    return this.#emit(cut, findings);
  }

  end(): string {
    const findings = this.#redactor.findings(this.#pending, this.#known());
    return this.#emit(this.#pending.length, findings);
  }

  /** Replacements so far, per detector id. */
  get counts(): Readonly<Record<string, number>> {
    return { ...this.#counts };
  }

  get count(): number {
    return this.#count;
  }

  #emit(cut: number, findings: readonly Finding[]): string {
    if (cut <= 0) return "";
    const head = this.#pending.slice(0, cut);
    this.#pending = this.#pending.slice(cut);
    const r = this.#redactor.apply(
      head,
      findings.filter((f) => f.end <= cut),
    );
    this.#count += r.count;
    for (const [id, n] of Object.entries(r.counts)) this.#counts[id] = (this.#counts[id] ?? 0) + n;
    return r.text;
  }
}

/** Every string (keys too) inside a JSON-like value passed through `scrub`; the structure is kept, so no redaction can break it. */
export function scrubStrings(value: unknown, scrub: (text: string) => string): unknown {
  if (typeof value === "string") return scrub(value);
  if (Array.isArray(value)) return value.map((v) => scrubStrings(v, scrub));
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [scrub(k), scrubStrings(v, scrub)]));
  return value;
}
