/**
 * The skill catalog: every SKILL.md found in the four tiers, which copy of
 * each name wins, what each may be granted, whether it can be active, and
 * what was refused and why.
 *
 * Tiers, highest precedence first (as in OpenClaw):
 *   workspace         <workspace>/skills
 *   workspace-agents  <workspace>/.agents/skills
 *   managed           <profile>/skills
 *   bundled           the skills/ folder shipped with AegisClaw (optional)
 * A skill is a folder directly inside a tier's folder holding a SKILL.md
 * (hidden folders and node_modules are skipped; at most 200 per tier). A name
 * found in a higher tier shadows the same name in every lower one.
 *
 * Refusals (reported in `problems`, naming the file; the rest still load):
 *  - anything `parseSkillMd` refuses, or a declaration the grant cannot make exact;
 *  - a skill folder that is a symbolic link resolving outside its tier's folder;
 *  - a SKILL.md that is a symbolic link, not a regular file, over 1 MiB, not UTF-8;
 *  - one name claimed by two folders of one tier: both are refused, naming both.
 * A refused skill still claims its name (its frontmatter name when that was
 * readable, else its folder name), so it shadows lower tiers rather than
 * letting a copy the owner meant to override take its place.
 */
import { createHash } from "node:crypto";
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readSync, readdirSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve, sep } from "node:path";
import { AegisError, errorMessage } from "../errors.ts";
import { canonicalPath } from "../policy/scope.ts";
import type { SecretDeclaration, SkillSecretDeclarations } from "../secrets/broker.ts";
import { skillStatus, type SecretNames, type SkillStatus } from "./eligibility.ts";
import { skillGrant, type SkillGrant } from "./grant.ts";
import { loadSkillSettings } from "./settings.ts";
import { MAX_SKILL_MD_BYTES, SKILL_NAME_PATTERN, parseSkillMd, splitSkillMd, type SkillInstallSpec, type SkillManifest, type SkillRequirements } from "./skill-md.ts";

export type SkillTier = "workspace" | "workspace-agents" | "managed" | "bundled";
/** Highest precedence first. */
export const SKILL_TIERS: readonly SkillTier[] = ["workspace", "workspace-agents", "managed", "bundled"];
export const MAX_SKILLS_PER_TIER = 200;
const MAX_ENTRIES_PER_TIER = 10_000;

export interface SkillRoot {
  readonly tier: SkillTier;
  readonly dir: string;
  readonly exists: boolean;
}

export interface SkillProblem {
  readonly tier: SkillTier;
  /** The skill folder (or the tier's folder, for a problem with the folder itself). */
  readonly dir: string;
  readonly file: string;
  /** The name it claims, when one could be told. */
  readonly name?: string | undefined;
  readonly message: string;
}

export interface SkillPlace {
  readonly tier: SkillTier;
  readonly dir: string;
}

export interface ShadowedSkill extends SkillPlace {
  readonly name: string;
  /** The copy that won; `refused` when that copy was itself refused (the name then has no skill at all). */
  readonly by: SkillPlace & { readonly refused: boolean };
}

export interface LoadedSkill {
  readonly name: string;
  readonly tier: SkillTier;
  readonly dir: string;
  readonly file: string;
  /** sha256 of SKILL.md as loaded, hex. */
  readonly digest: string;
  readonly description: string;
  readonly homepage: string | undefined;
  readonly emoji: string | undefined;
  readonly userInvocable: boolean;
  readonly disableModelInvocation: boolean;
  readonly always: boolean;
  readonly os: readonly string[];
  readonly primaryEnv: string | undefined;
  readonly skillKey: string | undefined;
  readonly metadataKey: "openclaw" | "clawdbot" | undefined;
  readonly allowedTools: readonly string[] | undefined;
  readonly frontmatter: Readonly<Record<string, unknown>>;
  readonly requires: SkillRequirements;
  /** Install specs: listed for the owner, never run by AegisClaw. */
  readonly install: readonly SkillInstallSpec[];
  readonly grant: SkillGrant;
  readonly status: SkillStatus;
  /** Lower-tier copies of this name that it shadows. */
  readonly shadows: readonly SkillPlace[];
  readonly warnings: readonly string[];
  /** The markdown instructions, read again and checked against `digest` (CONFIG_INVALID if the file changed since). */
  body(): string;
}

