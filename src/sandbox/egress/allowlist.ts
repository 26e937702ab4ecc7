/**
 * Per-skill egress allowlists: which hosts (and ports, and for plain HTTP
 * which methods and paths) a sandboxed tool may reach through the proxy.
 *
 * Grammar of one entry, `[METHODS ]HOST[:PORT][/PATH-PREFIX]`:
 *
 *   api.github.com                 that host, ports 443 and 80
 *   *.githubusercontent.com        its subdomains (not githubusercontent.com itself)
 *   api.example.com:8443           that host, port 8443 only
 *   GET,HEAD api.example.com/v1/   plain-HTTP GET/HEAD under /v1/ only
 *   203.0.113.7   203.0.113.0/24   [2001:db8::1]   [2001:db8::]/32
 *
 * An IP address is reachable only through an entry naming it (or a block
 * containing it); a host name never admits an IP literal. Methods and paths
 * can be checked only on plain-HTTP requests: a CONNECT tunnel (every HTTPS
 * request) carries them encrypted, so an entry that restricts them does not
 * admit tunnels at all — unless it lists CONNECT among its methods and has no
 * path. Refused, with what to write instead: `*`, wildcards over a top-level
 * or public suffix (`*.com`, `*.co.uk`), wildcards anywhere but a whole
 * leftmost label, schemes (`https://…`), user info (`user@host`), empty
 * labels, leading dots, unbracketed IPv6, non-canonical IPv4 (`127.1`,
 * `0x7f.0.0.1`, `010.0.0.1`), ports outside 1–65535, and dot segments or
 * encoded slashes in a path.
 *
 * Host names are canonicalised the same way here and for every request:
 * lower case, one trailing dot removed, IDN to punycode (`node:url`
 * domainToASCII, which also reads `2130706433` as 127.0.0.1 — as the system
 * resolver would).
 */
import { domainToASCII } from "node:url";
import { AegisError } from "../../errors.ts";
import { cidrContains, formatCidr, formatIp, parseCidr, parseIp, type Cidr, type IpAddress } from "./addresses.ts";

interface RuleCommon {
  /** The entry in canonical form, e.g. `GET,HEAD api.example.com:443/v1/`. */
  readonly entry: string;
  /** Ports this entry admits (default 443 and 80). */
  readonly ports: readonly number[];
  /** Methods admitted (upper case); undefined: any method, and CONNECT tunnels. */
  readonly methods: readonly string[] | undefined;
  /** Path prefix for plain-HTTP requests; undefined: any path (and CONNECT tunnels). */
  readonly pathPrefix: string | undefined;
}

export type AllowRule =
  | (RuleCommon & { readonly kind: "host"; readonly host: string })
  | (RuleCommon & { readonly kind: "subdomains"; readonly suffix: string })
  | (RuleCommon & { readonly kind: "address"; readonly cidr: Cidr });

/** A request host after canonicalisation: a DNS name, or an IP address. */
export type CanonicalHost = { readonly kind: "name"; readonly name: string } | { readonly kind: "ip"; readonly ip: IpAddress; readonly text: string };

export interface AllowQuery {
  readonly host: string;
  readonly port: number;
  /** The HTTP method of a plain-HTTP request; undefined or `CONNECT` for a tunnel. */
  readonly method?: string;
  /** The request's path (no query), already normalised by a URL parser; only for plain HTTP. */
  readonly path?: string;
}

export type AllowMatch = { readonly allowed: true; readonly rule: AllowRule } | { readonly allowed: false; readonly reason: string };

export const DEFAULT_PORTS: readonly number[] = [443, 80];

const LABEL_RE = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const METHOD_RE = /^[A-Za-z][A-Za-z-]*$/;
// Known methods may be written in any case; any other extension method must be written in upper case.
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH", "QUERY"]);
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/u;
// A few multi-label public suffixes that a `*.` entry must not sit directly on (not the full Public Suffix List).
const PUBLIC_SUFFIXES = new Set([
  "co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "ltd.uk", "plc.uk", "net.uk",
  "com.au", "net.au", "org.au", "edu.au", "gov.au",
  "co.jp", "ne.jp", "or.jp", "ac.jp", "co.nz", "org.nz", "co.za", "co.in", "co.kr",
  "com.br", "com.cn", "com.mx", "com.tr", "com.tw", "com.hk", "com.sg", "com.ar",
]);

function invalid(entry: string, why: string): AegisError {
  return new AegisError("CONFIG_INVALID", `egress allowlist entry "${entry}" ${why}`, { details: { entry } });
}

function isValidDomain(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  return name.split(".").every((label) => LABEL_RE.test(label));
}

/**
 * Canonical form of a host as a request names it (CONNECT authority or URL
 * host, brackets allowed around IPv6). Undefined if it is not a valid host.
 */
