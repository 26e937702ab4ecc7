/**
 * The seccomp filter every bubblewrap sandbox runs under (DESIGN §3, invariant 6).
 *
 * `bwrap --seccomp FD` reads a classic-BPF program (`struct sock_filter[]`, 8
 * bytes per instruction) from FD and installs it just before it execs the
 * tool. No C toolchain or libseccomp is needed at run time: the program is
 * assembled here, from the table `DENIED_SYSCALLS`, by a tiny assembler that
 * computes every jump offset and refuses to emit a jump it cannot encode.
 *
 * What the program does, in order:
 * 1. A call made through another ABI than this architecture's (i386 `int 0x80`
 *    on x86_64, arm32 on aarch64) kills the process: syscall numbers differ
 *    between ABIs, so a table written for one says nothing about the other.
 * 2. On x86_64, any number with the x32 bit set fails with EPERM: x32 aliases
 *    every call under other numbers.
 * 3. Each syscall in `DENIED_SYSCALLS` fails with its errno, always or when its
 *    arguments match (CLONE_NEWUSER in clone/unshare flags, TIOCSTI in ioctl,
 *    AF_PACKET in socket, a personality outside the harmless few).
 * 4. Everything else is allowed: the filter narrows kernel attack surface, the
 *    namespaces, dropped capabilities and the mounts do the confining.
 *
 * Argument checks read the low 32 bits of a 64-bit argument (the first word on
 * the little-endian machines supported here). Every checked argument is one the
 * kernel itself truncates to 32 bits (`unsigned int cmd`, `int family`,
 * `unsigned int personality`, clone flags through `lower_32_bits`, and unshare
 * rejects any higher bit), so setting high bits cannot smuggle a value past
 * the filter.
 */
import { AegisError } from "../errors.ts";

export type SeccompArch = "x86_64" | "aarch64";

/** AUDIT_ARCH_* from <linux/audit.h>: the ELF machine | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE. */
export const AUDIT_ARCH: Readonly<Record<SeccompArch, number>> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };

/** Verdicts from <linux/seccomp.h>. SECCOMP_RET_ERRNO carries the errno in its low 16 bits. */
export const SECCOMP_RET = { killProcess: 0x80000000, errno: 0x00050000, allow: 0x7fff0000 } as const;

export const ERRNO = { EPERM: 1, ENOSYS: 38 } as const;
export type DenyErrno = keyof typeof ERRNO;

/** x86_64's __X32_SYSCALL_BIT: x32-ABI calls are the x86_64 numbers plus this bit (and 512+ for some). */
export const X32_SYSCALL_BIT = 0x40000000;

/** Offsets into `struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }`. */
const SECCOMP_DATA = { nr: 0, arch: 4, args: 16, size: 64 } as const;

/** The kernel refuses longer programs (BPF_MAXINSNS). */
export const BPF_MAX_INSTRUCTIONS = 4096;

// ---------------------------------------------------------------------------
// The policy: one row per syscall, with its number on each architecture.
// x86_64 numbers are from arch/x86/entry/syscalls/syscall_64.tbl, aarch64 from
// include/uapi/asm-generic/unistd.h (aarch64 has no table of its own). A call
// missing from an architecture (the x86 I/O-port calls) has no number there.
// `umount` has no number on either: both have only `umount2`.
// ---------------------------------------------------------------------------

/** When a row applies, judged on the low 32 bits of one argument. */
export type SyscallCondition =
  | { readonly kind: "always" }
  /** Denied when any bit of `mask` is set in the argument. */
  | { readonly kind: "any-bit"; readonly arg: number; readonly mask: number }
  /** Denied when the argument is one of `values`. */
  | { readonly kind: "one-of"; readonly arg: number; readonly values: readonly number[] }
  /** Denied unless the argument is one of `values`. */
  | { readonly kind: "none-of"; readonly arg: number; readonly values: readonly number[] };

export interface DeniedSyscall {
  readonly name: string;
  /** The syscall number per architecture; absent where the architecture has no such call. */
  readonly nr: Readonly<Partial<Record<SeccompArch, number>>>;
  readonly errno: DenyErrno;
  readonly when: SyscallCondition;
  /** In words, for `doctor` and the docs. */
  readonly condition: string;
  readonly why: string;
}

const CLONE_NEWUSER = 0x10000000;
const AF_PACKET = 17;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;
/** PER_LINUX, PER_LINUX32, UNAME26, PER_LINUX32|UNAME26, and 0xffffffff (query only). */
const HARMLESS_PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff] as const;