export interface LoadSkillCatalogOptions {
  readonly workspace: string;
  readonly profileHome: string;
  /** The skills folder shipped with AegisClaw; may be absent. */
  readonly bundledDir?: string | undefined;
  /** Its PATH is searched for requires.bins (default: this process's environment). */
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** OpenClaw/Node platform name (default process.platform). */
  readonly platform?: string | undefined;
  /** For `${home}` and `~/` in declared paths (default: the user's home directory). */
  readonly home?: string | undefined;
  /** The secret store's names (see readSecretNamesWithoutPrompt); default: not checked, so "unknown". */
  readonly secrets?: SecretNames | undefined;
}

/** How skill names compare everywhere (policy folds them the same way). */
export function foldSkillName(name: string): string {
  return name.normalize("NFKC").toLowerCase();
}

function refuse(file: string, message: string): AegisError {
  return new AegisError("CONFIG_INVALID", `${file}: ${message}`, { details: { file } });
}

function inside(child: string, parent: string): boolean {
  return child.startsWith(parent.endsWith(sep) ? parent : `${parent}${sep}`);
}

/**
 * Reads a SKILL.md that must be a regular file of at most 1 MiB, never
 * through a symbolic link; when `expected` is given, the opened file must be
 * at that canonical path (a folder swapped for a link mid-read is caught).
 */