export function canonicalHost(input: string): CanonicalHost | undefined {
  if (input.length === 0 || input.length > 260 || CONTROL_RE.test(input)) return undefined;
  const bracketed = input.startsWith("[") && input.endsWith("]");
  const bare = bracketed ? input.slice(1, -1) : input;
  const direct = parseIp(bare);
  if (direct !== undefined) {
    if (bare.includes("%")) return undefined; // zones have no meaning across the proxy
    if (bracketed && direct.family === 4) return undefined;
    return { kind: "ip", ip: direct, text: formatIp(direct) };
  }
  if (bracketed || bare.includes(":")) return undefined;
  let ascii = domainToASCII(bare);
  if (ascii.endsWith(".")) ascii = ascii.slice(0, -1);
  // domainToASCII reads numeric hosts (`2130706433`, `0x7f.1`, `127.1`) as IPv4, as inet_aton does.
  const numeric = parseIp(ascii);
  if (numeric !== undefined) return { kind: "ip", ip: numeric, text: formatIp(numeric) };
  if (!isValidDomain(ascii)) return undefined;
  return { kind: "name", name: ascii };
}

function parseMethods(entry: string, text: string): string[] {
  const methods: string[] = [];
  for (const m of text.split(",")) {
    if (!METHOD_RE.test(m)) {
      throw invalid(entry, `has an invalid method list "${text}"; write methods as e.g. GET,HEAD before the host, separated by commas without spaces`);
    }
    const upper = m.toUpperCase();
    if (!KNOWN_METHODS.has(upper) && m !== upper) {
      throw invalid(entry, `has "${m}" where a method list goes; write methods such as GET,HEAD before the host (extension methods in upper case), or remove the space`);
    }
    if (!methods.includes(upper)) methods.push(upper);
  }
  return methods;
}

function parsePathPrefix(entry: string, path: string): string {
  if (path.includes("?") || path.includes("#")) throw invalid(entry, "has a query or fragment; a path prefix is matched against the path only, so write just the path");
  if (path.includes("\\")) throw invalid(entry, "has a backslash in its path; write the path with forward slashes");
  if (/%(?:2f|5c|2e|00)/i.test(path)) throw invalid(entry, "has an encoded slash, backslash, dot or NUL in its path; write the path plainly");
  const segments = path.split("/");
  if (segments.some((s) => s === "." || s === "..")) throw invalid(entry, "has a . or .. segment in its path; write the path it means without them");
  if (/\s/.test(path)) throw invalid(entry, "has whitespace in its path; percent-encode it (%20)");
  // The same normal form the proxy gives a request path (non-ASCII percent-encoded, and so on).
  return new URL(path, "http://path.invalid").pathname;
}

function parsePort(entry: string, text: string): number {
  if (!/^[1-9][0-9]{0,4}$/.test(text) || Number(text) > 65535) throw invalid(entry, `has an invalid port "${text}"; ports are 1 to 65535`);
  return Number(text);
}

