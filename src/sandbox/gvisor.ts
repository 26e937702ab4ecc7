/**
 * The gVisor backend: every run is an OCI container under `runsc`, gVisor's
 * user-space kernel, so the tool's system calls are served by gVisor's
 * Sentry and never reach the host kernel directly.
 *
 * Each run gets a private directory (mode 0700) holding its OCI bundle and a
 * private `runsc --root` state directory, both removed afterwards. The bundle's
 * root is an empty directory of ours, read-only, holding only the merged-usr
 * links (`/bin` → `usr/bin`, …) and a synthetic `/etc` (passwd, group, hosts,
 * nsswitch.conf: nothing of the host's). Mounted into it: `/usr` read-only, the
 * CA certificates, `/etc/alternatives`, `/etc/ld.so.cache`, a fresh `/proc`, a
 * private tmpfs `/tmp`, and exactly the spec's mounts at their targets (ro or
 * rw). The host root is never mounted (`runsc do` would expose it, so it is
 * not used).
 *
 * The process runs as uid/gid 1000 with no capabilities, no-new-privileges,
 * exactly the spec's environment (plus HOME and PATH defaults), rlimits, and
 * — inside gVisor (`--oci-seccomp`) — the same denied-syscall table as the
 * bubblewrap backend (`./seccomp.ts`), translated to an OCI seccomp profile.
 * `--network=none` leaves gVisor's own network stack with loopback only. With
 * the egress proxy, a per-run relay socket (see `startEgressRelay`) is
 * bind-mounted at the bubblewrap backend's path, runsc may connect to host
 * UNIX sockets visible in the mounts (`--host-uds=open`), and the command runs
 * under the same bridge (`./egress/bridge.ts`) with the host's Node, read-only.
 *
 * Limits, and how this version (Debian runsc 0.0~20221219) enforces them:
 *  - memory: a control group around the whole sandbox (runsc, its gofer, the
 *    Sentry and the tool, gVisor's own ~20 MiB included) when this process may
 *    create one (root; see `./cgroup.ts`); otherwise RLIMIT_AS on each process
 *    inside gVisor, which the Sentry enforces.
 *  - processes: RLIMIT_NPROC inside gVisor. gVisor's kernel counts every task
 *    (threads too) of uid 1000 in this one sandbox, so the bound is exact and
 *    holds for root callers too. With a control group, the host-side pids of
 *    the sandbox are capped as well, with headroom for gVisor's own threads.
 *  - file size: RLIMIT_FSIZE inside gVisor.
 *  - CPU seconds: gVisor 20221219 accepts RLIMIT_CPU but does not enforce it,
 *    so the limit is set on the host processes instead (`prlimit --cpu` on
 *    runsc, inherited by the Sentry, the gofer and each address space's stub):
 *    a tool spinning past it gets the sandbox killed.
 *  - wall time: at the deadline `runsc kill` stops the container; if runsc has
 *    not exited a second later its process group is killed (the Sentry is
 *    started `--attached` and dies with it). Then the control group is emptied
 *    and any container state left is force-deleted (`runsc delete -force`).
 *
 * As root, runsc runs in its normal mode: the Sentry drops to uid 65534 in a
 * user namespace of its own, chrooted, under the host seccomp filter gVisor
 * ships. Without root it runs `--rootless`. Cgroups are always configured by
 * us (`--ignore-cgroups`): runsc would otherwise create them at the root of
 * each hierarchy, escaping the limits of whatever runs AegisClaw.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { dirname, join, posix } from "node:path";
import { AegisError, errorMessage } from "../errors.ts";
import { tmpdir } from "node:os";
import { runBoundedProcess } from "./process.ts";
import type { BackendCapabilities, SandboxBackend, SandboxResult, SandboxSpec } from "./backend.ts";
import { EGRESS_PORT_IN_SANDBOX, EGRESS_SOCKET_IN_SANDBOX, HOST_ETC, MERGED_USR_LINKS, SANDBOX_UID, SYNTHETIC_ETC, runScratchRoot } from "./layout.ts";
import { cgroupSupport, createRunCgroup, type CgroupSupport } from "./cgroup.ts";
import { bridgeScriptPath } from "./egress/index.ts";
import { DENIED_SYSCALLS } from "./seccomp.ts";

// ---------------------------------------------------------------------------
// The OCI runtime spec, as much of it as the backend writes.
// ---------------------------------------------------------------------------

export interface OciMount {
  readonly destination: string;
  readonly type: "bind" | "tmpfs" | "proc";
  readonly source: string;
  readonly options?: readonly string[];
}

export interface OciRlimit {
  readonly type: "RLIMIT_CORE" | "RLIMIT_CPU" | "RLIMIT_FSIZE" | "RLIMIT_NOFILE" | "RLIMIT_NPROC" | "RLIMIT_AS";
  readonly soft: number;
  readonly hard: number;
}

export interface OciSeccompArg {
  readonly index: number;
  readonly value: number;
  readonly valueTwo?: number;
  readonly op: "SCMP_CMP_MASKED_EQ";
}

export interface OciSeccompRule {
  readonly names: readonly string[];
  readonly action: "SCMP_ACT_ERRNO" | "SCMP_ACT_ALLOW";
  readonly errnoRet?: number;
  readonly args?: readonly OciSeccompArg[];
}

export interface OciSeccomp {
  readonly defaultAction: "SCMP_ACT_ALLOW";
  readonly architectures: readonly string[];
  readonly syscalls: readonly OciSeccompRule[];
}

export interface OciConfig {
  readonly ociVersion: string;
  readonly process: {
    readonly terminal: false;
    readonly user: { readonly uid: number; readonly gid: number; readonly additionalGids: readonly number[] };
    readonly args: readonly string[];
    readonly env: readonly string[];
    readonly cwd: string;
    readonly capabilities: Readonly<Record<"bounding" | "effective" | "inheritable" | "permitted" | "ambient", readonly string[]>>;
    readonly rlimits: readonly OciRlimit[];
    readonly noNewPrivileges: true;
  };
  readonly root: { readonly path: string; readonly readonly: true };
  readonly hostname: string;
  readonly mounts: readonly OciMount[];
  readonly linux: {
    readonly namespaces: readonly { readonly type: string }[];
    readonly seccomp: OciSeccomp;
  };
}

// ---------------------------------------------------------------------------
// The seccomp profile: bubblewrap's table, for gVisor's OCI seccomp support.
// ---------------------------------------------------------------------------

const EPERM = 1;
/** Compare only the low 32 bits: every checked argument is one the kernel truncates to 32 bits (see `./seccomp.ts`). */
const LOW_32_BITS = 0xffffffff;

