/**
 * Scope patterns in policy rules: `email.send`, `payments.**`, `files.read:${workspace}/**`,
 * `net.fetch:*.github.com`.
 *
 * Name globs work on dot-separated words: `*` is one word, `**` any number
 * (including none). A pattern without `:resource` matches the scope whatever
 * its resource. Resource globs depend on the family: for paths `*` stays
 * within one directory and a trailing `/**` also matches the directory itself;
 * for hosts `*` is one label; elsewhere `*` is anything.
 *
 * Permissive and restrictive rules match differently on purpose. An allow
 * rule matches the canonical resource exactly (case and Unicode as given).
 * A deny or ask rule matches after NFKC and case folding, so `~/.SSH` or a
 * full-width solidus cannot slip past a deny written for `~/.ssh` on a
 * case-insensitive or normalising file system. Ambiguity always resolves
 * towards the stricter outcome.
 */
import { parseScopeName, resourceKindOf, type ResourceKind, type Scope } from "./scope.ts";

export interface ScopePattern {
  readonly source: string;
  /** The scope name when the pattern names exactly one (no glob): lets the engine index rules by name. */
  readonly literalName: string | undefined;
  /** `folded` is `fold(scope.resource)`, computed once per scope by the caller when matching many patterns. */
  matches(scope: Scope, mode: "exact" | "folded", folded?: string): boolean;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

export function fold(text: string): string {
  return text.normalize("NFKC").toLowerCase();
}

function compileNameGlob(glob: string): RegExp {
  if (glob === "**") return /^.*$/;
  const words = glob.split(".");
  let re = "^";
  words.forEach((w, i) => {
    const dot = i === 0 ? "" : "\\.";
    if (w === "**") re += i === 0 ? "(?:[^.]+(?:\\.[^.]+)*)?" : "(?:\\.[^.]+)*";
    else if (w === "*") re += `${dot}[^.]+`;
    else re += `${dot}${escapeRegex(parseScopeName(w))}`;
  });
  return new RegExp(`${re}$`);
}

function compileResourceGlob(glob: string, kind: ResourceKind, flags: string): RegExp {
  const one = kind === "path" ? "[^/]*" : kind === "host" ? "[^.]+" : ".*";
  let re = "";
  let i = 0;
  while (i < glob.length) {
    if (kind === "path" && glob.startsWith("/**", i) && i + 3 === glob.length) {
      re += "(?:/.*)?";
      i += 3;
    } else if (glob.startsWith("**", i)) {
      re += ".*";
      i += 2;
    } else if (glob[i] === "*") {
      re += one;
      i += 1;
    } else {
      re += escapeRegex(glob[i] ?? "");
      i += 1;
    }
  }
  return new RegExp(`^${re}$`, flags);
}

/** Compiles one scope pattern; variables must already be expanded. Throws on a malformed name. */
export function compileScopePattern(source: string): ScopePattern {
  const colon = source.indexOf(":");
  const nameGlob = colon === -1 ? source.trim() : source.slice(0, colon).trim();
  const resourceGlob = colon === -1 ? undefined : source.slice(colon + 1);
  const nameRe = compileNameGlob(nameGlob.toLowerCase());
  const literalName = nameGlob.includes("*") ? undefined : parseScopeName(nameGlob);
  if (resourceGlob === undefined) {
    return { source, literalName, matches: (scope) => nameRe.test(scope.name) };
  }
  // The resource grammar follows the pattern's family (`files.*` → paths); a wildcard family (`*:x`) is opaque.
  const kind = nameGlob.startsWith("*") ? "opaque" : resourceKindOf(nameGlob.toLowerCase());
  const exact = compileResourceGlob(resourceGlob.normalize("NFC"), kind, "");
  const folded = compileResourceGlob(fold(resourceGlob), kind, "");
  return {
    source,
    literalName,
    matches(scope, mode, foldedResource) {
      if (!nameRe.test(scope.name) || scope.resource === undefined) return false;
      return mode === "exact" ? exact.test(scope.resource) : folded.test(foldedResource ?? fold(scope.resource));
    },
  };
}

/** Simple globs for tool, skill and label names: `*` matches anything. */
export function compileNameMatcher(glob: string): (value: string) => boolean {
  const re = new RegExp(`^${glob.split("*").map(escapeRegex).join(".*")}$`);
  return (value) => re.test(value);
}