function parseOne(source: string): AllowRule {
  const entry = source.trim();
  if (entry.length === 0) throw invalid(source, "is empty; write a host such as api.example.com, or remove the entry");
  if (CONTROL_RE.test(entry)) throw invalid(entry, "contains a control or invisible character");
  const words = entry.split(/\s+/);
  if (words.length > 2) throw invalid(entry, "has more than two parts; write [METHODS ]HOST[:PORT][/PATH], e.g. GET,HEAD api.example.com/v1/");
  const target = words.length === 2 ? (words[1] ?? "") : entry;
  const methods = words.length === 2 ? parseMethods(entry, words[0] ?? "") : undefined;

  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(target);
  if (scheme !== null) {
    const rest = target.slice(scheme[0].length).replace(/\/$/, "");
    throw invalid(entry, `has a scheme (${scheme[1] ?? ""}://); write the host alone, e.g. "${rest}" (ports 443 and 80 are allowed by default; add :PORT for another)`);
  }
  if (target.includes("@")) throw invalid(entry, "has user info (user@host); credentials never go in an allowlist, write the host alone");

  // Split HOST, [/PREFIX for IP blocks], [:PORT], [/PATH].
  let hostText: string;
  let rest: string;
  if (target.startsWith("[")) {
    const close = target.indexOf("]");
    if (close === -1) throw invalid(entry, "has an unclosed [ ; write IPv6 addresses as [2001:db8::1]");
    hostText = target.slice(0, close + 1);
    rest = target.slice(close + 1);
  } else {
    if ((target.split("/")[0] ?? "").split(":").length > 2) {
      throw invalid(entry, "looks like an IPv6 address without brackets; write it as [2001:db8::1] or [2001:db8::]/32 (a port goes after the bracket)");
    }
    const end = target.search(/[:/]/);
    hostText = end === -1 ? target : target.slice(0, end);
    rest = end === -1 ? "" : target.slice(end);
  }
  let prefixText: string | undefined;
  const looksLikeIp = hostText.startsWith("[") || /^[0-9.]+$/.test(hostText);
  const prefixMatch = /^\/([0-9]+)(?=$|[:/])/.exec(rest);
  if (looksLikeIp && prefixMatch !== null) {
    prefixText = prefixMatch[1];
    rest = rest.slice(prefixMatch[0].length);
  }
  let ports = DEFAULT_PORTS;
  const portMatch = /^:([^/]*)/.exec(rest);
  if (portMatch !== null) {
    ports = [parsePort(entry, portMatch[1] ?? "")];
    rest = rest.slice(portMatch[0].length);
  }
  let pathPrefix: string | undefined;
  if (rest.length > 0) {
    if (!rest.startsWith("/")) throw invalid(entry, `has unexpected text "${rest}" after the host; write [METHODS ]HOST[:PORT][/PATH]`);
    pathPrefix = parsePathPrefix(entry, rest);
  }
  if (methods?.includes("CONNECT") === true && pathPrefix !== undefined) {
    throw invalid(entry, "lists CONNECT with a path; a tunnel hides its paths, so write the CONNECT entry without a path");
  }

  const tail = `${ports === DEFAULT_PORTS ? "" : `:${ports.join(",")}`}${pathPrefix ?? ""}`;
  const head = methods === undefined ? "" : `${methods.join(",")} `;
  const common = { ports, methods, pathPrefix };

  if (hostText === "*") throw invalid(entry, "would allow every host; list the hosts this skill needs, e.g. api.example.com or *.example.com");
  if (hostText.length === 0) throw invalid(entry, "has no host; write e.g. api.example.com");

  if (looksLikeIp) {
    const inner = hostText.startsWith("[") ? hostText.slice(1, -1) : hostText;
    const cidr = parseCidr(prefixText === undefined ? inner : `${inner}/${prefixText}`, `egress allowlist entry "${entry}":`);
    if (hostText.startsWith("[") && cidr.family !== 6) throw invalid(entry, "has an IPv4 address in brackets; write IPv4 addresses without them");
    const single = cidr.prefix === (cidr.family === 4 ? 32 : 128);
    const shown = single ? formatIp({ family: cidr.family, bytes: cidr.bytes }) : formatCidr(cidr);
    const display = cidr.family === 6 ? (single ? `[${shown}]` : `[${shown.slice(0, shown.indexOf("/"))}]${shown.slice(shown.indexOf("/"))}`) : shown;
    return { kind: "address", cidr, entry: `${head}${display}${tail}`, ...common };
  }

  if (hostText.startsWith(".")) throw invalid(entry, `starts with a dot; write *${hostText} for its subdomains, or ${hostText.slice(1)} for the host itself`);
  let wildcard = false;
  let nameText = hostText;
  if (nameText.startsWith("*.")) {
    wildcard = true;
    nameText = nameText.slice(2);
  }
  if (nameText.includes("*")) throw invalid(entry, "has a * that is not a whole leftmost label; write *.example.com for every subdomain of example.com");
  if (nameText.endsWith(".")) nameText = nameText.slice(0, -1);
  if (nameText.split(".").some((l) => l.length === 0)) throw invalid(entry, "has an empty label (two dots in a row, or a trailing dot after another)");
  const ascii = domainToASCII(nameText);
  if (ascii.length === 0) throw invalid(entry, "is not a valid host name");
  if (parseIp(ascii) !== undefined) {
    throw invalid(entry, `is a non-canonical spelling of the IP address ${ascii}; write ${ascii} (four decimal numbers, no leading zeros)`);
  }
  if (!isValidDomain(ascii)) throw invalid(entry, "is not a valid host name (labels are letters, digits, - and _, at most 63 characters)");
  if (wildcard) {
    if (!ascii.includes(".")) {
      throw invalid(entry, `would allow every host under the top-level domain .${ascii}; name the domain, e.g. *.example.${ascii}`);
    }
    if (PUBLIC_SUFFIXES.has(ascii)) throw invalid(entry, `would allow every registrant under the public suffix .${ascii}; name the domain, e.g. *.example.${ascii}`);
    return { kind: "subdomains", suffix: ascii, entry: `${head}*.${ascii}${tail}`, ...common };
  }
  return { kind: "host", host: ascii, entry: `${head}${ascii}${tail}`, ...common };
}

/**
 * Parses a skill's allowlist. Throws AegisError("CONFIG_INVALID") on the first
 * entry it cannot accept, saying why and what to write instead. An empty list
 * is valid and allows nothing.
 */
