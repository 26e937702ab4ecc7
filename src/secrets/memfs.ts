/**
 * Where files that hold secret values may live: only on a memory-backed file
 * system, so a value never reaches a disk. Used by the broker (per-action
 * secret files) and the sandbox backends (an OCI config.json or a Docker
 * env-file holding a tool's environment).
 */
import { statfsSync } from "node:fs";

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

/** Whether `dir` is on a memory-backed file system (tmpfs or ramfs). */
export function isMemoryFileSystem(dir: string): boolean {
  try {
    const type = statfsSync(dir).type;
    return type === TMPFS_MAGIC || type === RAMFS_MAGIC;
  } catch {
    return false;
  }
}

/** The first memory-backed directory of /dev/shm and $XDG_RUNTIME_DIR, or undefined when there is none. */
export function memoryBackedDir(): string | undefined {
  const candidates = ["/dev/shm", process.env.XDG_RUNTIME_DIR].filter((d): d is string => d !== undefined && d !== "");
  return candidates.find(isMemoryFileSystem);
}