const ALWAYS: SyscallCondition = { kind: "always" };

function always(name: string, x86_64: number | undefined, aarch64: number | undefined, why: string): DeniedSyscall {
  const nr: Partial<Record<SeccompArch, number>> = {};
  if (x86_64 !== undefined) nr.x86_64 = x86_64;
  if (aarch64 !== undefined) nr.aarch64 = aarch64;
  return { name, nr, errno: "EPERM", when: ALWAYS, condition: "always", why };
}

const WHY = {
  otherProcess: "reads or changes another process's memory or files: the classic way to steal secrets from, or take over, a neighbour",
  ioUring: "io_uring performs I/O outside the syscall path this filter sees, and has been a steady source of kernel exploits",
  keyring: "the kernel keyring is not namespaced: keys could be read or planted across the sandbox boundary",
  mount: "changes the filesystem view the sandbox was built with",
  kexec: "replaces the running kernel",
  module: "loads or unloads kernel code",
  swap: "changes the host's swap devices",
  clock: "changes the host's clock, which no namespace isolates",
  ioPorts: "direct access to hardware I/O ports",
} as const;

export const DENIED_SYSCALLS: readonly DeniedSyscall[] = [
  // Other processes.
  always("ptrace", 101, 117, WHY.otherProcess),
  always("process_vm_readv", 310, 270, WHY.otherProcess),
  always("process_vm_writev", 311, 271, WHY.otherProcess),
  always("pidfd_getfd", 438, 438, "copies a file descriptor out of another process"),
  // Kernel attack surface an ordinary tool never needs.
  always("io_uring_setup", 425, 425, WHY.ioUring),
  always("io_uring_enter", 426, 426, WHY.ioUring),
  always("io_uring_register", 427, 427, WHY.ioUring),
  always("bpf", 321, 280, "loads programs into the kernel: a large attack surface"),
  always("userfaultfd", 323, 282, "lets a process stall the kernel on a page fault, the usual way to win a kernel race"),
  always("perf_event_open", 298, 241, "performance counters leak kernel addresses and have a long history of kernel bugs"),
  always("lookup_dcookie", 212, 18, "profiling interface that reveals kernel-side paths"),
  always("syslog", 103, 116, "reads the kernel log, which leaks kernel addresses"),
  always("fanotify_init", 300, 262, "watches file access across the filesystem"),
  always("uselib", 134, undefined, "obsolete library loader with a history of exploits"),
  // The kernel keyring.
  always("keyctl", 250, 219, WHY.keyring),
  always("add_key", 248, 217, WHY.keyring),
  always("request_key", 249, 218, WHY.keyring),
  // Mounts and the root directory.
  always("mount", 165, 40, WHY.mount),
  always("umount2", 166, 39, WHY.mount),
  always("pivot_root", 155, 41, WHY.mount),
  always("chroot", 161, 51, WHY.mount),
  always("open_tree", 428, 428, WHY.mount),
  always("open_tree_attr", 467, 467, WHY.mount),
  always("move_mount", 429, 429, WHY.mount),
  always("fsopen", 430, 430, WHY.mount),
  always("fsconfig", 431, 431, WHY.mount),
  always("fsmount", 432, 432, WHY.mount),
  always("fspick", 433, 433, WHY.mount),
  always("mount_setattr", 442, 442, WHY.mount),
  always("open_by_handle_at", 304, 265, "opens a file by handle, bypassing the mounts (the 'shocker' container escape)"),
  always("name_to_handle_at", 303, 264, "makes the file handles open_by_handle_at takes"),
  // Namespaces.
  always("setns", 308, 268, "joins another namespace, leaving the sandbox's"),
  {
    name: "unshare",
    nr: { x86_64: 272, aarch64: 97 },
    errno: "EPERM",
    when: { kind: "any-bit", arg: 0, mask: CLONE_NEWUSER },
    condition: "flags include CLONE_NEWUSER",
    why: "a new user namespace grants every capability inside it, reopening kernel code meant for root",
  },
  {
    name: "clone",
    nr: { x86_64: 56, aarch64: 220 },
    errno: "EPERM",
    when: { kind: "any-bit", arg: 0, mask: CLONE_NEWUSER },
    condition: "flags include CLONE_NEWUSER",
    why: "a new user namespace grants every capability inside it, reopening kernel code meant for root",
  },
  {
    name: "clone3",
    nr: { x86_64: 435, aarch64: 435 },
    errno: "ENOSYS",
    when: ALWAYS,
    condition: "always (ENOSYS, so libc falls back to clone)",
    why: "its flags are in memory the filter cannot read, so CLONE_NEWUSER could not be refused; libc retries with clone",
  },
  // The machine itself.
  always("kexec_load", 246, 104, WHY.kexec),
  always("kexec_file_load", 320, 294, WHY.kexec),
  always("init_module", 175, 105, WHY.module),
  always("finit_module", 313, 273, WHY.module),
  always("delete_module", 176, 106, WHY.module),
  always("reboot", 169, 142, "reboots or halts the host"),
  always("swapon", 167, 224, WHY.swap),
  always("swapoff", 168, 225, WHY.swap),
  always("acct", 163, 89, "turns process accounting on, writing to a file of the caller's choice"),
  always("quotactl", 179, 60, "changes disk quotas"),
  always("quotactl_fd", 443, 443, "changes disk quotas"),
  always("settimeofday", 164, 170, WHY.clock),
  always("clock_settime", 227, 112, WHY.clock),
  always("adjtimex", 159, 171, WHY.clock),
  always("clock_adjtime", 305, 266, WHY.clock),
  always("iopl", 172, undefined, WHY.ioPorts),
  always("ioperm", 173, undefined, WHY.ioPorts),
  always("vhangup", 153, 58, "hangs up the terminal"),
  // Calls allowed except for dangerous arguments.
  {
    name: "personality",
    nr: { x86_64: 135, aarch64: 92 },
    errno: "EPERM",
    when: { kind: "none-of", arg: 0, values: HARMLESS_PERSONALITIES },
    condition: "unless the persona is PER_LINUX, PER_LINUX32, UNAME26, both, or a query",
    why: "flags such as ADDR_NO_RANDOMIZE and READ_IMPLIES_EXEC switch off exploit mitigations",
  },
  {
    name: "ioctl",
    nr: { x86_64: 16, aarch64: 29 },
    errno: "EPERM",
    when: { kind: "one-of", arg: 1, values: [TIOCSTI, TIOCLINUX] },
    condition: "request is TIOCSTI or TIOCLINUX",
    why: "pushes keystrokes into the terminal, typing commands into the user's shell once the tool exits",
  },
  {
    name: "socket",
    nr: { x86_64: 41, aarch64: 198 },
    errno: "EPERM",
    when: { kind: "one-of", arg: 0, values: [AF_PACKET] },
    condition: "domain is AF_PACKET",
    why: "raw link-layer sockets read and forge traffic beneath the egress proxy",
  },
];

