/**
 * Attacks on the seccomp filter, run against the real kernel: a minimal
 * bubblewrap sandbox (empty root, /usr read-only, every namespace unshared,
 * capabilities dropped, uid 65534) installs the filter from `buildSeccompFilter`
 * through `--seccomp 3`, and perl's `syscall` builtin attempts each call a tool
 * could use to break out, read a neighbour's memory, or reach kernel attack
 * surface. Each attempt must fail with the filter's errno; ordinary work
 * (getpid, fork, exec, sockets) must still succeed.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { Writable } from "node:stream";
import { DENIED_SYSCALLS, buildSeccompFilter, hostSeccompArch, type SeccompArch } from "../../../src/sandbox/seccomp.ts";

const BWRAP = "/usr/bin/bwrap";
const PERL = "/usr/bin/perl";
const EPERM = 1;
const ENOSYS = 38;
const ENOTTY = 25;
const EINVAL = 22;
const SIGSYS = 31;

const SANDBOX = [
  "--ro-bind", "/usr", "/usr",
  "--symlink", "usr/lib", "/lib",
  "--symlink", "usr/lib64", "/lib64",
  "--symlink", "usr/bin", "/bin",
  "--proc", "/proc",
  "--dev", "/dev",
  "--tmpfs", "/tmp",
  "--unshare-all",
  "--die-with-parent",
  "--new-session",
  "--cap-drop", "ALL",
  "--clearenv",
  "--uid", "65534",
  "--gid", "65534",
];

/** Why the real-kernel tests cannot run here, or undefined when they can. */
function unavailableReason(): string | undefined {
  if (process.platform !== "linux") return `seccomp is Linux-only; this is ${process.platform}`;
  if (!existsSync(BWRAP)) return `bubblewrap is not installed (${BWRAP} missing; apt-get install bubblewrap)`;
  if (!existsSync(PERL)) return `${PERL} is missing, and the probes are perl scripts`;
  try {
    if (readFileSync("/proc/sys/user/max_user_namespaces", "utf8").trim() === "0") return "user namespaces are disabled (user.max_user_namespaces = 0)";
  } catch {
    return "this kernel has no user namespaces (/proc/sys/user/max_user_namespaces missing)";
  }
  const probe = spawnSync(BWRAP, [...SANDBOX, "--", "/usr/bin/true"], { encoding: "utf8", timeout: 15_000 });
  if (probe.status !== 0 && /namespace|Operation not permitted|No permissions|setting up uid map/i.test(probe.stderr)) {
    return `user namespaces are unavailable to bwrap here: ${probe.stderr.trim()}`;
  }
  // Anything else is a real failure, reported by the tests rather than skipped.
  return undefined;
}

interface SandboxRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs perl in the sandbox, with `filter` on fd 3 (`--seccomp 3`) when given. */
function runInSandbox(script: string, filter: Buffer | undefined): Promise<SandboxRun> {
  return runCommandInSandbox([PERL, "-e", script], filter);
}

