/**
 * The host an escape suite attacks from inside a sandbox: a private scratch
 * area outside every mount with planted secrets (a home's .ssh key, a
 * profile's secrets file), a workspace with links planted towards them, and
 * a loopback HTTP server the sandbox must not reach. Plus the helpers each
 * suite uses to run shell and perl inside its backend.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Limits, Mount, SandboxBackend, SandboxResult, SandboxSpec } from "../../../src/sandbox/backend.ts";

export interface EscapeHost {
  readonly base: string;
  readonly hostSecretDir: string;
  readonly profileDir: string;
  readonly workspace: string;
  /** In every planted secret; must never appear in a sandbox's output. */
  readonly marker: string;
  /** The loopback server's port (valid after setUp). */
  port(): number;
  setUp(): Promise<void>;
  tearDown(): void;
}

export function escapeHost(prefix: string): EscapeHost {
  const base = mkdtempSync(`/tmp/${prefix}`);
  chmodSync(base, 0o755);
  const hostSecretDir = join(base, "host-home", ".ssh");
  const profileDir = join(base, "profile");
  const workspace = join(base, "workspace");
  const marker = `host-secret-${randomBytes(8).toString("hex")}`;
  let server: Server | undefined;
  let port = 0;
  return {
    base,
    hostSecretDir,
    profileDir,
    workspace,
    marker,
    port: () => port,
    async setUp() {
      mkdirSync(hostSecretDir, { recursive: true });
      writeFileSync(join(hostSecretDir, "id_ed25519"), marker);
      mkdirSync(profileDir, { recursive: true });
      writeFileSync(join(profileDir, "secrets.enc.yaml"), marker);
      mkdirSync(workspace, { recursive: true });
      chmodSync(workspace, 0o777);
      writeFileSync(join(workspace, "notes.txt"), "workspace file\n");
      // Planted by an earlier, compromised step: links from the workspace to host secrets.
      symlinkSync(join(hostSecretDir, "id_ed25519"), join(workspace, "key-link"));
      symlinkSync("/etc/shadow", join(workspace, "shadow-link"));
      symlinkSync(profileDir, join(workspace, "profile-link"));
      const s = createServer((_req, res) => res.end(marker));
      server = s;
      await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
      port = (s.address() as AddressInfo).port;
    },
    tearDown() {
      server?.close();
      rmSync(base, { recursive: true, force: true });
    },
  };
}

export interface SandboxRunner {
  readonly spec: (argv: string[], extra?: Partial<SandboxSpec>) => SandboxSpec;
  readonly sh: (script: string, extra?: Partial<SandboxSpec>) => Promise<SandboxResult & { out: string; err: string }>;
  /** Runs perl inside: `syscall` reaches any system call, `$!+0` is the errno. */
  readonly perl: (code: string, extra?: Partial<SandboxSpec>) => Promise<string>;
}

/** Runs in `backend` with the workspace mounted read-only as the working directory, PATH only, these limits. */
export function sandboxRunner(backend: SandboxBackend, workspace: string, limits: Limits): SandboxRunner {
  const spec = (argv: string[], extra: Partial<SandboxSpec> = {}): SandboxSpec => {
    const mounts: Mount[] = [{ host: workspace, target: workspace, mode: "ro" }];
    return { argv, cwd: workspace, env: { PATH: "/usr/bin:/bin" }, mounts, network: { mode: "none" }, limits, ...extra };
  };
  return {
    spec,
    sh: async (script, extra = {}) => {
      const r = await backend.run(spec(["/bin/sh", "-c", script], extra));
      return { ...r, out: r.stdout.toString("utf8"), err: r.stderr.toString("utf8") };
    },
    perl: async (code, extra = {}) => {
      const r = await backend.run(spec(["/usr/bin/perl", "-e", code], extra));
      return r.stdout.toString("utf8") + r.stderr.toString("utf8");
    },
  };
}
