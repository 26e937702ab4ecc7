/**
 * The profile directory: config, policy, audit database, keys. Created 0700
 * with 0600 files; every command refuses to run on a profile that others can
 * read or write, and prints the chmod that fixes it.
 */
import { closeSync, existsSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { AegisError, EXIT } from "../errors.ts";
import { createCheckpointSigner, generateCheckpointKey } from "../audit/checkpoint.ts";
import { DEFAULT_POLICY_YAML } from "../policy/defaults.ts";
import { canonicalPath } from "../policy/scope.ts";
import { CONFIG_VERSION, ConfigSchema, defaultConfigYaml, type Config } from "./schema.ts";
import { expandHome, profilePaths, type ProfilePaths } from "./paths.ts";
import { formatProblems, parseYamlWith } from "./yaml.ts";

export interface InitReport {
  readonly home: string;
  readonly created: string[];
  readonly existing: string[];
}

/**
 * Writes a file only if it does not exist, mode 0600, complete or not at all: the content goes to a temp file
 * (fsynced) that is then hard-linked into place — link fails if the name exists, so two concurrent inits
 * cannot overwrite each other — and the temp name is always removed.
 */
function writeNew(path: string, content: string, report: InitReport): void {
  if (existsSync(path)) {
    report.existing.push(path);
    return;
  }
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    const fd = openSync(tmp, "wx", 0o600);
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path);
      report.created.push(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      report.existing.push(path);
    }
  } finally {
    rmSync(tmp, { force: true });
  }
}

function ensureDir(path: string, report: InitReport): void {
  if (existsSync(path)) {
    report.existing.push(path);
    return;
  }
  mkdirSync(path, { recursive: true, mode: 0o700 });
  report.created.push(path);
}

export interface InitOptions {
  readonly home: string;
  /** Workspace for the agent; default ~/aegisclaw-workspace. */
  readonly workspace?: string;
}

/** Creates what is missing and never overwrites what exists. The audit database is created by opening the log. */
export function initProfile(options: InitOptions): InitReport {
  const paths = profilePaths(options.home);
  const report: InitReport = { home: paths.home, created: [], existing: [] };
  const parent = dirname(paths.home);
  if (!existsSync(parent)) mkdirSync(parent, { recursive: true, mode: 0o700 });
  ensureDir(paths.home, report);
  ensureDir(paths.keysDir, report);
  ensureDir(paths.dataDir, report);
  // A workspace given on the command line means what it means in the user's shell: relative to where they are.
  const workspace = options.workspace === undefined ? "~/aegisclaw-workspace" : resolve(expandHome(options.workspace));
  writeNew(paths.config, defaultConfigYaml(workspace), report);
  writeNew(paths.policy, DEFAULT_POLICY_YAML, report);
  if (!existsSync(paths.checkpointKey)) {
    if (existsSync(paths.checkpointPub)) {
      throw new AegisError("KEY_INVALID", `${paths.checkpointKey} is missing but its public key ${paths.checkpointPub} exists. Restore the private key from backup; if it is lost, move the profile's audit.db and keys/ aside (keep them: the old log still verifies with the public key) and run init again.`);
    }
    const key = generateCheckpointKey();
    writeNew(paths.checkpointKey, key.privateKeyPem, report);
    writeNew(paths.checkpointPub, key.publicKeyPem, report);
  } else {
    report.existing.push(paths.checkpointKey);
    // The public key can always be derived again from the private one.
    if (!existsSync(paths.checkpointPub)) writeNew(paths.checkpointPub, createCheckpointSigner(readFileSync(paths.checkpointKey, "utf8"), paths.checkpointKey).publicKeyPem, report);
  }
  return report;
}

export interface PermissionProblem {
  readonly path: string;
  readonly mode: string;
  readonly problem: string;
  readonly fix: string;
}

