/**
 * Scope mapping: what a skill may be granted, derived only from what its
 * SKILL.md declares. A skill never gets more than it declares:
 *
 *   requires.bins, requires.anyBins  → shell.exec:<bin>, exactly those programs
 *   requires.env                     → the secrets the broker may issue to it
 *                                      (delivery env, or file when metadata.aegisclaw.secrets says so)
 *   allowed-tools                    → the only tools its instructions may invoke
 *   metadata.aegisclaw.network.allow → net.connect:<host>
 *   metadata.aegisclaw.mounts        → files.read:<path> (rw: files.write:<path>), the scope
 *                                      the shell tool asks for the same mount
 *   metadata.aegisclaw.scopes        → those scopes, canonicalised
 *
 * Declared scopes are exact: no globs, no bare `shell.exec`/`files.*`/`net.*`
 * without a resource (in a policy rule that would cover every program, path
 * or host), no `secret:` scopes (secrets come from requires.env). Paths must
 * be absolute after `${workspace}`, `${home}`, `${skill}` (the skill's folder)
 * or a leading `~/` are expanded; they are canonicalised like every scope
 * (symlinks followed), so the grant names what the sandbox would really expose.
 */
import { isAbsolute, join } from "node:path";
import { AegisError } from "../errors.ts";
import { ScopeError, canonicalHost, canonicalPath, parseScope } from "../policy/scope.ts";
import type { SecretDeclaration } from "../secrets/broker.ts";
import type { SkillManifest, SkillRisk } from "./skill-md.ts";

export interface SkillMount {
  readonly path: string;
  readonly rw: boolean;
}

export interface SkillGrant {
  /** Canonical scopes, in order: programs, declared scopes, hosts, mounts. Secrets are separate. */
  readonly scopes: readonly string[];
  readonly secrets: readonly SecretDeclaration[];
  /** `allowed-tools`; undefined when the skill does not restrict its tools (its scopes still bound what runs). */
  readonly tools: readonly string[] | undefined;
  /** Canonical hosts from network.allow. */
  readonly network: readonly string[];
  readonly mounts: readonly SkillMount[];
  readonly risk: SkillRisk | undefined;
  /** Things a reviewer should look at twice (a mount of / or of the whole home directory). */
  readonly warnings: readonly string[];
}

export interface GrantContext {
  /** Canonical workspace path, for `${workspace}`. */
  readonly workspace: string;
  /** The user's home directory, for `${home}` and `~/`. */
  readonly home: string;
  /** The skill's folder, for `${skill}`. */
  readonly skillDir: string;
  /** The AegisClaw profile, to warn about mounts that cover it. */
  readonly profileHome?: string | undefined;
}

function refuse(file: string, message: string, name: string): AegisError {
  return new AegisError("CONFIG_INVALID", `${file}: ${message}`, { details: { file, name } });
}

function expandVariables(text: string, ctx: GrantContext, what: string, file: string, name: string): string {
  const vars: Record<string, string> = { workspace: ctx.workspace, home: ctx.home, skill: ctx.skillDir };
  let out = text.replace(/\$\{([^}]*)\}/g, (_m, v: string) => {
    const value = Object.hasOwn(vars, v) ? vars[v] : undefined;
    if (value === undefined) throw refuse(file, `${what} ${JSON.stringify(text)} uses an unknown variable \${${v}} (known: \${workspace}, \${home}, \${skill})`, name);
    return value;
  });
  if (out === "~" || out.startsWith("~/")) out = join(ctx.home, out.slice(1));
  if (out.includes("$")) throw refuse(file, `${what} ${JSON.stringify(text)} contains "$" after its variables were expanded; refused (policy would read it as a variable)`, name);
  return out;
}

function inside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith("/") ? parent : `${parent}/`);
}

