/**
 * Who may talk to the HTTP API, decided before any handler runs:
 *
 *  - the bearer token (the secret AEGISCLAW_API_TOKEN), compared in constant
 *    time: both sides are hashed first, so neither the length nor a prefix of
 *    the token leaks through timing;
 *  - never a token in a URL: URLs end up in shell history, proxy and access
 *    logs, browser history and Referer headers (OpenClaw's gateway token
 *    leaked that way, CVE-2026-25253), so a credential-looking query
 *    parameter is refused outright, whatever its value;
 *  - the Host header names this server (a DNS-rebinding page names its own
 *    host), and a browser Origin, when there is one, is this server's own;
 *  - failed attempts go to the audit log, summarised at most once a second so
 *    a flood cannot fill it.
 *
 * Everything here is pure but the auditor's clock; http.ts wires it.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";

/** The secret-store entry holding the API token. */
export const API_TOKEN_SECRET = "AEGISCLAW_API_TOKEN";

/** Shorter tokens are refused at start-up: a person-chosen word is guessable; 32 characters of base64 are 192 bits. */
export const MIN_TOKEN_LENGTH = 32;

/** A new token: 256 random bits, base64url, with a prefix secret scanners and people can recognise. */
export function generateApiToken(): string {
  return `aegisclaw_${randomBytes(32).toString("base64url")}`;
}

/** Query parameters that carry credentials in some API or other; any of them in a URL is refused (case-insensitive). */
const CREDENTIAL_PARAMS = new Set(["token", "access_token", "accesstoken", "api_key", "apikey", "api-key", "key", "auth", "authorization", "bearer", "id_token", "refresh_token", "password", "secret"]);

/** The credential-looking query parameters of a URL (their names only, never values). */
export function credentialQueryParams(url: URL): string[] {
  const found: string[] = [];
  for (const name of url.searchParams.keys()) {
    const n = name.trim().toLowerCase();
    if (CREDENTIAL_PARAMS.has(n) && !found.includes(n)) found.push(n);
  }
  return found;
}

export type TokenCheck = "ok" | "missing" | "malformed" | "wrong";

/** Holds only the SHA-256 of the token; the token itself is not kept. */
export class BearerToken {
  readonly #digest: Buffer;

  constructor(token: string) {
    this.#digest = sha256(token);
  }

