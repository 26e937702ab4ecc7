/**
 * The secret broker: hands a tool the secrets its skill is entitled to, for
 * one action, and nothing else.
 *
 * A secret NAME goes to an action when all of these hold:
 *  1. the action runs on behalf of a skill, and that skill declares NAME
 *     (OpenClaw `requires.env`; declarations come from the skill catalog);
 *  2. policy.yaml grants NAME to that skill (`secrets: { NAME: [skill] }`);
 *  3. the secret store holds NAME.
 * A declared secret that is not granted, or missing, fails the action before
 * the tool starts, with a message saying which and how to fix it: a tool run
 * without a credential it needs fails in confusing ways, and silently running
 * it with fewer secrets than declared would hide a policy decision.
 *
 * Delivery is by environment variable (`NAME`), or as a file in a fresh
 * per-action directory on a memory-backed file system (tmpfs), named by
 * `NAME_FILE`. Files are overwritten and removed when the action ends,
 * whatever its outcome; directories left by a process that crashed are
 * removed by the next broker. Values never go into arguments, audit details
 * or logs: the audit records names only.
 *
 * The broker also knows every value in the store, for the redactor: a secret
 * a tool was never given must not leak either (a tool could read it from a
 * file it should not have reached).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, rmSync, statSync, writeSync, type Stats } from "node:fs";
import { join } from "node:path";
import { AegisError, errorMessage } from "../errors.ts";
import type { Action } from "../envelope/action.ts";
import { isMemoryFileSystem, memoryBackedDir } from "./memfs.ts";
import { NO_SECRETS, type IssuedSecrets, type SecretBroker } from "../envelope/stages.ts";
import type { AnyTool } from "../envelope/tool.ts";
import type { SecretStore } from "./store.ts";

export { isMemoryFileSystem } from "./memfs.ts";

export type SecretDelivery = "env" | "file";

export interface SecretDeclaration {
  readonly name: string;
  readonly delivery: SecretDelivery;
}

/** Which secrets a skill declares; undefined for a skill nobody knows (then it gets none). */
export interface SkillSecretDeclarations {
  declaredSecrets(skill: string): readonly SecretDeclaration[] | undefined;
}

/** What the broker asks policy: may this secret go to this skill? */
export interface SecretGrants {
  secretGrantedTo(name: string, skill: string): boolean;
}

/** The store, as the broker needs it: reopened when the file changes under a long-running process. */
export interface SecretSource {
  /** The secrets file, to notice changes by another process. */
  readonly file: string;
  open(): Promise<Pick<SecretStore, "names" | "get" | "close">>;
}

export interface StoreSecretBrokerOptions {
  readonly source: SecretSource;
  readonly grants: SecretGrants;
  readonly declarations: SkillSecretDeclarations;
  /** Where per-action secret files go; must be tmpfs. Default: /dev/shm, else $XDG_RUNTIME_DIR. */
  readonly fileRoot?: string;
}

function fingerprint(st: Stats): string {
  return `${String(st.ino)}:${String(st.size)}:${String(st.mtimeMs)}:${String(st.ctimeMs)}`;
}

export class StoreSecretBroker implements SecretBroker {
  readonly #o: StoreSecretBrokerOptions;
  #values = new Map<string, string>();
  #known: readonly string[] = [];
  #loadedFrom: string | undefined;
  #loading: Promise<void> | undefined;

  private constructor(options: StoreSecretBrokerOptions) {
    this.#o = options;
  }

  /** Opens the store once (so a wrong identity or a tampered file fails at start, not mid-run) and sweeps stale secret files. */
  static async create(options: StoreSecretBrokerOptions): Promise<StoreSecretBroker> {
    const broker = new StoreSecretBroker(options);
    await broker.#refresh();
    const root = options.fileRoot ?? memoryBackedDir();
    if (root !== undefined) sweepStale(userDir(root));
    return broker;
  }

  knownValues(): readonly string[] {
    return this.#known;
  }