/** The grant for a parsed skill. Throws CONFIG_INVALID naming the file for a declaration that cannot be granted exactly. */
export function skillGrant(manifest: SkillManifest, ctx: GrantContext, file: string): SkillGrant {
  const name = manifest.name;
  const scopes: string[] = [];
  const add = (scope: string): void => {
    // A symlink may resolve to a name policy would read as a glob or a variable: the rule would then cover more.
    if (scope.includes("*") || scope.includes("${")) throw refuse(file, `the scope ${JSON.stringify(scope)} contains "*" or "\${" once canonicalised; refused (in policy it would be a glob or a variable)`, name);
    if (!scopes.includes(scope)) scopes.push(scope);
  };
  for (const bin of [...manifest.requires.bins, ...manifest.requires.anyBins]) {
    try {
      add(parseScope(`shell.exec:${bin}`).text);
    } catch (err) {
      throw refuse(file, `requires bin ${JSON.stringify(bin)}: ${err instanceof Error ? err.message : String(err)}`, name);
    }
  }
  const ext = manifest.aegisclaw;
  const warnings: string[] = [];

  for (const declared of ext?.scopes ?? []) {
    if (/[*?]/.test(declared)) throw refuse(file, `metadata.aegisclaw.scopes: ${JSON.stringify(declared)} has a wildcard; a skill declares exact scopes`, name);
    const expanded = expandVariables(declared, ctx, "metadata.aegisclaw.scopes entry", file, name);
    const colon = expanded.indexOf(":");
    let scope;
    try {
      scope = parseScope(expanded);
    } catch (err) {
      throw refuse(file, `metadata.aegisclaw.scopes: ${JSON.stringify(declared)} is not a scope (${err instanceof ScopeError ? err.message : String(err)})`, name);
    }
    if (scope.name === "secret" || scope.name.startsWith("secret.") || scope.name.startsWith("secrets.")) {
      throw refuse(file, `metadata.aegisclaw.scopes: ${JSON.stringify(declared)}: secrets are declared in metadata.openclaw.requires.env, not as scopes`, name);
    }
    if (scope.kind !== "opaque" && scope.resource === undefined) {
      const what = scope.kind === "path" ? "path" : scope.kind === "host" ? "host" : "program";
      throw refuse(file, `metadata.aegisclaw.scopes: ${JSON.stringify(declared)} names no ${what}, so it would cover every ${what}; name one (e.g. ${scope.name}:${scope.kind === "path" ? "${workspace}/notes" : scope.kind === "host" ? "api.example.com" : "gh"})`, name);
    }
    if (scope.kind === "path" && !isAbsolute(expanded.slice(colon + 1))) {
      throw refuse(file, `metadata.aegisclaw.scopes: ${JSON.stringify(declared)}: give an absolute path, or start it with \${workspace}, \${home} or \${skill}`, name);
    }
    add(scope.text);
  }

  const network: string[] = [];
  for (const host of ext?.network ?? []) {
    if (/[*?]/.test(host)) throw refuse(file, `metadata.aegisclaw.network.allow: ${JSON.stringify(host)} has a wildcard; list each host`, name);
    let canonical: string;
    try {
      canonical = canonicalHost(host);
    } catch (err) {
      throw refuse(file, `metadata.aegisclaw.network.allow: ${err instanceof Error ? err.message : String(err)}`, name);
    }
    if (!network.includes(canonical)) network.push(canonical);
  }

  const mounts: SkillMount[] = [];
  for (const m of ext?.mounts ?? []) {
    if (/[*?]/.test(m.path)) throw refuse(file, `metadata.aegisclaw.mounts: ${JSON.stringify(m.path)} has a wildcard; mount exact paths`, name);
    const expanded = expandVariables(m.path, ctx, "metadata.aegisclaw.mounts path", file, name);
    if (!isAbsolute(expanded)) throw refuse(file, `metadata.aegisclaw.mounts: ${JSON.stringify(m.path)}: give an absolute path, or start it with \${workspace}, \${home} or \${skill}`, name);
    let path: string;
    try {
      path = canonicalPath(expanded);
    } catch (err) {
      throw refuse(file, `metadata.aegisclaw.mounts: ${JSON.stringify(m.path)}: ${err instanceof Error ? err.message : String(err)}`, name);
    }
    const existing = mounts.findIndex((x) => x.path === path);
    if (existing >= 0) mounts[existing] = { path, rw: m.rw || (mounts[existing]?.rw ?? false) };
    else mounts.push({ path, rw: m.rw });
    if (path === "/") warnings.push(`mounts the whole file system (${m.rw ? "read-write" : "read-only"})`);
    else if (path === ctx.home) warnings.push(`mounts your whole home directory ${path} (${m.rw ? "read-write" : "read-only"})`);
    if (ctx.profileHome !== undefined && (inside(ctx.profileHome, path) || inside(path, ctx.profileHome))) {
      warnings.push(`mount ${path} covers the AegisClaw profile ${ctx.profileHome} (the default policy denies it)`);
    }
  }
  for (const host of network) add(`net.connect:${host}`);
  for (const m of mounts) add(`files.${m.rw ? "write" : "read"}:${m.path}`);

  const secrets: SecretDeclaration[] = manifest.requires.env.map((n) => ({ name: n, delivery: ext?.secrets[n] ?? "env" }));
  return { scopes, secrets, tools: manifest.allowedTools, network, mounts, risk: ext?.risk, warnings };
}
