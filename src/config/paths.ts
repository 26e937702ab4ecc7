/** Where a profile keeps its files. One place, so every command agrees. */
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export interface ProfilePaths {
  readonly home: string;
  readonly config: string;
  readonly policy: string;
  readonly auditDb: string;
  readonly keysDir: string;
  readonly checkpointKey: string;
  readonly checkpointPub: string;
  /** State kept by tools (outbox, caches). */
  readonly dataDir: string;
  /** The age identity (X25519 secret key, optionally passphrase-encrypted) that opens the secrets file. */
  readonly ageIdentity: string;
  /** The SOPS file holding every secret, encrypted with age. */
  readonly secretsFile: string;
  /** Agent sessions: messages, tool calls and their decisions (SQLite). */
  readonly sessionsDb: string;
  /** Scripted-provider turn files (`scripted/NAME` reads `NAME.yaml` here). */
  readonly scriptsDir: string;
}

export function defaultProfileHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.AEGISCLAW_HOME;
  return fromEnv !== undefined && fromEnv !== "" ? resolve(expandHome(fromEnv)) : join(homedir(), ".aegisclaw");
}

export function expandHome(p: string): string {
  return p === "~" ? homedir() : p.startsWith("~/") ? join(homedir(), p.slice(2)) : p;
}

export function profilePaths(home: string): ProfilePaths {
  const h = resolve(expandHome(home));
  return {
    home: h,
    config: join(h, "config.yaml"),
    policy: join(h, "policy.yaml"),
    auditDb: join(h, "audit.db"),
    keysDir: join(h, "keys"),
    checkpointKey: join(h, "keys", "audit-checkpoint.pem"),
    checkpointPub: join(h, "keys", "audit-checkpoint.pub"),
    dataDir: join(h, "data"),
    ageIdentity: join(h, "keys", "age-identity.txt"),
    secretsFile: join(h, "secrets.enc.yaml"),
    sessionsDb: join(h, "sessions.db"),
    scriptsDir: join(h, "scripts"),
  };
}
