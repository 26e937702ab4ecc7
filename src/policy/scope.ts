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
import { lstatSync, readlinkSync, realpathSync } from "node:fs";
import { isIPv6 } from "node:net";
import { dirname, isAbsolute, normalize, sep } from "node:path";
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
 * Canonical absolute path, judged the way the kernel will open it: relative
 * paths are joined to `cwd`, then the components are walked in order,
 * following every symlink that exists (also a dangling one: it is judged as
 * where it points) and applying `..` to the directory actually reached (so
 * `ws/link/..` is the link target's parent, not `ws`). Components that do not
 * exist are kept as written. The result is NFC. A link inside the workspace
 * that points at ~/.ssh is therefore judged as ~/.ssh.
 */
export function canonicalPath(input: string, options: PathOptions = {}): string {
  assertCleanText(input, "path");
  if (input.length === 0) throw new ScopeError("path is empty");
  if (input === "~" || input.startsWith("~/")) throw new ScopeError("path starts with ~; give an absolute path (the shell, not AegisClaw, expands ~)");
  // No lexical normalisation before resolving: `..` must apply after symlinks, as it does in the kernel.
  const base = options.cwd ?? process.cwd();
  const absBase = isAbsolute(base) ? base : `${process.cwd()}${sep}${base}`;
  const raw = isAbsolute(input) ? input : `${absBase}${sep}${input}`;
  if (options.resolveSymlinks === false) {
    const p = normalize(raw);
    return (p.length > 1 && p.endsWith(sep) ? p.slice(0, -1) : p).normalize("NFC");
  }
  const resolved = resolveLikeTheKernel(raw);
  const canonical = resolved.normalize("NFC");
  // A name on disk may be in another normal form (NFD). If the NFC spelling resolves
  // elsewhere, the scope would name one file while a tool opens another: refuse.
  if (canonical !== resolved && resolveLikeTheKernel(canonical) !== canonical) {
    throw new ScopeError(`path "${input}" is ambiguous: its Unicode-normalised spelling names a different file`);
  }
  // A symlink's target is not checked by the caller's input validation: check what it led to.
  assertCleanText(canonical, "resolved path");
  return canonical;
}

const MAX_SYMLINKS = 40;

function resolveLikeTheKernel(abs: string): string {
  try {
    // Fast path: the whole path exists.
    return realpathSync.native(abs);
  } catch {
    // Something is missing (or is a dangling link); walk it component by component.
  }
  const split = (p: string): string[] => p.split(sep).filter((s) => s.length > 0 && s !== ".");
  let pending = split(abs);
  let resolved: string = sep;
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() ?? "";
    if (part === "..") {
      resolved = dirname(resolved);
      continue;
    }
    const candidate = resolved === sep ? `${sep}${part}` : `${resolved}${sep}${part}`;
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch {
      // Does not exist (or cannot be inspected): keep the name as written.
    }
    if (!isLink) {
      resolved = candidate;
      continue;
    }
    links += 1;
    if (links > MAX_SYMLINKS) throw new ScopeError(`path "${abs}" has too many levels of symbolic links (a loop?)`);
    const target = readlinkSync(candidate);
    if (target.startsWith(sep)) resolved = sep;
    pending = [...split(target), ...pending];
  }
  return resolved;
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
  // Deeper encodings are not guessed at: a path that still decodes further is refused.
  if (/%[0-9a-fA-F]{2}/.test(current) && safeDecode(current) !== current) {
    throw new ScopeError("path has more layers of percent-encoding than AegisClaw decodes (3); decode it first");
  }
  return [...readings];
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ScopeError("path contains a malformed percent-escape");
  }
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
    // A bare host with a port can look like one when every letter is a hex digit (face.bad:443): ask the parser.
    if (!isIPv6(h)) throw new ScopeError(`"${input}" is not a bare host name (drop the port)`);
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
