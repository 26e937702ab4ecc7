/**
 * Scopes: `family.verb[.more][:resource]`, e.g. `email.send`,
 * `files.read:/home/u/docs/a.txt`, `net.fetch:api.github.com`, `shell.exec:gh`.
 *
 * The name is ASCII, lower-case, dot-separated. The resource is canonicalised
 * by family so that two spellings of one thing give one scope: paths are
 * resolved (`..`, symlinks that exist, NFC), hosts are lower-cased and turned
 * into their ASCII (punycode) form, binaries are bare names. Anything that
 * cannot be canonicalised is refused: an unparseable scope is a deny.
 */
import { realpathSync } from "node:fs";
import { isAbsolute, join, normalize, resolve, sep } from "node:path";
import { domainToASCII } from "node:url";

export type ResourceKind = "path" | "host" | "binary" | "opaque";

export interface Scope {
  /** Canonical text form, `name` or `name:resource`. */
  readonly text: string;
  readonly name: string;
  readonly resource: string | undefined;
  readonly kind: ResourceKind;
}

export class ScopeError extends Error {
  override readonly name = "ScopeError";
}

const NAME_RE = /^[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)*$/;
// C0, DEL, C1, line/paragraph separators, bidi controls, zero-width and BOM: never legitimate in a resource.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARS_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/u;
const BINARY_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

/** Which resource grammar a scope name uses. */
export function resourceKindOf(name: string): ResourceKind {
  const family = name.split(".")[0];
  if (family === "files") return "path";
  if (family === "net") return "host";
  if (name === "shell.exec") return "binary";
  return "opaque";
}

export function assertCleanText(text: string, what: string): void {
  if (FORBIDDEN_CHARS_RE.test(text)) throw new ScopeError(`${what} contains a control or invisible character`);
}

export interface PathOptions {
  /** Base for relative paths. */
  readonly cwd?: string;
  /** Follow symlinks of the longest existing prefix (default true). */
  readonly resolveSymlinks?: boolean;
}

/**
 * Canonical absolute path: NFC, `.`/`..` resolved lexically, then the longest
 * prefix that exists on disk resolved through symlinks, so a link inside the
 * workspace that points at ~/.ssh is judged as ~/.ssh.
 */
export function canonicalPath(input: string, options: PathOptions = {}): string {
  assertCleanText(input, "path");
  if (input.length === 0) throw new ScopeError("path is empty");
  let p = input.normalize("NFC");
  if (p === "~" || p.startsWith("~/")) throw new ScopeError("path starts with ~; give an absolute path (the shell, not AegisClaw, expands ~)");
  p = isAbsolute(p) ? normalize(p) : resolve(options.cwd ?? process.cwd(), p);
  if (p.length > 1 && p.endsWith(sep)) p = p.slice(0, -1);
  if (options.resolveSymlinks === false) return p;
  return resolveExistingPrefix(p);
}

function resolveExistingPrefix(p: string): string {
  const parts = p.split(sep).filter((s) => s.length > 0);
  for (let i = parts.length; i >= 0; i -= 1) {
    const prefix = sep + parts.slice(0, i).join(sep);
    try {
      const real = realpathSync.native(prefix);
      const rest = parts.slice(i);
      return rest.length > 0 ? join(real, ...rest) : real;
    } catch {
      // This prefix does not exist (or is unreadable); try a shorter one.
    }
  }
  return p;
}

/**
 * Every reading of a path a downstream program might make. A path containing
 * percent-escapes (`%2e%2e`) is ambiguous: a file may literally have that
 * name, or something may decode it. Tools require a scope for each reading,
 * so an action is allowed only if every reading is.
 */
export function pathReadings(input: string, options: PathOptions = {}): string[] {
  const readings = new Set<string>([canonicalPath(input, options)]);
  let current = input;
  for (let round = 0; round < 3 && /%[0-9a-fA-F]{2}/.test(current); round += 1) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(current);
    } catch {
      throw new ScopeError("path contains a malformed percent-escape");
    }
    if (decoded === current) break;
    readings.add(canonicalPath(decoded, options));
    current = decoded;
  }
  return [...readings];
}

/** Canonical host: lower-case ASCII (punycode for IDN), no trailing dot, no port, no userinfo. */
export function canonicalHost(input: string): string {
  assertCleanText(input, "host");
  let h = input.normalize("NFKC").trim();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h.endsWith(".")) h = h.slice(0, -1);
  if (/[/@\\\s?#]/.test(h) || h.length === 0) throw new ScopeError(`"${input}" is not a bare host name`);
  if (h.includes(":")) {
    // Only an IPv6 literal may contain colons; ports are not part of a host scope.
    if (!/^[0-9a-fA-F:.]+$/.test(h)) throw new ScopeError(`"${input}" is not a bare host name (drop the port)`);
    return h.toLowerCase();
  }
  const ascii = domainToASCII(h.toLowerCase());
  if (ascii === "") throw new ScopeError(`"${input}" is not a valid host name`);
  return ascii;
}

export function canonicalBinary(input: string, options: PathOptions = {}): string {
  assertCleanText(input, "binary");
  if (input.includes("/")) return canonicalPath(input, options);
  if (!BINARY_RE.test(input)) throw new ScopeError(`"${input}" is not a plain program name`);
  return input;
}

export function canonicalResource(kind: ResourceKind, resource: string, options: PathOptions = {}): string {
  switch (kind) {
    case "path":
      return canonicalPath(resource, options);
    case "host":
      return canonicalHost(resource);
    case "binary":
      return canonicalBinary(resource, options);
    case "opaque":
      assertCleanText(resource, "resource");
      if (resource.length === 0) throw new ScopeError("resource is empty");
      return resource.normalize("NFC");
  }
}

export function parseScopeName(text: string): string {
  const name = text.normalize("NFKC").trim().toLowerCase();
  if (!NAME_RE.test(name)) throw new ScopeError(`"${text}" is not a scope name (lower-case ASCII words separated by dots, e.g. email.send)`);
  return name;
}

/** Parses and canonicalises a scope string. Throws ScopeError when it cannot. */
export function parseScope(text: string, options: PathOptions = {}): Scope {
  assertCleanText(text, "scope");
  const colon = text.indexOf(":");
  const name = parseScopeName(colon === -1 ? text : text.slice(0, colon));
  const kind = resourceKindOf(name);
  if (colon === -1) return { text: name, name, resource: undefined, kind };
  const resource = canonicalResource(kind, text.slice(colon + 1), options);
  return { text: `${name}:${resource}`, name, resource, kind };
}

export function makeScope(name: string, resource?: string, options: PathOptions = {}): Scope {
  return parseScope(resource === undefined ? name : `${name}:${resource}`, options);
}