function bitsOf(mask: number): number[] {
  const bits: number[] = [];
  for (let bit = 0; bit < 32; bit++) if ((mask >>> bit) & 1) bits.push((1 << bit) >>> 0);
  return bits;
}

/**
 * `DENIED_SYSCALLS` as an OCI seccomp profile that gVisor installs for the
 * tool (`runsc --oci-seccomp`). gVisor evaluates the entries in order and the
 * first match decides, so "denied unless the argument is one of V" becomes
 * ALLOW entries for each V followed by a deny entry without conditions.
 *
 * Rules whose errno is not EPERM are left out and named in `omitted`: runsc
 * 20221219 ignores `errnoRet` and would answer EPERM, and for clone3 that
 * would break glibc, which retries with clone only on ENOSYS. gVisor 20221219
 * does not implement clone3 at all (ENOSYS), so glibc falls back to clone,
 * whose CLONE_NEWUSER flag the profile does refuse.
 */
export function gvisorSeccompProfile(): { readonly profile: OciSeccomp; readonly omitted: readonly string[] } {
  const syscalls: OciSeccompRule[] = [];
  const omitted: string[] = [];
  const deny = (name: string, args?: OciSeccompArg[]): OciSeccompRule => ({ names: [name], action: "SCMP_ACT_ERRNO", errnoRet: EPERM, ...(args === undefined ? {} : { args }) });
  const low32 = (index: number, value: number): OciSeccompArg => ({ index, value: LOW_32_BITS, valueTwo: value >>> 0, op: "SCMP_CMP_MASKED_EQ" });
  for (const rule of DENIED_SYSCALLS) {
    if (rule.errno !== "EPERM") {
      omitted.push(rule.name);
      continue;
    }
    const when = rule.when;
    switch (when.kind) {
      case "always":
        syscalls.push(deny(rule.name));
        break;
      case "any-bit":
        // One entry per bit: MASKED_EQ matches when all of the mask's bits are set, "any" needs one entry each.
        for (const bit of bitsOf(when.mask)) syscalls.push(deny(rule.name, [{ index: when.arg, value: bit, valueTwo: bit, op: "SCMP_CMP_MASKED_EQ" }]));
        break;
      case "one-of":
        for (const value of when.values) syscalls.push(deny(rule.name, [low32(when.arg, value)]));
        break;
      case "none-of":
        for (const value of when.values) syscalls.push({ names: [rule.name], action: "SCMP_ACT_ALLOW", args: [low32(when.arg, value)] });
        syscalls.push(deny(rule.name));
        break;
    }
  }
  return { profile: { defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"], syscalls }, omitted };
}

// ---------------------------------------------------------------------------
// The bundle.
// ---------------------------------------------------------------------------

const DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";
const NOFILE = { soft: 1024, hard: 4096 } as const;

/** A sandbox path must be absolute and say what it means: no `.`/`..` segments, no doubled slashes, no NUL. */
function checkSandboxPath(path: string, what: string): void {
  if (!path.startsWith("/") || path.includes("\0") || posix.normalize(path) !== path || (path.length > 1 && path.endsWith("/"))) {
    throw new AegisError("EXECUTOR_REFUSED", `${what} must be an absolute, normalized path, got ${JSON.stringify(path)}; nothing ran`);
  }
}

/** What the bundle needs besides the spec: where things are on the host and how limits are enforced. */
export interface GVisorBundleContext {
  /** The bundle's root directory (empty but for the merged-usr links and `/etc`). */
  readonly rootfs: string;
  /** Memory is enforced by a control group around the sandbox; otherwise by RLIMIT_AS inside. */
  readonly memoryByCgroup: boolean;
  /** The Node binary that runs the egress bridge (proxy network only). */
  readonly node?: string;
  /** The bridge script (proxy network only). */
  readonly bridge?: string;
  /** The host socket to mount as the proxy's (proxy network only); default the spec's. See `startEgressRelay`. */
  readonly egressSocket?: string;
}

/** The system mounts: `/usr` and anything the merged-usr links do not cover, `/etc` entries, `/proc`, `/tmp`. */
function systemMounts(): OciMount[] {
  const ro = (path: string): OciMount => ({ destination: path, type: "bind", source: path, options: ["rbind", "ro", "nosuid", "nodev"] });
  const mounts: OciMount[] = [{ destination: "/proc", type: "proc", source: "proc" }, ro("/usr")];
  for (const link of MERGED_USR_LINKS) {
    const host = `/${link}`;
    if (!existsSync(host)) continue;
    let real: string;
    try {
      real = realpathSync(host);
    } catch {
      continue;
    }
    // Merged-usr links become links in the bundle's root (see writeRootfs); a real directory is bound.
    if (!real.startsWith("/usr/")) mounts.push(ro(host));
  }
  for (const path of HOST_ETC) {
    if (!existsSync(path)) continue;
    if (lstatSync(path).isSymbolicLink() && realpathSync(path).startsWith("/usr/")) continue; // a link into /usr is recreated in the root
    mounts.push(ro(path));
  }
  mounts.push({ destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] });
  return mounts;
}

/** The OCI `config.json` for a spec (pure but for reading which host paths exist; exported for tests). */
export function gvisorOciConfig(spec: SandboxSpec, context: GVisorBundleContext): OciConfig {
  if (spec.argv.length === 0) throw new AegisError("EXECUTOR_REFUSED", "nothing to run: argv is empty");
  checkSandboxPath(spec.cwd, "the working directory");
  const mounts = systemMounts();
  for (const m of spec.mounts) {
    if (!m.host.startsWith("/") || m.host.includes("\0")) throw new AegisError("EXECUTOR_REFUSED", `mount paths must be absolute: ${m.host} → ${m.target}`);
    checkSandboxPath(m.target, "a mount target");
    if (m.target === "/" || m.target === "/proc" || m.target.startsWith("/proc/")) throw new AegisError("EXECUTOR_REFUSED", `a mount may not replace ${m.target} in the sandbox; nothing ran`);
    mounts.push({ destination: m.target, type: "bind", source: m.host, options: ["rbind", m.mode, "nosuid", "nodev"] });
  }
  // What policy does not let the action see inside a mount: an empty read-only tmpfs over a directory, /dev/null over anything else.
  for (const path of spec.hide ?? []) {
    let dir: boolean;
    try {
      dir = lstatSync(path).isDirectory();
    } catch {
      continue;
    }
    mounts.push(dir ? { destination: path, type: "tmpfs", source: "tmpfs", options: ["ro", "nosuid", "nodev", "noexec", "size=4k"] } : { destination: path, type: "bind", source: "/dev/null", options: ["bind", "ro", "nosuid", "nodev"] });
  }
  let argv = [...spec.argv];
  if (spec.network.mode === "proxy") {
    const { node, bridge } = context;
    if (node === undefined || bridge === undefined) throw new AegisError("EXECUTOR_REFUSED", "the egress bridge is not available to the gvisor backend; nothing ran");
    mounts.push(
      { destination: EGRESS_SOCKET_IN_SANDBOX, type: "bind", source: context.egressSocket ?? spec.network.socket, options: ["bind", "rw", "nosuid", "nodev"] },
      { destination: node, type: "bind", source: node, options: ["bind", "ro", "nosuid", "nodev"] },
      { destination: dirname(bridge), type: "bind", source: dirname(bridge), options: ["rbind", "ro", "nosuid", "nodev"] },
    );
    argv = [node, bridge, "--socket", EGRESS_SOCKET_IN_SANDBOX, "--port", String(EGRESS_PORT_IN_SANDBOX), "--", ...argv];
  }
  const env: string[] = [];
  for (const [k, v] of Object.entries(spec.env)) {
    if (k === "" || k.includes("=") || k.includes("\0") || v.includes("\0")) throw new AegisError("EXECUTOR_REFUSED", `environment variable ${JSON.stringify(k)} cannot be passed (empty name, "=" in the name, or NUL); nothing ran`);
    env.push(`${k}=${v}`);
  }
  if (!("HOME" in spec.env)) env.push("HOME=/tmp");
  if (!("PATH" in spec.env)) env.push(`PATH=${DEFAULT_PATH}`);

  const limits = spec.limits;
  const rlimits: OciRlimit[] = [
    { type: "RLIMIT_CORE", soft: 0, hard: 0 },
    { type: "RLIMIT_NOFILE", ...NOFILE },
  ];
  if (limits.pids !== undefined) rlimits.push({ type: "RLIMIT_NPROC", soft: limits.pids, hard: limits.pids });
  if (limits.fileSizeMb !== undefined) rlimits.push({ type: "RLIMIT_FSIZE", soft: limits.fileSizeMb * 1024 * 1024, hard: limits.fileSizeMb * 1024 * 1024 });
  // Set for the record (gVisor 20221219 does not enforce it; the host-side prlimit does).
  if (limits.cpuSeconds !== undefined) rlimits.push({ type: "RLIMIT_CPU", soft: limits.cpuSeconds, hard: limits.cpuSeconds });
  if (limits.memoryMb !== undefined && !context.memoryByCgroup) rlimits.push({ type: "RLIMIT_AS", soft: limits.memoryMb * 1024 * 1024, hard: limits.memoryMb * 1024 * 1024 });

  const none: readonly string[] = [];
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: SANDBOX_UID, gid: SANDBOX_UID, additionalGids: [] },
      args: argv,
      env,
      cwd: spec.cwd,
      capabilities: { bounding: none, effective: none, inheritable: none, permitted: none, ambient: none },
      rlimits,
      noNewPrivileges: true,
    },
    root: { path: context.rootfs, readonly: true },
    hostname: "sandbox",
    mounts,
    linux: {
      namespaces: [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }],
      seccomp: gvisorSeccompProfile().profile,
    },
  };
}