  async issue(action: Action, tool: AnyTool): Promise<IssuedSecrets> {
    if (action.skill === undefined) return NO_SECRETS;
    const declared = this.#o.declarations.declaredSecrets(action.skill) ?? [];
    if (declared.length === 0) return NO_SECRETS;
    await this.#refresh();
    const refused = declared.filter((d) => !this.#o.grants.secretGrantedTo(d.name, action.skill ?? ""));
    if (refused.length > 0) {
      const names = refused.map((d) => d.name).join(", ");
      throw new AegisError(
        "SECRET_DENIED",
        `Skill ${action.skill} declares ${names}, but policy.yaml does not grant ${refused.length === 1 ? "it" : "them"} to this skill, so ${tool.name} did not run. To allow it, add under \`secrets:\` in policy.yaml: ${refused.map((d) => `${d.name}: [${action.skill ?? ""}]`).join(", ")}.`,
        { details: { skill: action.skill, secrets: refused.map((d) => d.name) } },
      );
    }
    const missing = declared.filter((d) => !this.#values.has(d.name));
    if (missing.length > 0) {
      throw new AegisError(
        "SECRET_MISSING",
        `Skill ${action.skill} needs ${missing.map((d) => d.name).join(", ")}, which ${missing.length === 1 ? "is" : "are"} not in the secret store, so ${tool.name} did not run. Add ${missing.length === 1 ? "it" : "each"} with \`aegisclaw secrets set NAME\`.`,
        { details: { skill: action.skill, secrets: missing.map((d) => d.name) } },
      );
    }
    const env: Record<string, string> = {};
    const values: string[] = [];
    const files = declared.filter((d) => d.delivery === "file");
    const dir = files.length > 0 ? this.#actionDir(action.id) : undefined;
    try {
      for (const d of declared) {
        const value = this.#values.get(d.name) ?? "";
        values.push(value);
        if (d.delivery === "env") {
          env[d.name] = value;
        } else if (dir !== undefined) {
          const path = join(dir, d.name);
          writeSecretFile(path, value);
          env[`${d.name}_FILE`] = path;
        }
      }
    } catch (err) {
      if (dir !== undefined) removeSecretDir(dir);
      throw err;
    }
    let revoked = false;
    return {
      env,
      values,
      names: declared.map((d) => d.name),
      ...(dir !== undefined ? { dir } : {}),
      revoke: () => {
        if (!revoked && dir !== undefined) removeSecretDir(dir);
        revoked = true;
        return Promise.resolve();
      },
    };
  }

  /** A fresh 0700 directory for this action's files, on tmpfs, or a refusal: secret files never go to disk. */
  #actionDir(actionId: string): string {
    const root = this.#o.fileRoot ?? memoryBackedDir();
    if (root === undefined || !isMemoryFileSystem(root)) {
      throw new AegisError(
        "EXECUTOR_REFUSED",
        `A skill asked for a secret as a file, but ${root ?? "neither /dev/shm nor $XDG_RUNTIME_DIR"} is not a memory-backed file system (tmpfs), and secret files are never written to disk. Mount a tmpfs at /dev/shm, or deliver the secret as an environment variable.`,
      );
    }
    const base = userDir(root);
    mkdirSync(base, { recursive: true, mode: 0o700 });
    const st = statSync(base);
    if (st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0) {
      throw new AegisError("PROFILE_INSECURE", `${base} is not private to this user (owner uid ${String(st.uid)}, mode ${(st.mode & 0o777).toString(8)}); refusing to put secret files there. Remove it and try again.`);
    }
    const dir = join(base, `${String(process.pid)}-${actionId}`);
    mkdirSync(dir, { mode: 0o700 });
    return dir;
  }

  /** Reloads the values when the secrets file changed since the last load (another process ran `secrets set`). */
  async #refresh(): Promise<void> {
    if (this.#loading) return this.#loading;
    let current: string;
    try {
      current = fingerprint(statSync(this.#o.source.file));
    } catch (err) {
      throw new AegisError("KEY_INVALID", `Cannot read the secrets file ${this.#o.source.file}: ${errorMessage(err)}. Run \`aegisclaw secrets init\`.`, { cause: err });
    }
    if (current === this.#loadedFrom) return;
    this.#loading = (async () => {
      const store = await this.#o.source.open();
      try {
        const values = new Map<string, string>();
        for (const name of store.names()) values.set(name, store.get(name).reveal());
        this.#values = values;
        this.#known = [...values.values()];
        this.#loadedFrom = current;
      } finally {
        store.close();
      }
    })();
    try {
      await this.#loading;
    } finally {
      this.#loading = undefined;
    }
  }
}

function userDir(root: string): string {
  return join(root, `aegisclaw-${String(process.getuid?.() ?? "user")}`);
}

function writeSecretFile(path: string, value: string): void {
  const fd = openSync(path, "wx", 0o600);
  try {
    writeSync(fd, value);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Overwrites each file with zeros before removing it: on tmpfs that is the memory the value lived in. */
function removeSecretDir(dir: string): void {
  try {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      try {
        const size = statSync(path).size;
        const fd = openSync(path, "r+");
        try {
          writeSync(fd, Buffer.alloc(size), 0, size, 0);
        } finally {
          closeSync(fd);
        }
      } catch {
        // Removing it below is what matters.
      }
    }
  } catch {
    // The directory is gone already.
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Removes per-action directories whose process is gone (a crash between issue and revoke). */
function sweepStale(base: string): void {
  let entries: string[];
  try {
    entries = readdirSync(base);
  } catch {
    return;
  }
  for (const entry of entries) {
    const pid = Number(/^(\d+)-/.exec(entry)?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    removeSecretDir(join(base, entry));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
