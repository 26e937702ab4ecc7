/**
 * The gVisor backend: the OCI bundle it writes (pure), and real runs under
 * runsc — output, exit codes, bounds, the deadline, cleanup, the egress relay
 * — plus the start-time figure against a bare spawn. Runs are skipped, with
 * the reason, only when runsc cannot run a container here at all.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { AegisError } from "../../src/errors.ts";
import type { Limits, SandboxSpec } from "../../src/sandbox/backend.ts";
import { GVisorBackend, gvisorOciConfig, gvisorSeccompProfile, type GVisorBundleContext } from "../../src/sandbox/gvisor.ts";
import { DENIED_SYSCALLS } from "../../src/sandbox/seccomp.ts";

const LIMITS: Limits = { timeoutMs: 20_000, outputBytes: 1 << 20, memoryMb: 512, pids: 64 };
const CONTEXT: GVisorBundleContext = { rootfs: "/tmp/bundle/rootfs", memoryByCgroup: true };

function spec(extra: Partial<SandboxSpec> = {}): SandboxSpec {
  return { argv: ["/bin/sh", "-c", "echo hi"], cwd: "/work", env: { PATH: "/usr/bin:/bin", TOKEN: "t0k" }, mounts: [{ host: "/srv/work", target: "/work", mode: "rw" }, { host: "/srv/ref", target: "/ref", mode: "ro" }], network: { mode: "none" }, limits: LIMITS, ...extra };
}

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof AegisError && err.code === "EXECUTOR_REFUSED" && pattern.test(err.message));
}

describe("gvisorOciConfig", () => {
  test("an empty read-only root of ours; the host root is never a source", () => {
    const c = gvisorOciConfig(spec(), CONTEXT);
    assert.deepEqual(c.root, { path: "/tmp/bundle/rootfs", readonly: true });
    assert.ok(!c.mounts.some((m) => m.source === "/"), "the host root must never be mounted");
    const usr = c.mounts.find((m) => m.destination === "/usr");
    assert.deepEqual(usr?.options?.slice(0, 2), ["rbind", "ro"]);
    assert.equal(c.mounts.find((m) => m.destination === "/tmp")?.type, "tmpfs");
    assert.equal(c.mounts.find((m) => m.destination === "/proc")?.type, "proc");
    for (const m of c.mounts) if (m.type === "bind" && m.destination !== "/work") assert.ok(m.options?.includes("ro"), `${m.destination} must be read-only`);
  });

  test("the spec's mounts at their targets, ro or rw as judged", () => {
    const c = gvisorOciConfig(spec(), CONTEXT);
    assert.deepEqual(c.mounts.find((m) => m.destination === "/work"), { destination: "/work", type: "bind", source: "/srv/work", options: ["rbind", "rw", "nosuid", "nodev"] });
    assert.deepEqual(c.mounts.find((m) => m.destination === "/ref"), { destination: "/ref", type: "bind", source: "/srv/ref", options: ["rbind", "ro", "nosuid", "nodev"] });
  });

  test("uid/gid 1000, no capabilities, no new privileges, argv and cwd as given", () => {
    const c = gvisorOciConfig(spec(), CONTEXT);
    assert.deepEqual(c.process.user, { uid: 1000, gid: 1000, additionalGids: [] });
    for (const set of Object.values(c.process.capabilities)) assert.deepEqual(set, []);
    assert.equal(c.process.noNewPrivileges, true);
    assert.deepEqual(c.process.args, ["/bin/sh", "-c", "echo hi"]);
    assert.equal(c.process.cwd, "/work");
    assert.deepEqual(c.linux.namespaces.map((n) => n.type).sort(), ["ipc", "mount", "network", "pid", "uts"]);
  });

  test("the environment is exactly the spec's, plus HOME and PATH defaults", () => {
    assert.deepEqual(gvisorOciConfig(spec(), CONTEXT).process.env, ["PATH=/usr/bin:/bin", "TOKEN=t0k", "HOME=/tmp"]);
    assert.deepEqual(gvisorOciConfig(spec({ env: {} }), CONTEXT).process.env, ["HOME=/tmp", "PATH=/usr/local/bin:/usr/bin:/bin"]);
    refused(() => gvisorOciConfig(spec({ env: { "A=B": "x" } }), CONTEXT), /cannot be passed/);
  });

  test("rlimits: no core, processes, file size, CPU; address space only without a control group", () => {
    const limits: Limits = { ...LIMITS, fileSizeMb: 2, cpuSeconds: 3, pids: 40 };
    const byType = (memoryByCgroup: boolean): Map<string, number> => new Map(gvisorOciConfig(spec({ limits }), { ...CONTEXT, memoryByCgroup }).process.rlimits.map((r) => [r.type, r.hard]));
    const withCgroup = byType(true);
    assert.equal(withCgroup.get("RLIMIT_CORE"), 0);
    assert.equal(withCgroup.get("RLIMIT_NPROC"), 40);
    assert.equal(withCgroup.get("RLIMIT_FSIZE"), 2 * 1024 * 1024);
    assert.equal(withCgroup.get("RLIMIT_CPU"), 3);
    assert.ok(withCgroup.has("RLIMIT_NOFILE"));
    assert.equal(withCgroup.has("RLIMIT_AS"), false, "the control group limits memory for the whole sandbox");
    assert.equal(byType(false).get("RLIMIT_AS"), 512 * 1024 * 1024);
  });

  test("refuses what it cannot express safely", () => {
    refused(() => gvisorOciConfig(spec({ argv: [] }), CONTEXT), /argv is empty/);
    refused(() => gvisorOciConfig(spec({ cwd: "work" }), CONTEXT), /working directory must be an absolute/);
    refused(() => gvisorOciConfig(spec({ cwd: "/work/../etc" }), CONTEXT), /working directory must be an absolute/);
    refused(() => gvisorOciConfig(spec({ mounts: [{ host: "/srv", target: "/proc", mode: "rw" }] }), CONTEXT), /may not replace \/proc/);
    refused(() => gvisorOciConfig(spec({ mounts: [{ host: "/srv", target: "/", mode: "rw" }] }), CONTEXT), /may not replace \//);
    refused(() => gvisorOciConfig(spec({ mounts: [{ host: "srv", target: "/x", mode: "rw" }] }), CONTEXT), /must be absolute/);
  });

  test("the proxy network mounts the relay socket and wraps the command in the bridge", () => {
    const c = gvisorOciConfig(spec({ network: { mode: "proxy", socket: "/run/p.sock" } }), { ...CONTEXT, node: "/opt/node", bridge: "/opt/egress/bridge.ts", egressSocket: "/tmp/run/egress.sock" });
    assert.deepEqual(c.mounts.find((m) => m.destination === "/run/aegisclaw/egress.sock")?.source, "/tmp/run/egress.sock");
    assert.deepEqual(c.process.args.slice(0, 7), ["/opt/node", "/opt/egress/bridge.ts", "--socket", "/run/aegisclaw/egress.sock", "--port", "3128", "--"]);
  });
});

describe("gvisorSeccompProfile", () => {
  const { profile, omitted } = gvisorSeccompProfile();

  test("denies every EPERM syscall of the bubblewrap table, allowing all else", () => {
    assert.equal(profile.defaultAction, "SCMP_ACT_ALLOW");
    const denied = new Set(profile.syscalls.filter((r) => r.action === "SCMP_ACT_ERRNO").flatMap((r) => r.names));
    for (const rule of DENIED_SYSCALLS) if (rule.errno === "EPERM") assert.ok(denied.has(rule.name), `${rule.name} missing`);
    for (const r of profile.syscalls) if (r.action === "SCMP_ACT_ERRNO") assert.equal(r.errnoRet, 1);
  });

  test("leaves out clone3 (runsc 20221219 would answer EPERM, not ENOSYS, and break glibc)", () => {
    assert.deepEqual(omitted, ["clone3"]);
  });

  test("conditions: CLONE_NEWUSER by mask; personality allowed values before the deny", () => {
    const unshare = profile.syscalls.find((r) => r.names.includes("unshare"));
    assert.deepEqual(unshare?.args, [{ index: 0, value: 0x10000000, valueTwo: 0x10000000, op: "SCMP_CMP_MASKED_EQ" }]);
    const personality = profile.syscalls.filter((r) => r.names.includes("personality"));
    assert.deepEqual(personality.map((r) => r.action), ["SCMP_ACT_ALLOW", "SCMP_ACT_ALLOW", "SCMP_ACT_ALLOW", "SCMP_ACT_ALLOW", "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"]);
    assert.equal(personality.at(-1)?.args, undefined);
    const ioctl = profile.syscalls.filter((r) => r.names.includes("ioctl"));
    assert.deepEqual(ioctl.map((r) => r.args?.[0]?.valueTwo), [0x5412, 0x541c]);
    for (const r of ioctl) assert.equal(r.args?.[0]?.value, 0xffffffff, "only the low 32 bits are compared, as the kernel reads them");
  });
});

// ---------------------------------------------------------------------------
// Real runs.
// ---------------------------------------------------------------------------

const workDir = mkdtempSync(join(tmpdir(), "aegisclaw-gvisor-test-"));
const backend = new GVisorBackend({ workDir });
const caps = await backend.detect();
const skip = caps.available ? false : `runsc cannot run here: ${caps.notes.join("; ")}`;
after(() => {
  rmSync(workDir, { recursive: true, force: true });
});

function run(argv: string[], extra: Partial<SandboxSpec> = {}): ReturnType<GVisorBackend["run"]> {
  return backend.run({ argv, cwd: "/", env: { PATH: "/usr/bin:/bin" }, mounts: [], network: { mode: "none" }, limits: LIMITS, ...extra });
}

describe("GVisorBackend runs", { skip }, () => {
  test("detect() reports what it enforces and how", (t) => {
    t.diagnostic(`gvisor: ${caps.version ?? "?"}; ${caps.notes.join("; ")}`);
    assert.equal(caps.available, true);
    assert.deepEqual(caps.enforces, { filesystem: true, network: true, seccomp: true, memory: true, pids: true, nonRootUser: true });
    assert.ok(caps.notes.some((n) => /^platform \w+, (root|rootless)/.test(n)));
  });

  test("echo works", async () => {
    const r = await run(["/bin/echo", "hello", "gvisor"]);
    assert.equal(r.exitCode, 0);
    assert.equal(r.signal, null);
    assert.equal(r.stdout.toString(), "hello gvisor\n");
    assert.equal(r.stderr.length, 0);
    assert.equal(r.backend, "gvisor");
    assert.deepEqual(r.violations, []);
  });

  test("exit codes propagate; a signal death reads as 128 + n", async () => {
    assert.equal((await run(["/bin/sh", "-c", "exit 42"])).exitCode, 42);
    assert.equal((await run(["/bin/false"])).exitCode, 1);
    assert.equal((await run(["/bin/sh", "-c", "kill -TERM $$"])).exitCode, 143);
  });

  test("stdout and stderr are kept apart", async () => {
    const r = await run(["/bin/sh", "-c", "echo out; echo err >&2; echo out2"]);
    assert.equal(r.stdout.toString(), "out\nout2\n");
    assert.equal(r.stderr.toString(), "err\n");
  });

  test("each stream is bounded separately and the rest counted", async () => {
    const seen: number[] = [];
    const r = await run(["/bin/sh", "-c", "head -c 300000 /dev/zero; head -c 1000 /dev/zero >&2"], {
      limits: { ...LIMITS, outputBytes: 50_000 },
      onOutput: (stream, chunk) => {
        if (stream === "stdout") seen.push(chunk.length);
      },
    });
    assert.equal(r.stdout.length, 50_000);
    assert.equal(r.droppedBytes.stdout, 250_000);
    assert.equal(r.stderr.length, 1000);
    assert.equal(r.droppedBytes.stderr, 0);
    assert.equal(seen.reduce((a, b) => a + b, 0), 50_000, "onOutput sees only what is kept");
    assert.ok(r.violations.some((v) => v.kind === "output-truncated"));
  });

  test("standard input reaches the tool", async () => {
    const r = await run(["/bin/cat"], { stdin: "from stdin\n" });
    assert.equal(r.stdout.toString(), "from stdin\n");
  });

  test("the deadline kills the whole tree promptly", async () => {
    const started = Date.now();
    const r = await run(["/bin/sh", "-c", "sleep 30 & sleep 30"], { limits: { ...LIMITS, timeoutMs: 1000 } });
    assert.ok(Date.now() - started < 6000, `returned after ${Date.now() - started} ms`);
    assert.ok(r.violations.some((v) => v.kind === "timeout"));
    assert.notEqual(r.exitCode, 0);
  });

  test("cancelling the action stops the run", async () => {
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort();
    }, 800);
    const started = Date.now();
    const r = await run(["/bin/sleep", "30"], { signal: controller.signal });
    assert.ok(Date.now() - started < 6000);
    assert.ok(r.violations.some((v) => v.kind === "signal"));
  });

  test("a program missing from the sandbox reads as exit 127", async () => {
    const r = await run(["/no/such/program"]);
    assert.equal(r.exitCode, 127);
    assert.match(r.stderr.toString(), /not found in the sandbox/);
  });

  test("the CPU-seconds limit stops a spinning tool (host-side, gVisor 20221219 ignores RLIMIT_CPU)", async () => {
    const started = Date.now();
    const r = await run(["/usr/bin/perl", "-e", "my $s = time; 1 while time - $s < 15; print qq(survived\\n)"], { limits: { ...LIMITS, cpuSeconds: 2 } });
    assert.doesNotMatch(r.stdout.toString(), /survived/);
    assert.notEqual(r.exitCode, 0);
    assert.ok(Date.now() - started < 10_000);
  });

  test("the file size limit holds", async () => {
    const r = await run(["/bin/sh", "-c", "head -c 3000000 /dev/zero > /tmp/big; echo rc=$?"], { limits: { ...LIMITS, fileSizeMb: 1 } });
    assert.match(r.stdout.toString(), /rc=153/, "SIGXFSZ");
  });

  test("a single-file mount is visible at its target, nothing beside it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "aegisclaw-gvisor-file-"));
    try {
      writeFileSync(join(dir, "one"), "only this\n");
      writeFileSync(join(dir, "two"), "not this\n");
      chmodSync(dir, 0o755);
      const r = await run(["/bin/sh", "-c", "cat /data/one; cat /data/two 2>&1; echo /data/*"], { mounts: [{ host: join(dir, "one"), target: "/data/one", mode: "ro" }] });
      assert.match(r.stdout.toString(), /^only this\n/);
      assert.doesNotMatch(r.stdout.toString(), /not this/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the bundle, the runsc state and the processes are gone after a run (and after a killed one)", async () => {
    await run(["/bin/true"]);
    await run(["/bin/sleep", "30"], { limits: { ...LIMITS, timeoutMs: 500 } });
    assert.deepEqual(readdirSync(workDir), []);
    await new Promise((res) => setTimeout(res, 300));
    const left = spawnSync("pgrep", ["-f", workDir], { encoding: "utf8" });
    assert.equal(left.stdout.trim(), "", "no runsc, gofer or Sentry of ours is left running");
  });

  test("the egress proxy is reachable through the bridge, even with a 0600 socket", async () => {
    const dir = mkdtempSync(join(tmpdir(), "aegisclaw-gvisor-proxy-"));
    const socket = join(dir, "egress.sock");
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.method ?? ""} ${req.url ?? ""}`);
      res.end("via the proxy\n");
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    chmodSync(socket, 0o600);
    try {
      const r = await run(["/usr/bin/curl", "-sS", "--max-time", "10", "http://example.test/path"], { network: { mode: "proxy", socket }, limits: { ...LIMITS, timeoutMs: 30_000 } });
      assert.equal(r.stdout.toString(), "via the proxy\n", r.stderr.toString());
      assert.deepEqual(seen, ["GET http://example.test/path"]);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("start-to-exit of /bin/true: gVisor vs a bare spawn", async (t) => {
    const bare = (): Promise<number> =>
      new Promise((resolve) => {
        const started = performance.now();
        spawn("/bin/true").on("close", () => {
          resolve(performance.now() - started);
        });
      });
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
    const rounds = 7;
    const bares: number[] = [];
    const sandboxed: number[] = [];
    for (let i = 0; i < rounds; i++) {
      bares.push(await bare());
      const started = performance.now();
      await run(["/bin/true"]);
      sandboxed.push(performance.now() - started);
    }
    const b = median(bares);
    const g = median(sandboxed);
    t.diagnostic(`/bin/true start-to-exit, median of ${rounds}: bare spawn ${b.toFixed(1)} ms, gvisor ${g.toFixed(1)} ms (+${(g - b).toFixed(0)} ms)`);
    assert.ok(g < 5000, "a gVisor run starts within seconds");
  });
});

describe("GVisorBackend without runsc", () => {
  test("detect() says runsc is missing and run() refuses", async () => {
    const absent = new GVisorBackend({ runsc: "/nonexistent/bin/runsc", workDir });
    const caps2 = await absent.detect();
    assert.equal(caps2.available, false);
    assert.match(caps2.notes.join(" "), /runsc \(gVisor\) is not at \/nonexistent\/bin\/runsc/);
    await assert.rejects(absent.run(spec({ cwd: "/", mounts: [] })), (err: unknown) => err instanceof AegisError && err.code === "EXECUTOR_REFUSED");
    assert.deepEqual(readdirSync(workDir), [], "a refused run leaves nothing behind");
  });
});