/** Every file and directory in the profile that someone other than its owner could read or change. */
export function findPermissionProblems(paths: ProfilePaths): PermissionProblem[] {
  const problems: PermissionProblem[] = [];
  const uid = process.getuid?.();
  const visit = (path: string, depth: number): void => {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return;
    }
    const mode = (st.mode & 0o777).toString(8).padStart(3, "0");
    if (st.isSymbolicLink()) {
      problems.push({ path, mode, problem: "is a symbolic link (profile files must be real files, so nobody can redirect them)", fix: `replace ${path} with the file it points to` });
      return;
    }
    if (uid !== undefined && st.uid !== uid) {
      problems.push({ path, mode, problem: `is owned by uid ${st.uid}, not you (uid ${uid})`, fix: `chown ${uid} ${JSON.stringify(path)}` });
    }
    if ((st.mode & 0o077) !== 0) {
      const want = st.isDirectory() ? "700" : "600";
      problems.push({ path, mode, problem: `is ${st.mode & 0o022 ? "writable" : "readable"} by group or others`, fix: `chmod ${want} ${JSON.stringify(path)}` });
    }
    if (st.isDirectory() && depth < 4) for (const name of readdirSync(path)) visit(join(path, name), depth + 1);
  };
  visit(paths.home, 0);
  return problems;
}

export function assertProfileSecure(paths: ProfilePaths): void {
  const problems = findPermissionProblems(paths);
  if (problems.length === 0) return;
  throw new AegisError(
    "PROFILE_INSECURE",
    `Refusing to use the profile ${paths.home}: other users could read or change it.\n${problems.map((p) => `  ${p.path} (mode ${p.mode}) ${p.problem}`).join("\n")}\nFix with:\n${[...new Set(problems.map((p) => `  ${p.fix}`))].join("\n")}\n(or at once: chmod -R go-rwx ${JSON.stringify(paths.home)})`,
    { exitCode: EXIT.insecure, details: { problems } },
  );
}

export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new AegisError("PROFILE_MISSING", `Cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)}). Run \`aegisclaw init\` to create a profile.`, { cause: err });
  }
  const parsed = parseYamlWith(text, ConfigSchema);
  const rawVersion = (parsed.raw as { version?: unknown } | undefined)?.version;
  if (typeof rawVersion === "number" && rawVersion > CONFIG_VERSION) {
    throw new AegisError("CONFIG_TOO_NEW", `${path} is format version ${rawVersion}, written by a newer AegisClaw (this one reads up to ${CONFIG_VERSION}). Upgrade AegisClaw; nothing was changed.`);
  }
  if (!parsed.ok) {
    throw new AegisError("CONFIG_INVALID", `${path} is invalid:\n${formatProblems(path, parsed.problems)}\nFix these lines; AegisClaw does not start with a configuration it cannot read.`, { details: { file: path, problems: parsed.problems } });
  }
  return parsed.data;
}

export interface Profile {
  readonly paths: ProfilePaths;
  readonly config: Config;
  /** Canonical absolute workspace path. */
  readonly workspace: string;
  /** Variables available in policy.yaml. */
  readonly policyVars: Readonly<Record<string, string>>;
}

/** Opens an existing profile: checks permissions, then reads and validates the config. */
export function openProfile(home: string): Profile {
  const paths = profilePaths(home);
  if (!existsSync(paths.config)) {
    throw new AegisError("PROFILE_MISSING", `No AegisClaw profile at ${paths.home}. Create one with \`aegisclaw init${home === paths.home ? "" : ` --home ${home}`}\` (or set AEGISCLAW_HOME).`);
  }
  assertProfileSecure(paths);
  const config = loadConfig(paths.config);
  const workspace = canonicalPath(expandHome(config.workspace), { cwd: paths.home });
  const homeDir = canonicalPath(expandHome("~"));
  return { paths, config, workspace, policyVars: { workspace, home: homeDir, profile: canonicalPath(paths.home) } };
}