  /** Checks an Authorization header: `Bearer <token>` only (no Basic, no token in another header). */
  check(authorization: string | undefined): TokenCheck {
    if (authorization === undefined || authorization.trim() === "") return "missing";
    const m = /^Bearer[ ]+([\x21-\x7e]+)[ ]*$/i.exec(authorization);
    const presented = m?.[1];
    if (presented === undefined) return "malformed";
    // Hash both sides: equal lengths for timingSafeEqual, and nothing about the token's length or prefix is timed.
    return timingSafeEqual(sha256(presented), this.#digest) ? "ok" : "wrong";
  }
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

// ---------------------------------------------------------------------------
// Host and Origin

/** True for 127.0.0.0/8, ::1, the IPv4-mapped loopback and `localhost`. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (a === "localhost" || a.endsWith(".localhost")) return true;
  if (isIP(a) === 4) return a.startsWith("127.");
  if (isIP(a) === 6) {
    if (a === "::1" || a === "0:0:0:0:0:0:0:1") return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
    return mapped?.[1] !== undefined && mapped[1].startsWith("127.");
  }
  return false;
}

/** True for the any-address (0.0.0.0, ::): bound to every interface. */
export function isWildcardAddress(address: string): boolean {
  const a = address.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return a === "0.0.0.0" || a === "::" || a === "0:0:0:0:0:0:0:0";
}

/** `host:port` as a Host header writes it (IPv6 in brackets), lower case. */
export function hostWithPort(host: string, port: number): string {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return `${isIP(h) === 6 ? `[${h}]` : h}:${String(port)}`;
}

/**
 * A Host header in the form the allowed set holds: lower case, with the port (the scheme's default when it is
 * left out). Undefined when it is not a plain host[:port].
 */
export function normaliseHostHeader(host: string | undefined, defaultPort: number): string | undefined {
  if (host === undefined) return undefined;
  const h = host.trim().toLowerCase();
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/.exec(h);
  const name = m?.[1];
  if (name === undefined) return undefined;
  const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return hostWithPort(name.replace(/\.$/, ""), port);
}

export interface RequestOrigin {
  /** `http` or `https`. */
  readonly scheme: string;
  /** Host values (normalised `host:port`) this server answers to. */
  readonly hosts: ReadonlySet<string>;
}

/** Why a browser Origin is refused, or undefined when there is none or it is this server's own. */
export function foreignOrigin(origin: string | undefined, expected: RequestOrigin): string | undefined {
  if (origin === undefined) return undefined;
  if (origin === "null") return "null";
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return "unparseable";
  }
  if (url.protocol !== `${expected.scheme}:`) return url.protocol.replace(/:$/, "");
  const host = normaliseHostHeader(url.host, expected.scheme === "https" ? 443 : 80);
  return host !== undefined && expected.hosts.has(host) ? undefined : host ?? "unparseable";
}

// ---------------------------------------------------------------------------
// Auditing failures without letting a flood fill the log

export type AuthFailureReason = "missing" | "malformed" | "wrong" | "token_in_url" | "bad_host" | "foreign_origin";

export interface AuthFailure {
  readonly reason: AuthFailureReason;
  readonly remote: string | undefined;
  readonly method: string;
  readonly path: string;
}

export interface AuthFailureSummary {
  readonly count: number;
  readonly reasons: Readonly<Partial<Record<AuthFailureReason, number>>>;
  /** Up to 8 distinct remote addresses, and how many requests each made. */
  readonly remotes: Readonly<Record<string, number>>;
  /** The first few request paths (method and path, no query). */
  readonly paths: readonly string[];
  readonly first: string;
  readonly last: string;
}

interface PendingFailures {
  count: number;
  reasons: Partial<Record<AuthFailureReason, number>>;
  remotes: Map<string, number>;
  paths: string[];
  first: number;
  last: number;
}

/**
 * Collects failed attempts and hands a summary to `flush` at most once per interval: the first failure after a
 * quiet interval is written at once (an alert sees it), the rest of a burst in one entry when the interval ends.
 */
export class AuthFailureAuditor {
  readonly #flush: (summary: AuthFailureSummary) => void;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #pending: PendingFailures | undefined;
  #lastFlush = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;

  constructor(flush: (summary: AuthFailureSummary) => void, options: { intervalMs?: number; now?: () => number } = {}) {
    this.#flush = flush;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#now = options.now ?? Date.now;
  }

  record(f: AuthFailure): void {
    const now = this.#now();
    const p: PendingFailures = (this.#pending ??= { count: 0, reasons: {}, remotes: new Map<string, number>(), paths: [], first: now, last: now });
    p.count++;
    p.last = now;
    p.reasons[f.reason] = (p.reasons[f.reason] ?? 0) + 1;
    const remote = f.remote ?? "unknown";
    if (p.remotes.has(remote) || p.remotes.size < 8) p.remotes.set(remote, (p.remotes.get(remote) ?? 0) + 1);
    const path = `${f.method} ${f.path.slice(0, 200)}`;
    if (p.paths.length < 5 && !p.paths.includes(path)) p.paths.push(path);
    if (this.#timer !== undefined) return;
    const wait = this.#lastFlush + this.#intervalMs - now;
    if (wait <= 0) this.flush();
    else {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush();
      }, wait);
      this.#timer.unref();
    }
  }

  /** Writes what is pending now (also at shutdown). */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const p = this.#pending;
    if (p === undefined) return;
    this.#pending = undefined;
    this.#lastFlush = this.#now();
    this.#flush({ count: p.count, reasons: p.reasons, remotes: Object.fromEntries(p.remotes), paths: p.paths, first: new Date(p.first).toISOString(), last: new Date(p.last).toISOString() });
  }
}