/** Creates `path` as a directory inside `root`, never following a link out of it. */
function mkdirInside(root: string, path: string): void {
  let at = root;
  for (const part of path.split("/").filter((p) => p !== "")) {
    const next = join(at, part);
    let st;
    try {
      st = lstatSync(next);
    } catch {
      mkdirSync(next, { mode: 0o755 });
      at = next;
      continue;
    }
    if (st.isSymbolicLink()) {
      // Only the links writeRootfs made (relative, into usr/): follow them inside the root.
      const target = readlinkSync(next);
      if (target.startsWith("/") || target.split("/").includes("..")) return;
      at = join(at, target);
      mkdirSync(at, { recursive: true, mode: 0o755 });
      continue;
    }
    if (!st.isDirectory()) return;
    at = next;
  }
}

/**
 * The bundle's root: merged-usr links, the synthetic `/etc`, and mount points for everything mounted outside `/tmp`.
 * Written with umask 022 whatever the process's (the CLI runs with 077): the Sentry runs as nobody and must read it.
 */
function writeRootfs(rootfs: string, config: OciConfig): void {
  const umask = process.umask(0o022);
  try {
    writeRootfsFiles(rootfs, config);
  } finally {
    process.umask(umask);
  }
}

function writeRootfsFiles(rootfs: string, config: OciConfig): void {
  mkdirSync(rootfs, { mode: 0o755 });
  for (const link of MERGED_USR_LINKS) {
    const host = `/${link}`;
    if (!existsSync(host)) continue;
    try {
      const real = realpathSync(host);
      if (real.startsWith("/usr/")) symlinkSync(`usr/${real.slice("/usr/".length)}`, join(rootfs, link));
    } catch {
      // Not resolvable: nothing to link.
    }
  }
  mkdirSync(join(rootfs, "etc"), { mode: 0o755 });
  for (const [name, text] of Object.entries(SYNTHETIC_ETC)) writeFileSync(join(rootfs, "etc", name), text, { mode: 0o644 });
  for (const path of HOST_ETC) {
    try {
      if (lstatSync(path).isSymbolicLink() && realpathSync(path).startsWith("/usr/")) symlinkSync(readlinkSync(path), join(rootfs, path));
    } catch {
      // Missing on this host.
    }
  }
  // Mount points, so gVisor need not invent them in a read-only root. Under /tmp the tmpfs provides them.
  for (const m of config.mounts) {
    if (m.destination === "/tmp" || m.destination.startsWith("/tmp/")) continue;
    let isDir = true;
    if (m.type === "bind") {
      try {
        isDir = statSync(m.source).isDirectory();
      } catch {
        isDir = true;
      }
    }
    if (isDir) {
      mkdirInside(rootfs, m.destination);
    } else {
      mkdirInside(rootfs, dirname(m.destination));
      const file = join(rootfs, m.destination);
      if (!existsSync(file)) {
        try {
          writeFileSync(file, "", { mode: 0o644, flag: "wx" });
        } catch {
          // Behind a link or already there: gVisor makes the mount point itself.
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Running a process with bounded output and a deadline (shared with the Docker backend).
// ---------------------------------------------------------------------------


// ---------------------------------------------------------------------------
// The backend.
// ---------------------------------------------------------------------------

const SEARCH_PATH = ["/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin", "/usr/local/sbin"];

function findProgram(name: string): string | undefined {
  for (const dir of SEARCH_PATH) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Host threads and processes gVisor itself needs (runsc, gofer, Sentry, stubs) on top of the tool's: measured ~130 at start. */
const HOST_TASK_HEADROOM = 512;

export interface GVisorOptions {
  /** The runsc binary; default /usr/bin/runsc (or found in the usual places). */
  readonly runsc?: string;
  /** gVisor platform: "ptrace" (default; works everywhere), "kvm" (needs /dev/kvm that works for nested guests), "systrap" (newer runsc only). */
  readonly platform?: string;
  /** Where each run's private directory (bundle + runsc state) is made; default the OS temp directory. */
  readonly workDir?: string;
  /** Node binary for the egress bridge; default this process's. */
  readonly node?: string;
  /** How long `detect()` lets its probe container run; default 20 s. */
  readonly probeTimeoutMs?: number;
}

export class GVisorBackend implements SandboxBackend {
  readonly name = "gvisor" as const;
  readonly #runsc: string | undefined;
  readonly #platform: string;
  readonly #workDir: string;
  readonly #node: string;
  readonly #probeTimeoutMs: number;
  readonly #rootless: boolean;
  #cgroups: CgroupSupport | undefined;

  constructor(options: GVisorOptions = {}) {
    this.#runsc = options.runsc ?? findProgram("runsc");
    this.#platform = options.platform ?? "ptrace";
    this.#workDir = options.workDir ?? runScratchRoot();
    this.#node = options.node ?? realpathSync(process.execPath);
    this.#probeTimeoutMs = options.probeTimeoutMs ?? 20_000;
    // As root, runsc's normal mode is the stronger one: the Sentry drops to nobody in a user namespace, chrooted.
    // `--rootless` as root would leave the Sentry running as root.
    this.#rootless = process.getuid?.() !== 0;
  }

  #cgroupSupport(): CgroupSupport {
    this.#cgroups ??= cgroupSupport();
    return this.#cgroups;
  }

  async detect(): Promise<BackendCapabilities> {
    const none = { filesystem: false, network: false, seccomp: false, memory: false, pids: false, nonRootUser: false };
    const runsc = this.#runsc;
    if (runsc === undefined) return { available: false, notes: ["runsc (gVisor) is not installed (Debian: apt-get install runsc)"], enforces: none };
    if (!existsSync(runsc)) return { available: false, notes: [`runsc (gVisor) is not at ${runsc} (Debian: apt-get install runsc)`], enforces: none };
    const versionRun = spawnSync(runsc, ["--version"], { encoding: "utf8", timeout: 10_000 });
    const version = /runsc version (\S+)/.exec(versionRun.stdout)?.[1];
    const notes: string[] = [];
    const mode = this.#rootless ? "rootless (--rootless, not root)" : "root (Sentry as nobody in its own user namespace)";
    try {
      const probe = await this.run({ argv: ["/usr/bin/true"], cwd: "/", env: {}, mounts: [], network: { mode: "none" }, limits: { timeoutMs: this.#probeTimeoutMs, outputBytes: 64 * 1024, pids: 16 } });
      if (probe.exitCode !== 0 || probe.violations.some((v) => v.kind === "timeout")) {
        const why = probe.violations.some((v) => v.kind === "timeout") ? `it did not finish within ${this.#probeTimeoutMs} ms` : `exit ${probe.exitCode}: ${probe.stderr.toString("utf8").trim() || "no message"}`;
        return { available: false, ...(version === undefined ? {} : { version }), notes: [`runsc cannot run a container here with the ${this.#platform} platform in ${mode} mode: ${why}. Try another platform (GVisorOptions.platform: ptrace or kvm).`], enforces: none };
      }
    } catch (err) {
      return { available: false, ...(version === undefined ? {} : { version }), notes: [`runsc cannot run a container here with the ${this.#platform} platform in ${mode} mode: ${errorMessage(err)}`], enforces: none };
    }
    notes.push(`platform ${this.#platform}, ${mode}`);
    const cg = this.#cgroupSupport();
    if (cg.mode === "none") notes.push(`memory is limited per process inside gVisor (RLIMIT_AS), not for the whole sandbox: ${cg.reason ?? "no control group"}`);
    notes.push("network: none, or the egress proxy through a bind-mounted UNIX socket (--host-uds=open)");
    notes.push("gVisor 20221219 rejects statx with AT_NO_AUTOMOUNT (EINVAL), so coreutils' ls and stat fail inside; programs using stat/fstatat work");
    return {
      available: true,
      ...(version === undefined ? {} : { version }),
      notes,
      enforces: { filesystem: true, network: true, seccomp: true, memory: true, pids: true, nonRootUser: true },
    };
  }

  /** The runsc arguments before the subcommand. */
  #globalArgs(state: string, logFile: string, proxy: boolean): string[] {
    return [
      "--root",
      state,
      "--network=none",
      `--platform=${this.#platform}`,
      "--ignore-cgroups",
      "--oci-seccomp",
      ...(this.#rootless ? ["--rootless"] : []),
      ...(proxy ? ["--host-uds=open"] : []),
      `--log=${logFile}`,
      "--log-format=json",
    ];
  }

  async run(spec: SandboxSpec): Promise<SandboxResult> {
    const runsc = this.#runsc;
    if (runsc === undefined || !existsSync(runsc)) throw new AegisError("EXECUTOR_REFUSED", `runsc (gVisor) is not installed${runsc === undefined ? "" : ` at ${runsc}`} (Debian: apt-get install runsc). Nothing ran.`);
    if (spec.argv.length === 0) throw new AegisError("EXECUTOR_REFUSED", "nothing to run: argv is empty");
    if (spec.signal?.aborted === true) throw new AegisError("EXECUTOR_REFUSED", "the action was cancelled before it started; nothing ran");
    if (spec.network.mode === "proxy" && !existsSync(spec.network.socket)) throw new AegisError("EXECUTOR_REFUSED", `the egress proxy socket ${spec.network.socket} does not exist; nothing ran`);
    const cg = this.#cgroupSupport();
    const limits = spec.limits;
    const memoryBytes = limits.memoryMb === undefined ? undefined : limits.memoryMb * 1024 * 1024;

    // config.json holds the environment (secrets too): it lives on the scratch root, tmpfs when there is one. The
    // root file system cannot — /dev/shm is usually noexec, which gVisor honours — so it gets a directory of its own.
    const dir = mkdtempSync(join(this.#workDir, "aegisclaw-gvisor-"));
    const rootDir = mkdtempSync(join(tmpdir(), "aegisclaw-gvisor-root-"));
    const id = `aegisclaw-${randomUUID()}`;
    const state = join(dir, "state");
    const bundle = join(dir, "bundle");
    const logFile = join(dir, "runsc.log");
    let group: ReturnType<typeof createRunCgroup>;
    let relay: EgressRelay | undefined;
    try {
      mkdirSync(state, { mode: 0o700 });
      mkdirSync(bundle, { mode: 0o700 });
      const rootfs = join(rootDir, "rootfs");
      if (spec.network.mode === "proxy") relay = await startEgressRelay(spec.network.socket, join(dir, "egress.sock"));
      const config = gvisorOciConfig(spec, {
        rootfs,
        memoryByCgroup: cg.mode !== "none",
        ...(relay === undefined ? {} : { node: this.#node, bridge: bridgeScriptPath(), egressSocket: relay.path }),
      });
      writeRootfs(rootfs, config);
      writeFileSync(join(bundle, "config.json"), JSON.stringify(config), { mode: 0o600 });

      // The whole sandbox (runsc, gofer, Sentry, stubs) in one control group: memory for all of it, and everything killed at the end.
      group = createRunCgroup(id, { ...(memoryBytes !== undefined ? { memoryBytes } : {}), ...(limits.pids !== undefined ? { pids: limits.pids + HOST_TASK_HEADROOM } : {}) }, cg);
    } catch (err) {
      await relay?.close();
      rmSync(dir, { recursive: true, force: true });
      rmSync(rootDir, { recursive: true, force: true });
      if (err instanceof AegisError) throw err;
      throw new AegisError("EXECUTOR_REFUSED", `cannot prepare the gVisor sandbox: ${errorMessage(err)}; nothing ran`, { cause: err });
    }

    const global = this.#globalArgs(state, logFile, spec.network.mode === "proxy");
    try {
      const joinCgroup = group === undefined ? [] : ["/bin/sh", "-c", 'for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"', "sh", ...group.procsFiles, "--"];
      const prlimit = existsSync("/usr/bin/prlimit") ? ["/usr/bin/prlimit", "--core=0", ...(limits.cpuSeconds === undefined ? [] : [`--cpu=${limits.cpuSeconds}`]), "--"] : [];
      if (prlimit.length === 0 && limits.cpuSeconds !== undefined) throw new AegisError("EXECUTOR_REFUSED", "a CPU-seconds limit was asked for, but gVisor 20221219 does not enforce RLIMIT_CPU and prlimit (util-linux) is missing to set it on the host; nothing ran");
      // runsc dies with AegisClaw; the Sentry (--attached) dies with runsc.
      const setpriv = existsSync("/usr/bin/setpriv") ? ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--"] : [];
      const argv = [...joinCgroup, ...prlimit, ...setpriv, runsc, ...global, "run", "--bundle", bundle, id];
      const result = await runBoundedProcess(argv, spec, {
        // `runsc kill` stops the container and lets runsc clean up after itself (~30 ms); if runsc is stuck, its
        // process group (runsc, the gofer) is killed a second later and the --attached Sentry dies with it.
        kill: () => {
          spawn(runsc, [...global, "kill", id, "KILL"], { stdio: "ignore", detached: true }).on("error", () => undefined).unref();
        },
        groupKillDelayMs: 1000,
      });
      const violations = [...result.violations];
      const events = group?.events();
      if (events?.oomKilled === true) violations.push({ kind: "memory", message: `stopped: the memory limit of ${limits.memoryMb} MiB was exceeded` });
      if (events?.pidsLimitHit === true) violations.push({ kind: "pids", message: `the sandbox reached its host task limit (${limits.pids} processes plus gVisor's own threads); further forks were refused` });
      const { killed, ...rest } = result;
      const startError = runscStartError(logFile);
      if (startError !== undefined && !killed) {
        if (/failed to load .*no such file or directory/i.test(startError)) {
          // The program does not exist in the sandbox: report it the way a shell does.
          return { ...rest, exitCode: 127, stderr: Buffer.from(`aegisclaw: ${spec.argv[0] ?? ""}: not found in the sandbox (${startError})\n`), violations, backend: "gvisor" };
        }
        throw new AegisError("EXECUTOR_REFUSED", `gVisor could not start the sandbox: ${startError}. Nothing ran.`);
      }
      // The cgroup wrapper exits 125 before runsc starts (and so before runsc writes its log).
      if (result.exitCode === 125 && group !== undefined && !existsSync(logFile)) {
        throw new AegisError("EXECUTOR_REFUSED", "could not place the sandbox in its control group; nothing ran");
      }
      return { ...rest, violations, backend: "gvisor" };
    } finally {
      await this.#cleanup(runsc, global, state, id);
      await relay?.close();
      if (group !== undefined) {
        group.destroy();
        removeGroupsLater(group.procsFiles.map((f) => dirname(f)));
      }
      rmSync(dir, { recursive: true, force: true });
      rmSync(rootDir, { recursive: true, force: true });
    }
  }

  /** Force-deletes the container when runsc left state behind (it was killed); a run that ends normally deletes its own. */
  async #cleanup(runsc: string, global: readonly string[], state: string, id: string): Promise<void> {
    let left: string[];
    try {
      left = readdirSync(state);
    } catch {
      return;
    }
    if (left.length === 0) return;
    await new Promise<void>((resolve) => {
      const child = spawn(runsc, [...global, "delete", "-force", id], { stdio: "ignore", timeout: 10_000 });
      child.on("error", () => {
        resolve();
      });
      child.on("close", () => {
        resolve();
      });
    });
  }
}

interface EgressRelay {
  readonly path: string;
  close(): Promise<void>;
}

/**
 * A per-run UNIX socket that forwards each connection to the egress proxy's.
 *
 * The proxy's socket is mode 0600, owned by AegisClaw's user. Under bubblewrap
 * the sandbox's uid 1000 is that user mapped; under gVisor it is not (gVisor
 * checks the host owner and mode itself), so the tool could not connect. The
 * relay is mode 0666 but lives in the run's private directory (0700), so only
 * the sandbox it is mounted into can reach it; it adds no judgement of its own.
 */
async function startEgressRelay(target: string, path: string): Promise<EgressRelay> {
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection(target);
    open.add(client);
    open.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
  chmodSync(path, 0o666);
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/**
 * gVisor's ptrace stubs are orphaned to init when the Sentry dies, and a
 * control group holding an unreaped zombie cannot be removed yet; retry in
 * the background until init has reaped them (no process is left to kill).
 */
function removeGroupsLater(dirs: readonly string[], attempt = 0): void {
  const left = dirs.filter((d) => {
    try {
      rmdirSync(d);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code !== "ENOENT";
    }
  });
  if (left.length === 0 || attempt >= 50) return;
  setTimeout(() => {
    removeGroupsLater(left, attempt + 1);
  }, 200).unref();
}

/** runsc's own error before the container ran ("running container: starting container: …"), from its JSON log. */
function runscStartError(logFile: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(logFile, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const entry = JSON.parse(line) as { msg?: unknown; level?: unknown };
      if ((entry.level === "error" || entry.level === "fatal") && typeof entry.msg === "string" && entry.msg.startsWith("running container: starting container")) return entry.msg.replace(/^running container: starting container: /, "");
    } catch {
      // Not JSON: ignore.
    }
  }
  return undefined;
}
