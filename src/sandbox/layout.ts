/**
 * What every backend puts inside a sandbox, in one place: the user tools run
 * as, the `/etc` files written for them (nothing of the host's users), the
 * host `/etc` entries programs need, the merged-usr links, and where the
 * egress bridge listens.
 */
import { tmpdir } from "node:os";
import { memoryBackedDir } from "../secrets/memfs.ts";

/**
 * Where a backend puts per-run files that can hold secrets (an OCI config.json with the environment, a Docker
 * env-file): a memory-backed directory when there is one (see secrets/memfs.ts), else the temporary directory.
 */
export function runScratchRoot(): string {
  return memoryBackedDir() ?? tmpdir();
}

/** The uid/gid tools run as inside the sandbox. */
export const SANDBOX_UID = 1000;
/** Where the egress proxy's socket appears inside the sandbox. */
export const EGRESS_SOCKET_IN_SANDBOX = "/run/aegisclaw/egress.sock";
/** The loopback port the bridge listens on inside the sandbox. */
export const EGRESS_PORT_IN_SANDBOX = 3128;

/** `/etc` files every program expects, with nothing of the host's: users, groups, hosts, lookup order. */
export const SYNTHETIC_ETC: Readonly<Record<string, string>> = {
  passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:${String(SANDBOX_UID)}:${String(SANDBOX_UID)}:AegisClaw sandbox:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
  group: `root:x:0:\nsandbox:x:${String(SANDBOX_UID)}:\nnogroup:x:65534:\n`,
  hosts: "127.0.0.1 localhost\n::1 localhost\n",
  "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
};

/** Host `/etc` entries programs need (certificates, alternatives, the loader cache, the time zone), bound read-only. */
export const HOST_ETC: readonly string[] = ["/etc/ssl", "/etc/ca-certificates", "/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime"];

/** Top-level directories that are links into /usr on a merged-usr system (a real directory is bound instead). */
export const MERGED_USR_LINKS: readonly string[] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];