// ---------------------------------------------------------------------------
// A classic-BPF assembler: just the instructions seccomp needs, with labels.
// ---------------------------------------------------------------------------

/** A jump target: a label, or undefined for the next instruction. */
export type BpfTarget = string | undefined;

export type BpfStep =
  | { readonly op: "label"; readonly name: string }
  /** A = the 32-bit word at `offset` in seccomp_data. */
  | { readonly op: "load"; readonly offset: number }
  /** A &= k. */
  | { readonly op: "and"; readonly k: number }
  /** if (A == k) / ((A & k) != 0) / (A >= k) then ifTrue else ifFalse; both at most 255 instructions ahead. */
  | { readonly op: "jeq" | "jset" | "jge"; readonly k: number; readonly ifTrue: BpfTarget; readonly ifFalse: BpfTarget }
  /** Unconditional jump; its 32-bit offset reaches anywhere forward. */
  | { readonly op: "ja"; readonly to: string }
  | { readonly op: "ret"; readonly k: number };

export const bpf = {
  label: (name: string): BpfStep => ({ op: "label", name }),
  load: (offset: number): BpfStep => ({ op: "load", offset }),
  and: (k: number): BpfStep => ({ op: "and", k }),
  jeq: (k: number, ifTrue: BpfTarget, ifFalse?: BpfTarget): BpfStep => ({ op: "jeq", k, ifTrue, ifFalse }),
  jset: (k: number, ifTrue: BpfTarget, ifFalse?: BpfTarget): BpfStep => ({ op: "jset", k, ifTrue, ifFalse }),
  jge: (k: number, ifTrue: BpfTarget, ifFalse?: BpfTarget): BpfStep => ({ op: "jge", k, ifTrue, ifFalse }),
  ja: (to: string): BpfStep => ({ op: "ja", to }),
  ret: (k: number): BpfStep => ({ op: "ret", k }),
} as const;