export function readSkillFile(file: string, expected?: string): { readonly text: string; readonly digest: string } {
  let st;
  try {
    st = lstatSync(file);
  } catch (err) {
    throw refuse(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`);
  }
  const linkMessage = "SKILL.md is a symbolic link; refused (it could point at any file, e.g. one the agent must not read). Replace it with a regular file.";
  if (st.isSymbolicLink()) throw refuse(file, linkMessage);
  if (!st.isFile()) throw refuse(file, "SKILL.md is not a regular file");
  if (st.size > MAX_SKILL_MD_BYTES) throw refuse(file, `SKILL.md is larger than 1 MiB (${st.size} bytes); refused (a skill's instructions are a few KiB)`);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw refuse(file, code === "ELOOP" ? linkMessage : `cannot be read (${code ?? errorMessage(err)})`);
  }
  try {
    const fst = fstatSync(fd);
    if (!fst.isFile()) throw refuse(file, "SKILL.md is not a regular file");
    if (expected !== undefined && existsSync("/proc/self/fd")) {
      let opened: string | undefined;
      try {
        opened = readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        opened = undefined;
      }
      if (opened !== undefined && opened !== expected) throw refuse(file, `SKILL.md resolved to ${opened} when opened, not ${expected}; refused (a folder on the way changed while it was read)`);
    }
    const buf = Buffer.alloc(Math.min(fst.size, MAX_SKILL_MD_BYTES) + 1);
    let total = 0;
    for (;;) {
      if (total === buf.length) break;
      const n = readSync(fd, buf, total, buf.length - total, null);
      if (n === 0) break;
      total += n;
    }
    if (total > MAX_SKILL_MD_BYTES) throw refuse(file, "SKILL.md is larger than 1 MiB; refused (a skill's instructions are a few KiB)");
    if (total === buf.length) {
      // It grew while being read: one more byte means it changed under us.
      const extra = Buffer.alloc(1);
      if (readSync(fd, extra, 0, 1, null) > 0) throw refuse(file, "SKILL.md changed while it was read; try again");
    }
    const bytes = buf.subarray(0, total);
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw refuse(file, "SKILL.md is not valid UTF-8");
    }
    return { text, digest: createHash("sha256").update(bytes).digest("hex") };
  } finally {
    closeSync(fd);
  }
}

interface Candidate {
  readonly tier: SkillTier;
  /** As listed under the tier's folder. */
  readonly dir: string;
  /** Canonical folder (a link inside the tier resolved). */
  readonly realDir: string;
  readonly file: string;
  readonly realFile: string;
  /** The claimed name (undefined: not even the folder name is a valid name). */
  readonly name: string | undefined;
  readonly manifest?: SkillManifest | undefined;
  readonly digest?: string | undefined;
  /** Set when refused. */
  error?: string | undefined;
}

function claimFromFolder(folder: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  const folded = /^[\u0000-\u007f]*$/.test(folder) ? folder.toLowerCase() : folder;
  return SKILL_NAME_PATTERN.test(folded) ? folded : undefined;
}

function scanTier(tier: SkillTier, dir: string, problems: SkillProblem[]): { root: SkillRoot; candidates: Candidate[]; real: string | undefined } {
  let real: string;
  try {
    if (!statSync(dir).isDirectory()) {
      problems.push({ tier, dir, file: dir, message: `${dir}: the ${tier} skills folder is not a directory; nothing was loaded from it` });
      return { root: { tier, dir, exists: true }, candidates: [], real: undefined };
    }
    real = realpathSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return { root: { tier, dir, exists: false }, candidates: [], real: undefined };
    problems.push({ tier, dir, file: dir, message: `${dir}: cannot read the ${tier} skills folder (${code ?? errorMessage(err)})` });
    return { root: { tier, dir, exists: true }, candidates: [], real: undefined };
  }
  const root: SkillRoot = { tier, dir, exists: true };
  let entries;
  try {
    entries = readdirSync(real, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (err) {
    problems.push({ tier, dir, file: dir, message: `${dir}: cannot list the ${tier} skills folder (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})` });
    return { root, candidates: [], real };
  }
  if (entries.length > MAX_ENTRIES_PER_TIER) {
    problems.push({ tier, dir, file: dir, message: `${dir}: holds ${entries.length} entries; only the first ${MAX_ENTRIES_PER_TIER} were looked at` });
    entries = entries.slice(0, MAX_ENTRIES_PER_TIER);
  }
  const candidates: Candidate[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
    const listed = join(dir, entry.name);
    const file = join(listed, "SKILL.md");
    let realDir = join(real, entry.name);
    if (entry.isSymbolicLink()) {
      const refused = (message: string): void => {
        candidates.push({ tier, dir: listed, realDir, file, realFile: file, name: claimFromFolder(entry.name), error: `${listed}: ${message}` });
      };
      let target: string;
      try {
        target = realpathSync(realDir);
      } catch {
        refused("the skill folder is a symbolic link that cannot be resolved; skipped");
        continue;
      }
      let isDir = false;
      try {
        isDir = statSync(target).isDirectory();
      } catch {
        isDir = false;
      }
      if (!isDir) continue;
      if (!inside(target, real)) {
        refused(`the skill folder is a symbolic link to ${target}, outside its skills folder ${dir}; refused (a skill must live inside the folder it is loaded from)`);
        continue;
      }
      realDir = target;
    } else if (!entry.isDirectory()) {
      continue;
    }
    const realFile = join(realDir, "SKILL.md");
    try {
      lstatSync(realFile);
    } catch {
      continue; // Not a skill folder.
    }
    if (candidates.length >= MAX_SKILLS_PER_TIER) {
      problems.push({ tier, dir, file: dir, message: `${dir}: more than ${MAX_SKILLS_PER_TIER} skills; ${entry.name} and the ones after it (in name order) were not loaded` });
      break;
    }
    try {
      const { text, digest } = readSkillFile(realFile, realFile);
      const manifest = parseSkillMd(text, file);
      candidates.push({ tier, dir: listed, realDir, file, realFile, name: manifest.name, manifest, digest });
    } catch (err) {
      const details = err instanceof AegisError ? err.details : undefined;
      const claimed = typeof details?.name === "string" ? details.name : claimFromFolder(entry.name);
      // Messages name the file as listed, not the canonical path the reader used.
      const message = errorMessage(err).split(realFile).join(file);
      candidates.push({ tier, dir: listed, realDir, file, realFile, name: claimed, error: message });
    }
  }
  return { root, candidates, real };
}

export class SkillCatalog implements SkillSecretDeclarations {
  readonly workspace: string;
  readonly profileHome: string;
  readonly roots: readonly SkillRoot[];
  /** The winning, loaded skills, by name. */
  readonly skills: readonly LoadedSkill[];
  readonly problems: readonly SkillProblem[];
  readonly shadowed: readonly ShadowedSkill[];
  /** Whether secret names could be checked (names themselves are not kept). */
  readonly secretStore: { readonly known: boolean; readonly reason?: string | undefined };
  readonly settings: { readonly file: string; readonly exists: boolean };
  readonly #byName: ReadonlyMap<string, LoadedSkill>;

  constructor(init: {
    workspace: string;
    profileHome: string;
    roots: readonly SkillRoot[];
    skills: readonly LoadedSkill[];
    problems: readonly SkillProblem[];
    shadowed: readonly ShadowedSkill[];
    secretStore: { readonly known: boolean; readonly reason?: string | undefined };
    settings: { readonly file: string; readonly exists: boolean };
  }) {
    this.workspace = init.workspace;
    this.profileHome = init.profileHome;
    this.roots = init.roots;
    this.skills = init.skills;
    this.problems = init.problems;
    this.shadowed = init.shadowed;
    this.secretStore = init.secretStore;
    this.settings = init.settings;
    this.#byName = new Map(init.skills.map((s) => [s.name, s]));
  }

  /** The winning skill of this name (compared case-folded), if it loaded. */
  get(name: string): LoadedSkill | undefined {
    return this.#byName.get(foldSkillName(name));
  }

  /** Problems of the copies that claim this name. */
  problemsFor(name: string): readonly SkillProblem[] {
    const folded = foldSkillName(name);
    return this.problems.filter((p) => p.name === folded);
  }

  /**
   * SkillSecretDeclarations for the broker: the secrets a loaded skill declares (requires.env, with its
   * delivery). Undefined — no secrets — for a name that did not load (unknown, refused, shadowed by a refused
   * copy) and for a skill disabled in skills.yaml.
   */
  declaredSecrets(skill: string): readonly SecretDeclaration[] | undefined {
    const found = this.get(skill);
    if (found === undefined || found.status.reasons.some((r) => r.kind === "disabled")) return undefined;
    return found.grant.secrets;
  }
}

/** Loads every tier. Throws only for an unreadable skills.yaml; everything wrong with a skill goes to `problems`. */
export function loadSkillCatalog(options: LoadSkillCatalogOptions): SkillCatalog {
  const canonical = (path: string, what: string): string => {
    try {
      return canonicalPath(resolve(path));
    } catch (err) {
      throw new AegisError("USAGE", `The ${what} ${JSON.stringify(path)} cannot be used: ${errorMessage(err)}.`, { cause: err });
    }
  };
  const workspace = canonical(options.workspace, "workspace");
  const profileHome = canonical(options.profileHome, "profile directory");
  const home = options.home ?? homedir();
  const env = options.env ?? process.env;
  const platform = options.platform ?? process.platform;
  const secrets: SecretNames = options.secrets ?? { known: false, reason: "the secret store was not checked" };
  const settings = loadSkillSettings(profileHome);

  const tierDirs: [SkillTier, string | undefined][] = [
    ["workspace", join(workspace, "skills")],
    ["workspace-agents", join(workspace, ".agents", "skills")],
    ["managed", join(profileHome, "skills")],
    ["bundled", options.bundledDir === undefined ? undefined : resolve(options.bundledDir)],
  ];
  const problems: SkillProblem[] = [];
  const roots: SkillRoot[] = [];
  const byTier: Candidate[][] = [];
  const seenRoots = new Set<string>();
  for (const [tier, dir] of tierDirs) {
    if (dir === undefined) continue;
    const scanned = scanTier(tier, dir, problems);
    roots.push(scanned.root);
    // One folder reached as two tiers (e.g. the workspace is the profile) is loaded once, at the higher tier.
    if (scanned.real !== undefined && seenRoots.has(scanned.real)) continue;
    if (scanned.real !== undefined) seenRoots.add(scanned.real);
    const claims = new Map<string, Candidate[]>();
    for (const c of scanned.candidates) {
      if (c.name === undefined) continue;
      claims.set(c.name, [...(claims.get(c.name) ?? []), c]);
    }
    for (const [name, group] of claims) {
      if (group.length < 2) continue;
      for (const c of group) {
        const others = group.filter((o) => o !== c).map((o) => o.dir);
        const also = `the name ${name} is also claimed in this ${tier} tier by ${others.join(", ")}; all of them are refused (rename or remove all but one)`;
        c.error = c.error === undefined ? `${c.file}: ${also}` : `${c.error}\n${c.file}: ${also}`;
      }
    }
    for (const c of scanned.candidates) if (c.error !== undefined) problems.push({ tier, dir: c.dir, file: c.file, name: c.name, message: c.error });
    byTier.push(scanned.candidates);
  }

  const claimsByName = new Map<string, { place: SkillPlace; candidate: Candidate }[]>();
  const tierRank = (t: SkillTier): number => SKILL_TIERS.indexOf(t);
  for (const candidates of byTier) {
    for (const c of candidates) {
      if (c.name === undefined) continue;
      claimsByName.set(c.name, [...(claimsByName.get(c.name) ?? []), { place: { tier: c.tier, dir: c.dir }, candidate: c }]);
    }
  }

  const skills: LoadedSkill[] = [];
  const shadowed: ShadowedSkill[] = [];
  for (const [name, claims] of [...claimsByName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const ordered = [...claims].sort((a, b) => tierRank(a.place.tier) - tierRank(b.place.tier));
    const winner = ordered[0];
    if (winner === undefined) continue;
    const winnerTier = winner.place.tier;
    // Every claim in the winning tier is the same name: more than one there is a refused duplicate.
    const lower = ordered.filter((c) => c.place.tier !== winnerTier);
    const sameTier = ordered.filter((c) => c.place.tier === winnerTier);
    const c = sameTier.length === 1 ? winner.candidate : undefined;
    let loaded: LoadedSkill | undefined;
    if (c?.manifest !== undefined && c.error === undefined && c.digest !== undefined) {
      try {
        const grant = skillGrant(c.manifest, { workspace, home, skillDir: c.realDir, profileHome }, c.file);
        const status = skillStatus(c.manifest, { path: env.PATH, platform, secrets, disabled: settings.disabled, config: settings.config, settingsFile: settings.file });
        loaded = makeSkill(c, c.manifest, c.digest, grant, status, lower.map((l) => l.place));
      } catch (err) {
        problems.push({ tier: c.tier, dir: c.dir, file: c.file, name, message: errorMessage(err) });
      }
    }
    if (loaded !== undefined) skills.push(loaded);
    for (const l of lower) shadowed.push({ name, tier: l.place.tier, dir: l.place.dir, by: { tier: winnerTier, dir: winner.place.dir, refused: loaded === undefined } });
  }

  return new SkillCatalog({
    workspace,
    profileHome,
    roots,
    skills,
    problems,
    shadowed,
    secretStore: secrets.known ? { known: true } : { known: false, reason: secrets.reason },
    settings: { file: settings.file, exists: settings.exists },
  });
}

function makeSkill(c: Candidate, m: SkillManifest, digest: string, grant: SkillGrant, status: SkillStatus, shadows: readonly SkillPlace[]): LoadedSkill {
  const { realFile, file } = c;
  return {
    name: m.name,
    tier: c.tier,
    dir: c.dir,
    file,
    digest,
    description: m.description,
    homepage: m.homepage,
    emoji: m.emoji,
    userInvocable: m.userInvocable,
    disableModelInvocation: m.disableModelInvocation,
    always: m.always,
    os: m.os,
    primaryEnv: m.primaryEnv,
    skillKey: m.skillKey,
    metadataKey: m.metadataKey,
    allowedTools: m.allowedTools,
    frontmatter: m.frontmatter,
    requires: m.requires,
    install: m.install,
    grant,
    status,
    shadows,
    warnings: [...m.warnings, ...grant.warnings],
    body(): string {
      const now = readSkillFile(realFile, realFile);
      if (now.digest !== digest) throw refuse(file, "SKILL.md changed since the skills were loaded; reload them (its grant may have changed too)");
      return splitSkillMd(now.text, file).body;
    },
  };
}
