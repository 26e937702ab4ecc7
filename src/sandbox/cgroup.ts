/**
 * Memory and process-count limits for one sandboxed run, with a control
 * group when this process may create one (root, cgroup v1 or v2 with the
 * controllers delegated), else with resource limits (`prlimit`):
 *
 *  - cgroup: `pids.max` and `memory.limit_in_bytes`/`memory.max` for the
 *    whole tree of the run, and an exact record of an OOM kill or of the
 *    pids limit being hit; every process left in it is killed at the end.
 *  - rlimits: RLIMIT_AS per process (an approximation of memory), and
 *    RLIMIT_NPROC, which the kernel counts per user namespace for an
 *    unprivileged caller (so it counts only the sandbox's processes) but does
 *    not apply to root at all — so for root without cgroups a pids limit is
 *    refused rather than pretended.
 *
 * The child cgroup is created under this process's own, so the limits of
 * whatever runs us (a container, a systemd unit) still apply above ours.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export type CgroupMode = "v1" | "v2" | "none";

export interface CgroupSupport {
  readonly mode: CgroupMode;
  /** Why cgroups cannot be used, when mode is none. */
  readonly reason?: string;
}

export interface CgroupLimits {
  readonly memoryBytes?: number;
  readonly pids?: number;
}

export interface RunCgroup {
  /** `cgroup.procs` files the sandbox's first process must write its pid to (one per v1 hierarchy; one for v2). */
  readonly procsFiles: readonly string[];
  /** What the kernel recorded: an OOM kill, the pids limit refused a fork. */
  events(): { readonly oomKilled: boolean; readonly pidsLimitHit: boolean };
  /** Kills every process still in the group and removes it. */
  destroy(): void;
}

const ROOT = "/sys/fs/cgroup";

/** Controller (or "" for v2) → this process's cgroup path in it. */
function ownCgroups(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync("/proc/self/cgroup", "utf8").split("\n")) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (controllers === undefined || path === undefined) continue;
    for (const c of controllers.split(",")) out.set(c, path);
  }
  return out;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export function cgroupSupport(): CgroupSupport {
  if (!isRoot()) return { mode: "none", reason: "not root: control groups need root or a delegated cgroup; resource limits (prlimit) are used instead" };
  try {
    const own = ownCgroups();
    if (existsSync(join(ROOT, "cgroup.controllers"))) {
      const path = join(ROOT, own.get("") ?? "/");
      const available = readFileSync(join(path, "cgroup.subtree_control"), "utf8");
      if (!/\bmemory\b/.test(available) || !/\bpids\b/.test(available)) {
        return { mode: "none", reason: `cgroup v2: the memory and pids controllers are not enabled for children of ${path}` };
      }
      return { mode: "v2" };
    }
    if (existsSync(join(ROOT, "memory", "cgroup.procs")) && existsSync(join(ROOT, "pids", "cgroup.procs")) && own.has("memory") && own.has("pids")) return { mode: "v1" };
    return { mode: "none", reason: "no cgroup v2 and no cgroup v1 memory and pids hierarchies are mounted" };
  } catch (err) {
    return { mode: "none", reason: `cannot read control groups: ${(err as Error).message}` };
  }
}

function read(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function killAndRemove(dir: string): void {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const pids = read(join(dir, "cgroup.procs")).split("\n").filter((p) => p !== "");
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
  try {
    // Child groups first (a tool cannot make them: it has no write access; but be thorough).
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) killAndRemove(join(dir, entry.name));
    rmdirSync(dir);
  } catch {
    // A group that cannot be removed yet is empty of processes; the kernel keeps it until its last reference goes.
  }
}

/** v1: the kill count when the kernel reports one (4.13+), else whether the limit was ever hit. */
function oomKilledV1(dir: string): boolean {
  const control = read(join(dir, "memory.oom_control"));
  if (/\boom_kill \d/.test(control)) return /\boom_kill [1-9]/.test(control);
  return Number(read(join(dir, "memory.failcnt")).trim() || "0") > 0;
}

