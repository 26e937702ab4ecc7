/**
 * The bubblewrap backend: each run gets an empty root with read-only binds of
 * only what programs need (`/usr` and the `/bin`, `/lib*` links into it, CA
 * certificates, `/etc/alternatives`), a private `/tmp`, a fresh `/proc` and
 * minimal `/dev`, and exactly the mounts the action was judged with. It runs
 * in new user, pid, ipc, uts, cgroup and network namespaces, as uid 1000
 * with no capabilities, a cleared environment, a new session (no terminal to
 * inject into), under the seccomp filter from `./seccomp.ts`, with memory and
 * process limits from a control group (or rlimits, see `./cgroup.ts`), and
 * dies with its parent. Nothing of the host's home, `/run`, `/var/run`,
 * sockets or other processes is visible.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { AegisError, errorMessage } from "../errors.ts";
import type { BackendCapabilities, Mount, SandboxBackend, SandboxResult, SandboxSpec } from "./backend.ts";
import { RUN_PREFIX, cgroupSupport, createRunCgroup, type CgroupSupport } from "./cgroup.ts";
import { runBoundedProcess } from "./process.ts";
import { EGRESS_PORT_IN_SANDBOX, EGRESS_SOCKET_IN_SANDBOX, HOST_ETC, MERGED_USR_LINKS, SANDBOX_UID, SYNTHETIC_ETC } from "./layout.ts";
import { bridgeScriptPath } from "./egress/index.ts";
import { buildSeccompFilter, hostSeccompArch } from "./seccomp.ts";

export { EGRESS_PORT_IN_SANDBOX, EGRESS_SOCKET_IN_SANDBOX, SANDBOX_UID } from "./layout.ts";

const SEARCH_PATH = ["/usr/bin", "/bin", "/usr/local/bin"];
/** What the launcher prints when it cannot join the run's cgroup (then nothing ran). */
const LAUNCHER_FAILED = "aegisclaw-launcher: cannot join the control group";
/** The file descriptors bwrap reads its seccomp program and its arguments from. */
const SECCOMP_FD = 3;
const ARGS_FD = 4;

