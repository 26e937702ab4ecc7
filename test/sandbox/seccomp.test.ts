import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import {
  DENIED_SYSCALLS,
  assembleBpf,
  bpf,
  buildSeccompFilter,
  hostSeccompArch,
  seccompFilterSteps,
  type SeccompArch,
} from "../../src/sandbox/seccomp.ts";
import { isAegis } from "../helpers/errors.ts";

// ---------------------------------------------------------------------------
// A classic-BPF interpreter written from the kernel's definitions, independent
// of the assembler under test: it decodes raw bytes, checks them the way the
// kernel's validator does, then runs them on a struct seccomp_data.
// ---------------------------------------------------------------------------

const OP = { ldWAbs: 0x20, andK: 0x54, ja: 0x05, jeqK: 0x15, jgtK: 0x25, jgeK: 0x35, jsetK: 0x45, retK: 0x06 } as const;
const KNOWN_OPS = new Set<number>(Object.values(OP));
const CONDITIONAL_JUMPS = new Set<number>([OP.jeqK, OP.jgtK, OP.jgeK, OP.jsetK]);

interface Insn {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

function decode(program: Buffer): Insn[] {
  assert.equal(program.length % 8, 0, "a sock_filter program is a whole number of 8-byte instructions");
  const insns: Insn[] = [];
  for (let at = 0; at < program.length; at += 8) {
    insns.push({ code: program.readUInt16LE(at), jt: program.readUInt8(at + 2), jf: program.readUInt8(at + 3), k: program.readUInt32LE(at + 4) });
  }
  return insns;
}

/** What the kernel's bpf_check_classic and seccomp_check_filter would refuse. */
function verify(insns: readonly Insn[]): void {
  assert.ok(insns.length > 0 && insns.length <= 4096, `length ${insns.length}`);
  insns.forEach((insn, pc) => {
    assert.ok(KNOWN_OPS.has(insn.code), `unknown opcode 0x${insn.code.toString(16)} at ${pc}`);
    if (insn.code === OP.ldWAbs) assert.ok(insn.k % 4 === 0 && insn.k + 4 <= 64, `load offset ${insn.k} at ${pc}`);
    if (insn.code === OP.ja) assert.ok(pc + 1 + insn.k < insns.length, `ja out of bounds at ${pc}`);
    if (CONDITIONAL_JUMPS.has(insn.code)) {
      assert.ok(pc + 1 + insn.jt < insns.length && pc + 1 + insn.jf < insns.length, `jump out of bounds at ${pc}`);
    }
  });
  assert.equal(insns.at(-1)?.code, OP.retK, "the last instruction must be a return");
}

interface SeccompData {
  readonly nr: number;
  readonly arch: number;
  readonly args?: readonly bigint[];
}

function seccompData(data: SeccompData): Buffer {
  const buf = Buffer.alloc(64);
  buf.writeUInt32LE(data.nr >>> 0, 0);
  buf.writeUInt32LE(data.arch >>> 0, 4);
  buf.writeBigUInt64LE(0x401000n, 8);
  (data.args ?? []).forEach((arg, i) => buf.writeBigUInt64LE(BigInt.asUintN(64, arg), 16 + 8 * i));
  return buf;
}

function run(program: Buffer, data: SeccompData): number {
  const insns = decode(program);
  verify(insns);
  const input = seccompData(data);
  let a = 0;
  let pc = 0;
  for (let steps = 0; steps <= insns.length; steps++) {
    const insn = insns[pc];
    assert.ok(insn, `pc ${pc} ran off the program`);
    pc++;
    switch (insn.code) {
      case OP.ldWAbs:
        a = input.readUInt32LE(insn.k);
        break;
      case OP.andK:
        a = (a & insn.k) >>> 0;
        break;
      case OP.ja:
        pc += insn.k;
        break;
      case OP.jeqK:
        pc += a === insn.k ? insn.jt : insn.jf;
        break;
      case OP.jgtK:
        pc += a > insn.k ? insn.jt : insn.jf;
        break;
      case OP.jgeK:
        pc += a >= insn.k ? insn.jt : insn.jf;
        break;
      case OP.jsetK:
        pc += (a & insn.k) !== 0 ? insn.jt : insn.jf;
        break;
      case OP.retK:
        return insn.k;
      default:
        assert.fail(`opcode 0x${insn.code.toString(16)}`);
    }
  }
  return assert.fail("the program did not return");
}

/** The verdict as words, so a failing assertion says what happened. */
function verdict(program: Buffer, data: SeccompData): string {
  const ret = run(program, data);
  if (ret === 0x7fff0000) return "allow";
  if (ret === 0x80000000) return "kill-process";
  if ((ret & 0xffff0000) >>> 0 === 0x00050000) {
    const errno = ret & 0xffff;
    return errno === 1 ? "EPERM" : errno === 38 ? "ENOSYS" : `errno ${errno}`;
  }
  return `0x${ret.toString(16)}`;
}

// ---------------------------------------------------------------------------
// Expectations, written out again by hand from the kernel's tables so that a
// slip in either copy shows: arch/x86/entry/syscalls/syscall_64.tbl and
// include/uapi/asm-generic/unistd.h (which aarch64 uses).
// ---------------------------------------------------------------------------

const ARCHES: readonly SeccompArch[] = ["x86_64", "aarch64"];
const AUDIT_ARCH = { x86_64: 0xc000003e, aarch64: 0xc00000b7 } as const;
const OTHER_ABIS = {
  i386: 0x40000003,
  arm: 0x40000028,
  x32orX86_64: 0xc000003e,
  aarch64: 0xc00000b7,
  riscv64: 0xc00000f3,
  zero: 0,
} as const;

/** [x86_64, aarch64]; null where the architecture has no such call. */
const ALWAYS_DENIED: Readonly<Record<string, readonly [number | null, number | null]>> = {
  ptrace: [101, 117],
  process_vm_readv: [310, 270],
  process_vm_writev: [311, 271],
  pidfd_getfd: [438, 438],
  io_uring_setup: [425, 425],
  io_uring_enter: [426, 426],
  io_uring_register: [427, 427],
  bpf: [321, 280],
  userfaultfd: [323, 282],
  perf_event_open: [298, 241],
  lookup_dcookie: [212, 18],
  syslog: [103, 116],
  fanotify_init: [300, 262],
  uselib: [134, null],
  keyctl: [250, 219],
  add_key: [248, 217],
  request_key: [249, 218],
  mount: [165, 40],
  umount2: [166, 39],
  pivot_root: [155, 41],
  chroot: [161, 51],
  open_tree: [428, 428],
  open_tree_attr: [467, 467],
  move_mount: [429, 429],
  fsopen: [430, 430],
  fsconfig: [431, 431],
  fsmount: [432, 432],
  fspick: [433, 433],
  mount_setattr: [442, 442],
  open_by_handle_at: [304, 265],
  name_to_handle_at: [303, 264],
  setns: [308, 268],
  kexec_load: [246, 104],
  kexec_file_load: [320, 294],
  init_module: [175, 105],
  finit_module: [313, 273],
  delete_module: [176, 106],
  reboot: [169, 142],
  swapon: [167, 224],
  swapoff: [168, 225],
  acct: [163, 89],
  quotactl: [179, 60],
  quotactl_fd: [443, 443],
  settimeofday: [164, 170],
  clock_settime: [227, 112],
  adjtimex: [159, 171],
  clock_adjtime: [305, 266],
  iopl: [172, null],
  ioperm: [173, null],
  vhangup: [153, 58],
};

const CONDITIONAL = {
  personality: [135, 92],
  ioctl: [16, 29],
  socket: [41, 198],
  unshare: [272, 97],
  clone: [56, 220],
  clone3: [435, 435],
} as const;

const ALLOWED = {
  read: [0, 63],
  write: [1, 64],
  openat: [257, 56],
  execve: [59, 221],
  getpid: [39, 172],
  mmap: [9, 222],
  close: [3, 57],
  exit_group: [231, 94],
  wait4: [61, 260],
  prctl: [157, 167],
  seccomp: [317, 277],
  socketpair: [53, 199],
  connect: [42, 203],
} as const;

const index = (arch: SeccompArch): 0 | 1 => (arch === "x86_64" ? 0 : 1);
const call = (arch: SeccompArch, nr: number, ...args: bigint[]): SeccompData => ({ nr, arch: AUDIT_ARCH[arch], args });

const CLONE_NEWUSER = 0x10000000n;
const CLONE_NEWNS = 0x00020000n;
const SIGCHLD = 17n;
const FORK_FLAGS = 0x01200000n | SIGCHLD; // CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD, as glibc's fork
const THREAD_FLAGS = 0x003d0f00n; // glibc pthread_create's clone flags

describe("seccomp filter: program format", () => {
  for (const arch of ARCHES) {
    test(`${arch}: whole 8-byte instructions, at most 4096, forward jumps in bounds, ends in a return`, () => {
      const program = buildSeccompFilter(arch);
      assert.equal(program.length % 8, 0);
      assert.ok(program.length / 8 <= 4096);
      verify(decode(program));
    });

    test(`${arch}: starts by loading the arch word and comparing it with AUDIT_ARCH`, () => {
      const insns = decode(buildSeccompFilter(arch));
      assert.deepEqual(insns[0], { code: OP.ldWAbs, jt: 0, jf: 0, k: 4 });
      assert.equal(insns[1]?.code, OP.jeqK);
      assert.equal(insns[1].k, AUDIT_ARCH[arch]);
      assert.deepEqual(insns[2], { code: OP.ldWAbs, jt: 0, jf: 0, k: 0 });
    });

    test(`${arch}: the bytes are the same on every build`, () => {
      assert.deepEqual(buildSeccompFilter(arch), buildSeccompFilter(arch));
    });
  }

  test("x86_64 encodes little-endian: LD W ABS 4 is 20 00 00 00 04 00 00 00", () => {
    assert.equal(buildSeccompFilter("x86_64").subarray(0, 8).toString("hex"), "2000000004000000");
  });

  test("builds for the host's architecture by default", () => {
    assert.deepEqual(buildSeccompFilter(), buildSeccompFilter(hostSeccompArch()));
  });
});

describe("seccomp filter: syscall numbers", () => {
  test("DENIED_SYSCALLS lists every call this test expects, with the same numbers", () => {
    const expected: Readonly<Record<string, readonly [number | null, number | null]>> = { ...ALWAYS_DENIED, ...CONDITIONAL };
    for (const [name, [x86, arm]] of Object.entries(expected)) {
      const row = DENIED_SYSCALLS.find((r) => r.name === name);
      assert.ok(row, `${name} is missing from DENIED_SYSCALLS`);
      assert.equal(row.nr.x86_64, x86 ?? undefined, `${name} on x86_64`);
      assert.equal(row.nr.aarch64, arm ?? undefined, `${name} on aarch64`);
    }
    assert.equal(DENIED_SYSCALLS.length, Object.keys(ALWAYS_DENIED).length + Object.keys(CONDITIONAL).length);
  });

  test("every row says why, and numbers are unique per architecture", () => {
    for (const row of DENIED_SYSCALLS) assert.ok(row.why.length > 10 && row.condition.length > 0, row.name);
    for (const arch of ARCHES) {
      const nrs = DENIED_SYSCALLS.flatMap((r) => (r.nr[arch] === undefined ? [] : [r.nr[arch]]));
      assert.equal(new Set(nrs).size, nrs.length, arch);
    }
  });

  // The installed kernel headers are a third, independent copy of the tables.
  const headers = {
    x86_64: ["/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h"].find((p) => existsSync(p)),
    aarch64: ["/usr/include/asm-generic/unistd.h"].find((p) => existsSync(p)),
  };
  for (const arch of ARCHES) {
    const header = headers[arch];
    test(`${arch}: numbers agree with the installed kernel header`, (t) => {
      if (header === undefined) {
        t.skip(`no ${arch} syscall header installed (linux-libc-dev), nothing to compare with`);
        return;
      }
      const defines = new Map<string, number>();
      for (const m of readFileSync(header, "utf8").matchAll(/^#define __NR(?:3264)?_(\w+)\s+(\d+)\s*$/gm)) {
        const [, name, nr] = m;
        if (name !== undefined && nr !== undefined) defines.set(name, Number(nr));
      }
      let compared = 0;
      for (const row of DENIED_SYSCALLS) {
        const ours = row.nr[arch];
        const theirs = defines.get(row.name);
        if (theirs === undefined) {
          // Newer than the header (open_tree_attr, kernel 6.15), or absent on this arch.
          t.diagnostic(`${row.name}: not in ${header}`);
          continue;
        }
        assert.equal(ours, theirs, `${row.name} on ${arch}: ours ${ours}, ${header} says ${theirs}`);
        compared++;
      }
      assert.ok(compared >= DENIED_SYSCALLS.length - 4, `compared only ${compared} rows`);
      for (const [name, nrs] of Object.entries(ALLOWED)) assert.equal(defines.get(name), nrs[index(arch)], name);
    });
  }
});

describe("seccomp filter: verdicts", () => {
  for (const arch of ARCHES) {
    const program = buildSeccompFilter(arch);
    const i = index(arch);

    test(`${arch}: every always-denied syscall fails with EPERM`, () => {
      for (const [name, nrs] of Object.entries(ALWAYS_DENIED)) {
        const nr = nrs[i];
        if (nr === null) continue;
        assert.equal(verdict(program, call(arch, nr)), "EPERM", name);
        assert.equal(verdict(program, call(arch, nr, 0xffffffffffffffffn, 1n, 2n, 3n, 4n, 5n)), "EPERM", `${name} with arguments`);
      }
    });

    test(`${arch}: ordinary syscalls are allowed`, () => {
      for (const [name, nrs] of Object.entries(ALLOWED)) assert.equal(verdict(program, call(arch, nrs[i], 3n, 0x7ffd0000n, 4096n)), "allow", name);
    });

    test(`${arch}: a numbers-only sweep: every nr 0..1023 not in the table is allowed`, () => {
      const denied = new Set(DENIED_SYSCALLS.flatMap((r) => (r.nr[arch] === undefined ? [] : [r.nr[arch]])));
      for (let nr = 0; nr < 1024; nr++) {
        if (denied.has(nr)) continue;
        assert.equal(verdict(program, call(arch, nr)), "allow", `nr ${nr}`);
      }
    });

    test(`${arch}: a foreign architecture value kills the process, whatever the call`, () => {
      for (const [abi, value] of Object.entries(OTHER_ABIS)) {
        if (value === AUDIT_ARCH[arch]) continue;
        for (const nr of [0, 1, 39, 59, 101, 172, 435]) assert.equal(verdict(program, { nr, arch: value }), "kill-process", `${abi} nr ${nr}`);
      }
    });

    test(`${arch}: clone3 fails with ENOSYS so libc falls back to clone`, () => {
      assert.equal(verdict(program, call(arch, CONDITIONAL.clone3[i])), "ENOSYS");
    });

    test(`${arch}: clone and unshare with CLONE_NEWUSER are denied, other flags pass`, () => {
      for (const name of ["clone", "unshare"] as const) {
        const nr = CONDITIONAL[name][i];
        assert.equal(verdict(program, call(arch, nr, CLONE_NEWUSER)), "EPERM", `${name}(CLONE_NEWUSER)`);
        assert.equal(verdict(program, call(arch, nr, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD)), "EPERM", `${name}(NEWUSER|NEWNS)`);
        assert.equal(verdict(program, call(arch, nr, 0xffffffffffffffffn)), "EPERM", `${name}(all bits)`);
        assert.equal(verdict(program, call(arch, nr, CLONE_NEWNS)), "allow", `${name}(CLONE_NEWNS)`);
        assert.equal(verdict(program, call(arch, nr, 0n)), "allow", `${name}(0)`);
        // Bits above 31 are ignored (clone) or refused with EINVAL (unshare) by the kernel.
        assert.equal(verdict(program, call(arch, nr, 0xffffffff00000000n | SIGCHLD)), "allow", `${name}(high bits)`);
      }
      const clone = CONDITIONAL.clone[i];
      assert.equal(verdict(program, call(arch, clone, FORK_FLAGS, 0n, 0n, 0n, 0n)), "allow", "fork's clone");
      assert.equal(verdict(program, call(arch, clone, THREAD_FLAGS, 0x7f0000000000n)), "allow", "pthread_create's clone");
      assert.equal(verdict(program, call(arch, clone, THREAD_FLAGS | CLONE_NEWUSER)), "EPERM", "a thread in a new user namespace");
    });

    test(`${arch}: personality allows only PER_LINUX, PER_LINUX32, UNAME26 and the query`, () => {
      const nr = CONDITIONAL.personality[i];
      for (const persona of [0n, 8n, 0x20000n, 0x20008n, 0xffffffffn, 0xffffffff00000000n]) {
        assert.equal(verdict(program, call(arch, nr, persona)), "allow", `personality(0x${persona.toString(16)})`);
      }
      // ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ADDR_COMPAT_LAYOUT, MMAP_PAGE_ZERO, PER_BSD, and those hidden above bit 31.
      for (const persona of [0x0040000n, 0x0400000n, 0x0200000n, 0x0100000n, 0x0008n | 0x0040000n, 6n, 0x100040000n, 0xfffffffen]) {
        assert.equal(verdict(program, call(arch, nr, persona)), "EPERM", `personality(0x${persona.toString(16)})`);
      }
    });

    test(`${arch}: ioctl TIOCSTI and TIOCLINUX are denied, even with high bits set; other requests pass`, () => {
      const nr = CONDITIONAL.ioctl[i];
      for (const request of [0x5412n, 0x541cn, 0x100005412n, 0xffffffff0000541cn]) {
        assert.equal(verdict(program, call(arch, nr, 0n, request, 0n)), "EPERM", `ioctl(0x${request.toString(16)})`);
      }
      // The request word is arg 1, not arg 0: fd 0x5412 is just a file descriptor.
      assert.equal(verdict(program, call(arch, nr, 0x5412n, 0x5401n)), "allow", "fd 0x5412, TCGETS");
      for (const request of [0x5401n, 0x541bn, 0x5413n, 0x40045431n, 0x80045430n]) {
        assert.equal(verdict(program, call(arch, nr, 1n, request, 0n)), "allow", `ioctl(0x${request.toString(16)})`);
      }
    });

    test(`${arch}: socket(AF_PACKET) is denied; AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK pass`, () => {
      const nr = CONDITIONAL.socket[i];
      assert.equal(verdict(program, call(arch, nr, 17n, 3n, 0x300n)), "EPERM", "AF_PACKET");
      assert.equal(verdict(program, call(arch, nr, 0xffffffff00000011n, 3n, 0n)), "EPERM", "AF_PACKET with high bits");
      for (const domain of [1n, 2n, 10n, 16n]) assert.equal(verdict(program, call(arch, nr, domain, 1n, 0n)), "allow", `domain ${domain}`);
    });
  }

  test("x86_64: any syscall number with the x32 bit set fails with EPERM", () => {
    const program = buildSeccompFilter("x86_64");
    for (const nr of [0, 1, 39, 59, 101, 435, 512, 521, 545, 0x3fffffff]) {
      assert.equal(verdict(program, call("x86_64", 0x40000000 + nr)), "EPERM", `x32 nr ${nr}`);
    }
    assert.equal(verdict(program, call("x86_64", 0xffffffff)), "EPERM", "nr -1");
  });

  test("the tables are per architecture: x86_64's ptrace number is aarch64's nanosleep", () => {
    assert.equal(verdict(buildSeccompFilter("aarch64"), call("aarch64", 101, 0n, 0n)), "allow");
    assert.equal(verdict(buildSeccompFilter("x86_64"), call("x86_64", 101)), "EPERM");
  });
});

describe("seccomp filter: host architecture", () => {
  test("maps Node's arch names", () => {
    assert.equal(hostSeccompArch("x64"), "x86_64");
    assert.equal(hostSeccompArch("arm64"), "aarch64");
  });

  test("refuses an architecture it has no tables for, saying the sandbox cannot apply a filter", () => {
    for (const arch of ["ia32", "arm", "riscv64", "s390x", "ppc64"]) {
      assert.throws(() => hostSeccompArch(arch), isAegis("EXECUTOR_REFUSED", /cannot apply a seccomp filter on/));
    }
  });
});

describe("seccomp filter: assembler", () => {
  test("computes forward offsets for labels", () => {
    const program = assembleBpf([bpf.load(0), bpf.jeq(7, "yes", "no"), bpf.ret(1), bpf.label("no"), bpf.ret(2), bpf.label("yes"), bpf.ret(3)]);
    const insns = decode(program);
    assert.deepEqual(insns[1], { code: OP.jeqK, jt: 2, jf: 1, k: 7 });
    assert.equal(run(program, { nr: 7, arch: 0 }), 3);
    assert.equal(run(program, { nr: 8, arch: 0 }), 2);
  });

  test("encodes AND, JGE and JA, which the interpreter runs like the kernel", () => {
    const program = assembleBpf([bpf.load(0), bpf.and(0xff), bpf.jge(0x80, "high"), bpf.ja("low"), bpf.ret(9), bpf.label("low"), bpf.ret(1), bpf.label("high"), bpf.ret(2)]);
    assert.equal(run(program, { nr: 0x1ff, arch: 0 }), 2);
    assert.equal(run(program, { nr: 0x17f, arch: 0 }), 1);
  });

  test("throws instead of emitting a conditional jump beyond 255 instructions", () => {
    const filler = Array.from({ length: 256 }, () => bpf.ret(0));
    assert.throws(() => assembleBpf([bpf.load(0), bpf.jeq(1, "far"), ...filler, bpf.label("far"), bpf.ret(1)]), isAegis("EXECUTOR_REFUSED", /256 instructions ahead/));
    // 255 is exactly reachable, and JA reaches further.
    const ok = assembleBpf([bpf.load(0), bpf.jeq(1, "far"), ...filler.slice(1), bpf.label("far"), bpf.ret(1)]);
    assert.equal(run(ok, { nr: 1, arch: 0 }), 1);
    const long = assembleBpf([bpf.ja("far"), ...filler, ...filler, bpf.label("far"), bpf.ret(5)]);
    assert.equal(run(long, { nr: 0, arch: 0 }), 5);
  });

  test("throws on backward jumps, unknown or duplicate labels, and labels past the end", () => {
    assert.throws(() => assembleBpf([bpf.label("top"), bpf.load(0), bpf.jeq(1, "top"), bpf.ret(0)]), isAegis("EXECUTOR_REFUSED", /backwards/));
    assert.throws(() => assembleBpf([bpf.load(0), bpf.jeq(1, "nowhere"), bpf.ret(0)]), isAegis("EXECUTOR_REFUSED", /undefined label/));
    assert.throws(() => assembleBpf([bpf.label("a"), bpf.label("a"), bpf.ret(0)]), isAegis("EXECUTOR_REFUSED", /defined twice/));
    assert.throws(() => assembleBpf([bpf.ja("end"), bpf.ret(0), bpf.label("end")]), isAegis("EXECUTOR_REFUSED", /end of the program/));
  });

  test("throws on programs the kernel would reject", () => {
    assert.throws(() => assembleBpf([]), isAegis("EXECUTOR_REFUSED", /empty/));
    assert.throws(() => assembleBpf([bpf.ret(0), bpf.load(0)]), isAegis("EXECUTOR_REFUSED", /not a return/));
    assert.throws(() => assembleBpf(Array.from({ length: 4097 }, () => bpf.ret(0))), isAegis("EXECUTOR_REFUSED", /at most 4096/));
    for (const offset of [2, 64, -4, 60.5]) assert.throws(() => assembleBpf([bpf.load(offset), bpf.ret(0)]), isAegis("EXECUTOR_REFUSED", /aligned word/), String(offset));
    for (const k of [-1, 2 ** 32, 1.5]) assert.throws(() => assembleBpf([bpf.ret(k)]), isAegis("EXECUTOR_REFUSED", /32-bit/), String(k));
  });

  test("the filter's steps assemble to the filter", () => {
    for (const arch of ARCHES) assert.deepEqual(assembleBpf(seccompFilterSteps(arch)), buildSeccompFilter(arch));
  });
});