/**
 * Removes run cgroups left empty by a process that died before it could
 * (a crash, SIGKILL). Only empty ones: a group with processes belongs to a
 * run still going, perhaps in another AegisClaw process. Once per process.
 */
let swept = false;
function sweepStale(parents: readonly string[]): void {
  if (swept) return;
  swept = true;
  for (const parent of parents) {
    let entries: string[];
    try {
      entries = readdirSync(parent).filter((e) => e.startsWith(RUN_PREFIX));
    } catch {
      continue;
    }
    for (const entry of entries) {
      const dir = join(parent, entry);
      // Empty and old: a fresh group is empty too until its launcher joins it (another AegisClaw process may be
      // between those two steps right now), so only groups older than a minute are a crash's leftovers.
      try {
        if (Date.now() - statSync(dir).mtimeMs < STALE_AFTER_MS) continue;
      } catch {
        continue;
      }
      if (read(join(dir, "cgroup.procs")).trim() !== "") continue;
      try {
        rmdirSync(dir);
      } catch {
        // Still referenced by a dying process; the next sweep gets it.
      }
    }
  }
}

const STALE_AFTER_MS = 60_000;

/** Names of run cgroups start with this (see createRunCgroup's callers). */
export const RUN_PREFIX = "aegisclaw-";

/** A fresh cgroup for one run, limits written; undefined when cgroups cannot be used (see cgroupSupport). */
export function createRunCgroup(name: string, limits: CgroupLimits, support: CgroupSupport = cgroupSupport()): RunCgroup | undefined {
  if (support.mode === "none") return undefined;
  const own = ownCgroups();
  sweepStale(support.mode === "v2" ? [join(ROOT, own.get("") ?? "/")] : [join(ROOT, "memory", own.get("memory") ?? "/"), join(ROOT, "pids", own.get("pids") ?? "/")]);
  if (support.mode === "v2") {
    const dir = join(ROOT, own.get("") ?? "/", name);
    mkdirSync(dir);
    try {
      if (limits.memoryBytes !== undefined) {
        writeFileSync(join(dir, "memory.max"), String(limits.memoryBytes));
        if (existsSync(join(dir, "memory.swap.max"))) writeFileSync(join(dir, "memory.swap.max"), "0");
      }
      if (limits.pids !== undefined) writeFileSync(join(dir, "pids.max"), String(limits.pids));
    } catch (err) {
      killAndRemove(dir);
      throw err;
    }
    return {
      procsFiles: [join(dir, "cgroup.procs")],
      events: () => ({ oomKilled: /\boom_kill [1-9]/.test(read(join(dir, "memory.events"))), pidsLimitHit: /\bmax [1-9]/.test(read(join(dir, "pids.events"))) }),
      destroy: () => {
        if (existsSync(join(dir, "cgroup.kill"))) writeFileSync(join(dir, "cgroup.kill"), "1");
        killAndRemove(dir);
      },
    };
  }
  const memory = join(ROOT, "memory", own.get("memory") ?? "/", name);
  const pids = join(ROOT, "pids", own.get("pids") ?? "/", name);
  mkdirSync(memory);
  mkdirSync(pids);
  try {
    if (limits.memoryBytes !== undefined) {
      writeFileSync(join(memory, "memory.limit_in_bytes"), String(limits.memoryBytes));
      // Without this, a process over the limit is swapped out instead of stopped.
      if (existsSync(join(memory, "memory.memsw.limit_in_bytes"))) writeFileSync(join(memory, "memory.memsw.limit_in_bytes"), String(limits.memoryBytes));
    }
    if (limits.pids !== undefined) writeFileSync(join(pids, "pids.max"), String(limits.pids));
  } catch (err) {
    killAndRemove(memory);
    killAndRemove(pids);
    throw err;
  }
  return {
    procsFiles: [join(memory, "cgroup.procs"), join(pids, "cgroup.procs")],
    events: () => ({
      oomKilled: oomKilledV1(memory),
      pidsLimitHit: /\bmax [1-9]/.test(read(join(pids, "pids.events"))),
    }),
    destroy: () => {
      killAndRemove(pids);
      killAndRemove(memory);
    },
  };
}