/** Opcodes from <linux/filter.h>: class | size | mode, class | op | source. */
export const BPF_OPCODE = {
  ldWAbs: 0x00 | 0x00 | 0x20, // BPF_LD | BPF_W | BPF_ABS
  andK: 0x04 | 0x50 | 0x00, // BPF_ALU | BPF_AND | BPF_K
  ja: 0x05 | 0x00, // BPF_JMP | BPF_JA
  jeqK: 0x05 | 0x10 | 0x00, // BPF_JMP | BPF_JEQ | BPF_K
  jgeK: 0x05 | 0x30 | 0x00, // BPF_JMP | BPF_JGE | BPF_K
  jsetK: 0x05 | 0x40 | 0x00, // BPF_JMP | BPF_JSET | BPF_K
  retK: 0x06 | 0x00, // BPF_RET | BPF_K
} as const;

const BPF_INSTRUCTION_BYTES = 8;
const MAX_CONDITIONAL_JUMP = 255;

function refuse(message: string): AegisError {
  return new AegisError("EXECUTOR_REFUSED", `seccomp filter: ${message}; the sandbox will not run without a correct filter.`);
}

function checkU32(k: number, what: string): number {
  if (!Number.isInteger(k) || k < 0 || k > 0xffffffff) throw refuse(`${what} ${k} is not a 32-bit unsigned value`);
  return k;
}

/**
 * Encodes steps as `struct sock_filter[]` (u16 code, u8 jt, u8 jf, u32 k, little-endian).
 * Throws rather than emit a wrong program: unknown or duplicate labels, backward
 * jumps, conditional jumps beyond 255 instructions, misaligned loads, a last
 * instruction that is not a return, or more than 4096 instructions.
 */
export function assembleBpf(steps: readonly BpfStep[]): Buffer {
  const labels = new Map<string, number>();
  let count = 0;
  for (const step of steps) {
    if (step.op === "label") {
      if (labels.has(step.name)) throw refuse(`label "${step.name}" is defined twice`);
      labels.set(step.name, count);
    } else {
      count++;
    }
  }
  if (count === 0) throw refuse("the program is empty");
  if (count > BPF_MAX_INSTRUCTIONS) throw refuse(`the program has ${count} instructions; the kernel accepts at most ${BPF_MAX_INSTRUCTIONS}`);

  const out = Buffer.alloc(count * BPF_INSTRUCTION_BYTES);
  const offsetTo = (label: string, pc: number, limit: number): number => {
    const target = labels.get(label);
    if (target === undefined) throw refuse(`jump at instruction ${pc} to undefined label "${label}"`);
    if (target >= count) throw refuse(`label "${label}" marks the end of the program, not an instruction`);
    const offset = target - (pc + 1);
    if (offset < 0) throw refuse(`jump at instruction ${pc} to "${label}" goes backwards; BPF jumps only forward`);
    if (offset > limit) throw refuse(`jump at instruction ${pc} to "${label}" is ${offset} instructions ahead; a conditional jump reaches at most ${limit}`);
    return offset;
  };
  const conditionalOffset = (target: BpfTarget, pc: number): number => (target === undefined ? 0 : offsetTo(target, pc, MAX_CONDITIONAL_JUMP));

  let pc = 0;
  let lastOp: BpfStep["op"] = "label";
  for (const step of steps) {
    if (step.op === "label") continue;
    let code: number;
    let jt = 0;
    let jf = 0;
    let k: number;
    switch (step.op) {
      case "load":
        if (!Number.isInteger(step.offset) || step.offset < 0 || step.offset % 4 !== 0 || step.offset + 4 > SECCOMP_DATA.size) {
          throw refuse(`load at instruction ${pc} from offset ${step.offset} is not an aligned word inside seccomp_data`);
        }
        code = BPF_OPCODE.ldWAbs;
        k = step.offset;
        break;
      case "and":
        code = BPF_OPCODE.andK;
        k = checkU32(step.k, "AND operand");
        break;
      case "jeq":
      case "jset":
      case "jge":
        code = step.op === "jeq" ? BPF_OPCODE.jeqK : step.op === "jset" ? BPF_OPCODE.jsetK : BPF_OPCODE.jgeK;
        k = checkU32(step.k, "comparison operand");
        jt = conditionalOffset(step.ifTrue, pc);
        jf = conditionalOffset(step.ifFalse, pc);
        break;
      case "ja":
        code = BPF_OPCODE.ja;
        k = offsetTo(step.to, pc, 0xffffffff);
        break;
      case "ret":
        code = BPF_OPCODE.retK;
        k = checkU32(step.k, "return value");
        break;
    }
    const at = pc * BPF_INSTRUCTION_BYTES;
    out.writeUInt16LE(code, at);
    out.writeUInt8(jt, at + 2);
    out.writeUInt8(jf, at + 3);
    out.writeUInt32LE(k, at + 4);
    lastOp = step.op;
    pc++;
  }
  if (lastOp !== "ret") throw refuse("the last instruction is not a return, so the kernel would reject the program");
  return out;
}