function runCommandInSandbox(command: readonly string[], filter: Buffer | undefined, extraBwrapArgs: readonly string[] = []): Promise<SandboxRun> {
  const args = [...SANDBOX, ...extraBwrapArgs, ...(filter ? ["--seccomp", "3"] : []), "--", ...command];
  const child = spawn(BWRAP, args, { stdio: ["ignore", "pipe", "pipe", filter ? "pipe" : "ignore"] });
  if (filter) {
    const fd3 = child.stdio[3];
    assert.ok(fd3 instanceof Writable, "fd 3 is a pipe to bwrap");
    fd3.on("error", () => undefined); // bwrap may exit before reading it; the exit status says why
    fd3.end(filter);
  }
  let stdout = "";
  let stderr = "";
  assert.ok(child.stdout && child.stderr, "stdout and stderr are pipes");
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------------------
// The probes: each is one syscall with realistic arguments.
// ---------------------------------------------------------------------------

const arch: SeccompArch = hostSeccompArch();
const other: SeccompArch = arch === "x86_64" ? "aarch64" : "x86_64";

/** Allowed calls the probes need, per architecture (syscall_64.tbl / asm-generic). */
const ALLOWED_NR: Readonly<Record<string, Readonly<Record<SeccompArch, number>>>> = {
  getpid: { x86_64: 39, aarch64: 172 },
  exit: { x86_64: 60, aarch64: 93 },
};

function nr(name: string): number {
  const n = DENIED_SYSCALLS.find((r) => r.name === name)?.nr[arch] ?? ALLOWED_NR[name]?.[arch];
  assert.ok(n !== undefined, `no ${arch} number for ${name}`);
  return n;
}

/** Buffers the probes point the kernel at (perl passes a string argument as a pointer). */
const PERL_PRELUDE = String.raw`
$| = 1;
my $EXIT = ${nr("exit")};
sub probe {
  my ($name, $nr, @args) = @_;
  $! = 0;
  my $r = syscall($nr, @args);
  my $errno = $! + 0;
  syscall($EXIT, 0) if $r == 0 && $name =~ /^clone/;   # a child that should never have been born
  print "probe $name ", ($r == -1 ? "errno $errno" : "ok $r"), "\n";
}
my $uring_params = "\0" x 120;
my $bpf_attr = pack("LLLL", 2, 4, 4, 1) . ("\0" x 56);        # BPF_MAP_TYPE_ARRAY, 4-byte keys and values, 1 entry
my $perf_attr = pack("LL", 1, 128) . ("\0" x 120);             # PERF_TYPE_SOFTWARE, size 128, PERF_COUNT_SW_CPU_CLOCK
my $buf = "\0" x 64;
my $iov = pack("QQ", unpack("Q", pack("p", $buf)), 64);
my $clone_args = pack("Q11", 0x10000000, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0);  # clone3 { flags = CLONE_NEWUSER, exit_signal = SIGCHLD }
my ($none, $tmp, $tmpfs, $proc) = ("none", "/tmp", "tmpfs", "/proc");
my ($key_type, $key_desc, $key_payload) = ("user", "aegisclaw-probe", "secret");
my $ch = "x";
sub status { open(my $f, "<", "/proc/self/status") or die; for (<$f>) { print "status $_" if /^(Seccomp|Seccomp_filters|NoNewPrivs|CapEff|Uid):/ } }
`;

interface Probe {
  readonly name: string;
  readonly syscall: string;
  /** Perl expressions; a string variable is passed as a pointer. */
  readonly args: readonly string[];
}

const p = (name: string, syscall: string, ...args: string[]): Probe => ({ name, syscall, args });

/** The named attacks, each expected to fail with EPERM. */
const ATTACKS: readonly Probe[] = [
  p("ptrace(PTRACE_TRACEME)", "ptrace", "0", "0", "0", "0"),
  p("ptrace(PTRACE_ATTACH, 1)", "ptrace", "16", "1", "0", "0"),
  p("unshare(CLONE_NEWUSER)", "unshare", "0x10000000"),
  p("unshare(CLONE_NEWUSER|CLONE_NEWNS) with high bits", "unshare", "0xffffffff10020000"),
  p("clone(CLONE_NEWUSER|SIGCHLD)", "clone", "0x10000011", "0", "0", "0", "0"),
  p("io_uring_setup(8)", "io_uring_setup", "8", "$uring_params"),
  p("bpf(BPF_MAP_CREATE)", "bpf", "0", "$bpf_attr", "72"),
  p("keyctl(KEYCTL_JOIN_SESSION_KEYRING)", "keyctl", "1", "0"),
  p("add_key(user, session keyring)", "add_key", "$key_type", "$key_desc", "$key_payload", "6", "-3"),
  p("mount(tmpfs on /tmp)", "mount", "$none", "$tmp", "$tmpfs", "0", "0"),
  p("umount2(/proc, MNT_DETACH)", "umount2", "$proc", "2"),
  p("chroot(/tmp)", "chroot", "$tmp"),
  p("perf_event_open(cpu clock, this process)", "perf_event_open", "$perf_attr", "0", "-1", "-1", "0"),
  p("personality(ADDR_NO_RANDOMIZE)", "personality", "0x0040000"),
  p("personality(READ_IMPLIES_EXEC)", "personality", "0x0400000"),
  p("personality(ADDR_NO_RANDOMIZE) in the high word too", "personality", "0x100040000"),
  p("ioctl(0, TIOCSTI)", "ioctl", "0", "0x5412", "$ch"),
  p("ioctl(0, TIOCSTI) with high bits in the request", "ioctl", "0", "0x100005412", "$ch"),
  p("ioctl(0, TIOCLINUX)", "ioctl", "0", "0x541c", "$ch"),
  p("socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)", "socket", "17", "3", "0x0300"),
  p("process_vm_readv(pid 1)", "process_vm_readv", "1", "$iov", "1", "$iov", "1", "0"),
  p("process_vm_writev(pid 1)", "process_vm_writev", "1", "$iov", "1", "$iov", "1", "0"),
  p("userfaultfd(O_CLOEXEC)", "userfaultfd", "0x80000"),
  p("setns(0, 0)", "setns", "0", "0"),
  p("pidfd_getfd(0, 0)", "pidfd_getfd", "0", "0", "0"),
];

/** Calls the filter must let through to the kernel. */
const ALLOWED: readonly Probe[] = [
  p("getpid", "getpid"),
  p("personality(query)", "personality", "0xffffffff"),
  p("personality(PER_LINUX)", "personality", "0"),
  p("unshare(0)", "unshare", "0"),
  p("socket(AF_INET, SOCK_STREAM)", "socket", "2", "1", "0"),
  p("socket(AF_UNIX, SOCK_STREAM)", "socket", "1", "1", "0"),
];

function probeLine(probe: Probe, nrOverride?: number): string {
  return `probe(${JSON.stringify(probe.name)}, ${nrOverride ?? nr(probe.syscall)}${probe.args.map((a) => `, ${a}`).join("")});`;
}

/** Every unconditionally denied call on this architecture, with zeroed arguments. */
const EVERY_DENIED = DENIED_SYSCALLS.filter((r) => r.when.kind === "always" && r.nr[arch] !== undefined);

const FILTERED_SCRIPT = [
  PERL_PRELUDE,
  "status();",
  ...ATTACKS.map((probe) => probeLine(probe)),
  ...ALLOWED.map((probe) => probeLine(probe)),
  ...EVERY_DENIED.map((row) => probeLine(p(`every:${row.name}`, row.name, "0", "0", "0", "0", "0", "0"))),
  probeLine(p("clone3(CLONE_NEWUSER)", "clone3", "$clone_args", "88")),
  ...(arch === "x86_64"
    ? [probeLine(p("x32 getpid", "getpid"), 0x40000000 + 39), probeLine(p("x32 ptrace", "ptrace", "0", "0", "0", "0"), 0x40000000 + 521)]
    : []),
  // The filter lets ioctl reach the kernel for other requests: /dev/null is not a terminal.
  probeLine(p("ioctl(0, TCGETS)", "ioctl", "0", "0x5401", "$buf")),
  'my $pid = fork(); if (defined $pid && $pid == 0) { exit 7 } waitpid($pid, 0); print "fork ", $? >> 8, "\\n";',
  'system("/usr/bin/true"); print "exec ", $? >> 8, "\\n";',
].join("\n");

/** The same sandbox without the filter, for calls whose kernel answer is harmless and not EPERM. */
const CONTROL_SCRIPT = [
  PERL_PRELUDE,
  "status();",
  probeLine(p("personality(ADDR_NO_RANDOMIZE)", "personality", "0x0040000")),
  probeLine(p("ioctl(0, TIOCSTI)", "ioctl", "0", "0x5412", "$ch")),
  probeLine(p("clone3(NULL, 0)", "clone3", "0", "0")),
].join("\n");

interface ProbeResults {
  readonly run: SandboxRun;
  readonly probes: ReadonlyMap<string, { readonly ok: boolean; readonly value: number }>;
  readonly lines: readonly string[];
}

function parse(run: SandboxRun): ProbeResults {
  const probes = new Map<string, { ok: boolean; value: number }>();
  const lines = run.stdout.split("\n");
  for (const line of lines) {
    const m = /^probe (.+) (ok|errno) (-?\d+)$/.exec(line);
    if (m?.[1] !== undefined && m[3] !== undefined) probes.set(m[1], { ok: m[2] === "ok", value: Number(m[3]) });
  }
  return { run, probes, lines };
}

const unavailable = unavailableReason();
let filtered: Promise<ProbeResults> | undefined;
const filteredRun = (): Promise<ProbeResults> => (filtered ??= runInSandbox(FILTERED_SCRIPT, buildSeccompFilter(arch)).then(parse));

function result(results: ProbeResults, name: string): { readonly ok: boolean; readonly value: number } {
  const r = results.probes.get(name);
  assert.ok(r, `probe "${name}" printed nothing; bwrap exit ${results.run.code}, stderr: ${results.run.stderr}\nstdout: ${results.run.stdout}`);
  return r;
}

function assertErrno(results: ProbeResults, name: string, errno: number): void {
  const r = result(results, name);
  assert.ok(!r.ok, `${name} succeeded (returned ${r.value}) inside the sandbox`);
  assert.equal(r.value, errno, `${name} failed with errno ${r.value}, expected ${errno}`);
}

describe(`seccomp escape attempts under bubblewrap (${arch}, real kernel)`, () => {
  test("the sandbox ran with the filter installed, no new privileges and no capabilities", async (t) => {
    if (unavailable) {
      t.skip(unavailable);
      return;
    }
    const results = await filteredRun();
    assert.equal(results.run.code, 0, `bwrap exit ${results.run.code}: ${results.run.stderr}`);
    assert.ok(results.lines.includes("status Seccomp:\t2"), results.run.stdout);
    assert.ok(results.lines.includes("status NoNewPrivs:\t1"), results.run.stdout);
    assert.ok(results.lines.includes("status CapEff:\t0000000000000000"), results.run.stdout);
    assert.ok(results.lines.some((l) => /^status Uid:\t65534\b/.test(l)), results.run.stdout);
  });

  for (const attack of ATTACKS) {
    test(`attack: ${attack.name} fails with EPERM`, async (t) => {
      if (unavailable) {
        t.skip(unavailable);
        return;
      }
      assertErrno(await filteredRun(), attack.name, EPERM);
    });
  }

  test("attack: clone3 with CLONE_NEWUSER in its (unreadable) argument struct fails with ENOSYS", async (t) => {
    if (unavailable) {
      t.skip(unavailable);
      return;
    }
    assertErrno(await filteredRun(), "clone3(CLONE_NEWUSER)", ENOSYS);
  });

  test("attack: the x32 ABI aliases of getpid and ptrace fail with EPERM", async (t) => {
    if (unavailable) {
      t.skip(unavailable);
      return;
    }
    if (arch !== "x86_64") {
      t.skip("x32 exists only on x86_64");
      return;
    }
    const results = await filteredRun();
    assertErrno(results, "x32 getpid", EPERM);
    assertErrno(results, "x32 ptrace", EPERM);
  });

  test(`every unconditionally denied syscall on ${arch} fails with its errno (EPERM; ENOSYS for clone3)`, async (t) => {
    if (unavailable) {
      t.skip(unavailable);
      return;
    }
    const results = await filteredRun();
    assert.ok(EVERY_DENIED.length >= 40, `only ${EVERY_DENIED.length} rows`);
    for (const row of EVERY_DENIED) assertErrno(results, `every:${row.name}`, row.errno === "ENOSYS" ? ENOSYS : EPERM);
  });

  test("ordinary work still runs: getpid, personality queries, unshare(0), INET and UNIX sockets, ioctl, fork, exec", async (t) => {
    if (unavailable) {
      t.skip(unavailable);
      return;
    }
    const results = await filteredRun();
    for (const probe of ALLOWED) {
      const r = result(results, probe.name);
      assert.ok(r.ok, `${probe.name} failed with errno ${r.value}`);
    }
    assert.equal(result(results, "getpid").value, 2, "pid 2: the tool runs under bwrap's init in its own pid namespace");
    // ioctl reached the kernel, which said /dev/null is no terminal.
    assertErrno(results, "ioctl(0, TCGETS)", ENOTTY);
    assert.ok(results.lines.includes("fork 7"), `fork (clone without CLONE_NEWUSER) failed:\n${results.run.stdout}`);
    assert.ok(results.lines.includes("exec 0"), `fork + execve of /usr/bin/true failed:\n${results.run.stdout}`);
  });

  test("control: without the filter the same sandbox lets personality, TIOCSTI and clone3 reach the kernel, so the EPERMs come from the filter", async (t) => {
    if (unavailable) {
      t.skip(unavailable);
      return;
    }
    const control = parse(await runInSandbox(CONTROL_SCRIPT, undefined));
    assert.equal(control.run.code, 0, `bwrap exit ${control.run.code}: ${control.run.stderr}`);
    const personality = result(control, "personality(ADDR_NO_RANDOMIZE)");
    assert.ok(personality.ok, `personality failed with errno ${personality.value} even without the filter`);
    assertErrno(control, "ioctl(0, TIOCSTI)", ENOTTY);
    assertErrno(control, "clone3(NULL, 0)", EINVAL);
    const filters = (r: ProbeResults): number => Number(/^status Seccomp_filters:\t(\d+)$/m.exec(r.run.stdout)?.[1] ?? Number.NaN);
    assert.equal(filters(await filteredRun()), filters(control) + 1, "the filtered run carries exactly one more filter");
  });

  test("threads still start: glibc's pthread_create gets ENOSYS from clone3 and falls back to clone (Node with a worker thread)", async (t) => {
    if (unavailable) {
      t.skip(unavailable);
      return;
    }
    // A Node under /usr is already visible in the sandbox; one elsewhere (./setup's .node/) is bound read-only.
    const node = realpathSync(process.execPath);
    const script = 'const { Worker } = require("node:worker_threads"); new Worker("require(\'node:worker_threads\').parentPort.postMessage(6 * 7)", { eval: true }).on("message", (m) => { console.log("worker says " + m); process.exit(0); });';
    const run = await runCommandInSandbox([node, "-e", script], buildSeccompFilter(arch), node.startsWith("/usr/") ? [] : ["--ro-bind", node, node]);
    assert.equal(run.code, 0, `node exit ${run.code}: ${run.stderr}`);
    assert.equal(run.stdout.trim(), "worker says 42");
  });

  test(`attack on the arch check: the ${other} program on this ${arch} kernel kills the tool at its first syscall (SIGSYS)`, async (t) => {
    if (unavailable) {
      t.skip(unavailable);
      return;
    }
    const run = await runInSandbox('print "alive\\n";', buildSeccompFilter(other));
    assert.equal(run.stdout, "", "the tool must not have run");
    // bwrap reports a child killed by signal n as exit status 128 + n.
    assert.ok(run.code === 128 + SIGSYS || run.signal === "SIGSYS", `expected death by SIGSYS, got exit ${run.code} signal ${run.signal}: ${run.stderr}`);
    assert.doesNotMatch(run.stderr, /bwrap: /, "bwrap itself must not have failed");
  });
});