export function parseAllowlist(entries: readonly string[]): AllowRule[] {
  return entries.map((e) => parseOne(e));
}

function hostMatches(rule: AllowRule, host: CanonicalHost): boolean {
  switch (rule.kind) {
    case "host":
      return host.kind === "name" && host.name === rule.host;
    case "subdomains":
      return host.kind === "name" && host.name.endsWith(`.${rule.suffix}`);
    case "address":
      return host.kind === "ip" && cidrContains(rule.cidr, host.ip);
  }
}

function pathMatches(prefix: string, path: string): boolean {
  if (prefix.endsWith("/")) return path.startsWith(prefix);
  return path === prefix || path.startsWith(`${prefix}/`);
}

/**
 * Why a path must not be judged by prefix: after the server decodes it, it
 * could name another path (`/v1/..%2fadmin`, `/v1/%2e%2e/admin`,
 * `/v1/..;/admin` on servlet containers).
 */
function unsafePath(path: string): string | undefined {
  for (const segment of path.split("/")) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return "a malformed percent-encoding";
    }
    if (/[/\\\0]/.test(decoded)) return "an encoded slash, backslash or NUL";
    const bare = decoded.split(";")[0] ?? "";
    if (bare === "." || bare === "..") return "a dot segment";
  }
  return undefined;
}

/** A short list of the allowlist for messages. */
export function describeAllowlist(rules: readonly AllowRule[]): string {
  if (rules.length === 0) return "none: this skill's allowlist is empty, so it has no network access";
  const shown = rules.slice(0, 8).map((r) => r.entry);
  return rules.length > 8 ? `${shown.join(", ")} and ${String(rules.length - 8)} more` : shown.join(", ");
}

/**
 * Judges one request against the allowlist. Hosts are canonicalised here, so
 * callers may pass them as received. The first rule that admits the request
 * wins; a refusal names the closest reason (wrong port, method, path, or a
 * tunnel to an entry that restricts methods or paths).
 */
export function matchAllow(rules: readonly AllowRule[], query: AllowQuery): AllowMatch {
  const host = canonicalHost(query.host);
  if (host === undefined) return { allowed: false, reason: `${JSON.stringify(query.host)} is not a valid host name` };
  const hostShown = host.kind === "name" ? host.name : host.text;
  const tunnel = query.method === undefined || query.method === "CONNECT";
  const sameHost = rules.filter((r) => hostMatches(r, host));
  if (sameHost.length === 0) {
    if (host.kind === "ip") {
      return {
        allowed: false,
        reason: `${hostShown} is an IP address, and IP addresses are reachable only when this skill's allowlist names them (as ${hostShown} or a CIDR block) (allowed: ${describeAllowlist(rules)})`,
      };
    }
    return { allowed: false, reason: `${hostShown} is not in this skill's allowlist (allowed: ${describeAllowlist(rules)})` };
  }
  const samePort = sameHost.filter((r) => r.ports.includes(query.port));
  if (samePort.length === 0) {
    const ports = [...new Set(sameHost.flatMap((r) => r.ports))];
    return { allowed: false, reason: `${hostShown} is allowlisted on port${ports.length > 1 ? "s" : ""} ${ports.join(", ")} only, not ${String(query.port)}` };
  }
  if (tunnel) {
    const rule = samePort.find((r) => r.pathPrefix === undefined && (r.methods === undefined || r.methods.includes("CONNECT")));
    if (rule !== undefined) return { allowed: true, rule };
    const limited = samePort.map((r) => r.entry).join("; ");
    return {
      allowed: false,
      reason: `${hostShown}:${String(query.port)} is allowlisted only for some methods or paths (${limited}), which the proxy can check on plain-HTTP requests only; a CONNECT tunnel (HTTPS) hides them. To allow HTTPS, list ${hostShown} without methods or a path`,
    };
  }
  const method = query.method ?? "";
  const path = query.path ?? "/";
  let refusal: string | undefined;
  for (const rule of samePort) {
    if (rule.methods !== undefined && !rule.methods.includes(method)) {
      refusal ??= `${method} is not allowed to ${hostShown} (allowed methods: ${rule.methods.join(", ")})`;
      continue;
    }
    if (rule.pathPrefix !== undefined) {
      const unsafe = unsafePath(path);
      if (unsafe !== undefined) {
        refusal = `${path} on ${hostShown} has ${unsafe}, so it cannot be checked against the allowed path prefix ${rule.pathPrefix}`;
        continue;
      }
      if (!pathMatches(rule.pathPrefix, path)) {
        refusal = `${path} on ${hostShown} is outside the allowed path prefix ${rule.pathPrefix}`;
        continue;
      }
    }
    return { allowed: true, rule };
  }
  return { allowed: false, reason: refusal ?? `${hostShown} is not allowed` };
}