function findProgram(name: string): string | undefined {
  for (const dir of SEARCH_PATH) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * `/etc` files every program expects, with nothing of the host's: users, groups, hosts. Written once per process
 * into a fresh directory (a predictable name in /tmp could be planted in advance), removed when the process exits.
 */
let etcDir: string | undefined;
function sandboxEtc(): string {
  if (etcDir !== undefined && existsSync(etcDir)) return etcDir;
  const dir = mkdtempSync(join(tmpdir(), "aegisclaw-sandbox-etc-"));
  // Readable by whoever the sandbox's user maps to, whatever this process's umask (the CLI runs with 077).
  chmodSync(dir, 0o755);
  for (const [name, text] of Object.entries(SYNTHETIC_ETC)) {
    writeFileSync(join(dir, name), text, { mode: 0o644 });
    chmodSync(join(dir, name), 0o644);
  }
  etcDir = dir;
  process.once("exit", () => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Binds for the system: `/usr` read-only, the merged-usr links, and the few `/etc` entries programs need. */
function systemArgs(etc: string): string[] {
  const args = ["--ro-bind", "/usr", "/usr"];
  for (const link of MERGED_USR_LINKS) {
    const host = `/${link}`;
    if (!existsSync(host)) continue;
    let real: string;
    try {
      real = realpathSync(host);
    } catch {
      continue;
    }
    if (real.startsWith("/usr/")) args.push("--symlink", `usr/${real.slice("/usr/".length)}`, host);
    else args.push("--ro-bind", host, host);
  }
  for (const path of HOST_ETC) {
    if (existsSync(path)) args.push("--ro-bind", path, path);
  }
  for (const name of Object.keys(SYNTHETIC_ETC)) args.push("--ro-bind", join(etc, name), `/etc/${name}`);
  return args;
}

function mountArgs(mounts: readonly Mount[]): string[] {
  const args: string[] = [];
  for (const m of mounts) {
    if (!m.host.startsWith("/") || !m.target.startsWith("/")) throw new AegisError("EXECUTOR_REFUSED", `mount paths must be absolute: ${m.host} → ${m.target}`);
    args.push(m.mode === "rw" ? "--bind" : "--ro-bind", m.host, m.target);
  }
  return args;
}

export interface BubblewrapOptions {
  /** The bwrap binary; default /usr/bin/bwrap (or found in the usual places). */
  readonly bwrap?: string;
  /** Node binary for the egress bridge; default this process's. */
  readonly node?: string;
}

export class BubblewrapBackend implements SandboxBackend {
  readonly name = "bubblewrap" as const;
  readonly #bwrap: string | undefined;
  readonly #node: string;
  #cgroups: CgroupSupport | undefined;
  #filter: Buffer | undefined;

  constructor(options: BubblewrapOptions = {}) {
    this.#bwrap = options.bwrap ?? findProgram("bwrap");
    this.#node = options.node ?? realpathSync(process.execPath);
  }

  detect(): Promise<BackendCapabilities> {
    const notes: string[] = [];
    const none = { filesystem: false, network: false, seccomp: false, memory: false, pids: false, nonRootUser: false };
    if (this.#bwrap === undefined) return Promise.resolve({ available: false, notes: ["bubblewrap is not installed (Debian: apt-get install bubblewrap; ./setup does it)"], enforces: none });
    const version = spawnSync(this.#bwrap, ["--version"], { encoding: "utf8" }).stdout.trim();
    const probe = spawnSync(this.#bwrap, [...systemArgs(sandboxEtc()), "--unshare-all", "--die-with-parent", "--cap-drop", "ALL", "--uid", String(SANDBOX_UID), "--gid", String(SANDBOX_UID), "/usr/bin/true"], { encoding: "utf8", timeout: 10_000 });
    if (probe.status !== 0) {
      return Promise.resolve({
        available: false,
        version,
        notes: [`bubblewrap cannot create namespaces here: ${probe.stderr.trim() || `exit ${String(probe.status)}`}. Unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1, or an AppArmor profile for bwrap on Ubuntu 24.04+).`],
        enforces: none,
      });
    }
    let seccomp = true;
    try {
      hostSeccompArch();
    } catch (err) {
      seccomp = false;
      notes.push(errorMessage(err));
    }
    const cg = this.#cgroupSupport();
    if (cg.mode === "none" && cg.reason !== undefined) notes.push(cg.reason);
    const isRoot = process.getuid?.() === 0;
    return Promise.resolve({
      available: true,
      version,
      notes,
      enforces: { filesystem: true, network: true, seccomp, memory: true, pids: cg.mode !== "none" || !isRoot, nonRootUser: true },
    });
  }

  #cgroupSupport(): CgroupSupport {
    this.#cgroups ??= cgroupSupport();
    return this.#cgroups;
  }

  /** The bwrap arguments for a spec (exposed for tests and `--explain`): options, then `--` and the command. */
  bwrapArgs(spec: SandboxSpec): string[] {
    const { options, command } = this.#bwrapParts(spec);
    return [...options, "--", ...command];
  }

  /** bwrap's options (read from a pipe, so the environment never shows in the process list) and the command line. */
  #bwrapParts(spec: SandboxSpec): { options: string[]; command: string[] } {
    const args = [
      ...systemArgs(sandboxEtc()),
      "--proc",
      "/proc",
      "--dev",
      "/dev",
      "--tmpfs",
      "/tmp",
      "--dir",
      "/run/aegisclaw",
      ...mountArgs(spec.mounts),
    ];
    let argv = [...spec.argv];
    if (spec.network.mode === "proxy") {
      const bridge = bridgeScriptPath();
      args.push("--bind", spec.network.socket, EGRESS_SOCKET_IN_SANDBOX, "--ro-bind", this.#node, this.#node, "--ro-bind", dirname(bridge), dirname(bridge));
      argv = [this.#node, bridge, "--socket", EGRESS_SOCKET_IN_SANDBOX, "--port", String(EGRESS_PORT_IN_SANDBOX), "--", ...argv];
    }
    for (const path of spec.hide ?? []) {
      let dir: boolean;
      try {
        dir = lstatSync(path).isDirectory();
      } catch {
        continue; // Gone since it was found: nothing to hide.
      }
      if (dir) args.push("--tmpfs", path, "--remount-ro", path);
      else args.push("--ro-bind", "/dev/null", path);
    }
    // The root itself (and everything not mounted rw) is read-only; /tmp and rw mounts stay writable. After every bind.
    args.push("--remount-ro", "/");
    args.push(
      "--unshare-all",
      "--hostname",
      "sandbox",
      "--die-with-parent",
      "--new-session",
      "--cap-drop",
      "ALL",
      "--clearenv",
      "--uid",
      String(SANDBOX_UID),
      "--gid",
      String(SANDBOX_UID),
      "--chdir",
      spec.cwd,
      "--seccomp",
      String(SECCOMP_FD),
    );
    for (const [k, v] of Object.entries(spec.env)) args.push("--setenv", k, v);
    if (!("HOME" in spec.env)) args.push("--setenv", "HOME", "/tmp");
    if (!("PATH" in spec.env)) args.push("--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin");
    // bwrap reads its options NUL-separated: a NUL inside a value (an environment variable, a path) would start a new option.
    const bad = [...args, ...argv].find((a) => a.includes("\0"));
    if (bad !== undefined) throw new AegisError("EXECUTOR_REFUSED", "an argument, path or environment value contains a NUL character, which the sandbox cannot pass on safely; nothing ran");
    return { options: args, command: argv };
  }

  async run(spec: SandboxSpec): Promise<SandboxResult> {
    const bwrap = this.#bwrap;
    if (bwrap === undefined) throw new AegisError("EXECUTOR_REFUSED", "bubblewrap is not installed (Debian: apt-get install bubblewrap; ./setup installs it). Nothing ran.");
    if (spec.argv.length === 0) throw new AegisError("EXECUTOR_REFUSED", "nothing to run: argv is empty");
    const filter = (this.#filter ??= buildSeccompFilter());
    const cg = this.#cgroupSupport();
    const isRoot = process.getuid?.() === 0;
    if (spec.limits.pids !== undefined && cg.mode === "none" && isRoot) {
      throw new AegisError("EXECUTOR_REFUSED", `A process limit was asked for, but as root it needs a control group and ${cg.reason ?? "none is available"}. The kernel does not apply RLIMIT_NPROC to root. Nothing ran.`);
    }
    const memoryBytes = spec.limits.memoryMb === undefined ? undefined : spec.limits.memoryMb * 1024 * 1024;
    const group = createRunCgroup(`${RUN_PREFIX}${randomUUID()}`, { ...(memoryBytes !== undefined ? { memoryBytes } : {}), ...(spec.limits.pids !== undefined ? { pids: spec.limits.pids } : {}) }, cg);
    try {
      // Resource limits that hold per process whatever the cgroup situation; AS and NPROC only where no cgroup does the job.
      const prlimit = ["/usr/bin/prlimit", "--core=0"];
      if (spec.limits.cpuSeconds !== undefined) prlimit.push(`--cpu=${String(spec.limits.cpuSeconds)}`);
      if (spec.limits.fileSizeMb !== undefined) prlimit.push(`--fsize=${String(spec.limits.fileSizeMb * 1024 * 1024)}`);
      if (group === undefined) {
        if (memoryBytes !== undefined) prlimit.push(`--as=${String(memoryBytes)}`);
        if (spec.limits.pids !== undefined) prlimit.push(`--nproc=${String(spec.limits.pids)}`);
      }
      // The first process closes every file descriptor it inherited beyond 0-4 (AegisClaw's own parent may have left
      // some open without close-on-exec: an open file or directory there would reach into the sandbox), then joins the
      // run's cgroup before it starts bwrap, so nothing the run forks escapes the limits.
      const launcher = [
        "/bin/bash",
        "-c",
        'for f in /proc/$$/fd/*; do n=${f##*/}; if [ "$n" -gt 4 ] 2>/dev/null; then eval "exec $n>&-"; fi; done; ' +
          'for f in "$@"; do [ "$f" = -- ] && break; echo $$ 2>/dev/null > "$f" || { echo "' +
          LAUNCHER_FAILED +
          ' $f" >&2; exit 125; }; shift; done; shift; exec "$@"',
        "launcher",
        ...(group?.procsFiles ?? []),
        "--",
      ];
      // Every bwrap argument — the environment with its secrets above all — goes through fd 4, never the command
      // line, which any user on the host can read in the process list.
      const { options, command } = this.#bwrapParts(spec);
      const argv = [...launcher, ...prlimit, "--", bwrap, "--args", String(ARGS_FD), "--", ...command];
      const result = await runBoundedProcess(argv, spec, { fdInputs: [filter, Buffer.from(`${options.join("\0")}\0`)] });
      const events = group?.events();
      const violations = [...result.violations];
      if (events?.oomKilled) violations.push({ kind: "memory", message: `stopped: the memory limit of ${String(spec.limits.memoryMb)} MiB was exceeded` });
      if (events?.pidsLimitHit) violations.push({ kind: "pids", message: `the process limit of ${String(spec.limits.pids)} was reached; further forks were refused` });
      if (result.exitCode === 125 && result.stderr.toString("utf8").startsWith(LAUNCHER_FAILED)) {
        throw new AegisError("EXECUTOR_REFUSED", `could not place the sandbox in its control group (${result.stderr.toString("utf8").slice(LAUNCHER_FAILED.length).trim()}); nothing ran`);
      }
      return { ...result, violations, backend: "bubblewrap" };
    } finally {
      group?.destroy();
    }
  }
}