// ---------------------------------------------------------------------------
// The filter.
// ---------------------------------------------------------------------------

/** The architecture whose filter this process's children need. */
export function hostSeccompArch(nodeArch: string = process.arch): SeccompArch {
  if (nodeArch === "x64") return "x86_64";
  if (nodeArch === "arm64") return "aarch64";
  throw new AegisError(
    "EXECUTOR_REFUSED",
    `The sandbox cannot apply a seccomp filter on ${nodeArch}: filters exist only for x86_64 and aarch64. Run tools on one of those, or use a gVisor or Docker backend.`,
    { details: { arch: nodeArch } },
  );
}

const VERDICT_LABEL: Readonly<Record<DenyErrno, string>> = { EPERM: "deny-eperm", ENOSYS: "deny-enosys" };
const KILL_LABEL = "kill";
const ALLOW_LABEL = "allow";

const argOffset = (arg: number): number => {
  if (!Number.isInteger(arg) || arg < 0 || arg > 5) throw refuse(`argument index ${arg} does not exist; syscalls take at most 6`);
  return SECCOMP_DATA.args + 8 * arg;
};

/** The steps of the filter for `arch`, before assembly (exported for tests and `doctor --verbose`). */
export function seccompFilterSteps(arch: SeccompArch): BpfStep[] {
  const rules = DENIED_SYSCALLS.flatMap((rule) => {
    const nr = rule.nr[arch];
    return nr === undefined ? [] : [{ rule, nr }];
  });
  const seen = new Map<number, string>();
  for (const { rule, nr } of rules) {
    const other = seen.get(nr);
    if (other !== undefined) throw refuse(`${rule.name} and ${other} share number ${nr} on ${arch}`);
    seen.set(nr, rule.name);
  }

  const steps: BpfStep[] = [
    bpf.load(SECCOMP_DATA.arch),
    bpf.jeq(AUDIT_ARCH[arch], undefined, KILL_LABEL),
    bpf.load(SECCOMP_DATA.nr),
  ];
  if (arch === "x86_64") steps.push(bpf.jset(X32_SYSCALL_BIT, VERDICT_LABEL.EPERM));

  const argumentChecks: BpfStep[] = [];
  for (const { rule, nr } of rules) {
    const verdict = VERDICT_LABEL[rule.errno];
    const when = rule.when;
    if (when.kind === "always") {
      steps.push(bpf.jeq(nr, verdict));
      continue;
    }
    const block = `args-${rule.name}`;
    steps.push(bpf.jeq(nr, block));
    argumentChecks.push(bpf.label(block), bpf.load(argOffset(when.arg)));
    switch (when.kind) {
      case "any-bit":
        argumentChecks.push(bpf.jset(checkU32(when.mask, "mask"), verdict, ALLOW_LABEL));
        break;
      case "one-of":
        if (when.values.length === 0) throw refuse(`${rule.name} lists no argument values`);
        when.values.forEach((value, i) => {
          argumentChecks.push(bpf.jeq(value, verdict, i === when.values.length - 1 ? ALLOW_LABEL : undefined));
        });
        break;
      case "none-of":
        if (when.values.length === 0) throw refuse(`${rule.name} lists no argument values`);
        when.values.forEach((value, i) => {
          argumentChecks.push(bpf.jeq(value, ALLOW_LABEL, i === when.values.length - 1 ? verdict : undefined));
        });
        break;
    }
  }
  steps.push(bpf.ret(SECCOMP_RET.allow), ...argumentChecks);
  steps.push(
    bpf.label(KILL_LABEL),
    bpf.ret(SECCOMP_RET.killProcess),
    bpf.label(VERDICT_LABEL.EPERM),
    bpf.ret(SECCOMP_RET.errno | ERRNO.EPERM),
    bpf.label(VERDICT_LABEL.ENOSYS),
    bpf.ret(SECCOMP_RET.errno | ERRNO.ENOSYS),
    bpf.label(ALLOW_LABEL),
    bpf.ret(SECCOMP_RET.allow),
  );
  return steps;
}

/** The raw filter program for `bwrap --seccomp FD`: `struct sock_filter[]`, little-endian. */
export function buildSeccompFilter(arch: SeccompArch = hostSeccompArch()): Buffer {
  return assembleBpf(seccompFilterSteps(arch));
}
