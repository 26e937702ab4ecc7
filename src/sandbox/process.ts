/**
 * Starting a sandbox's launcher process with bounded output, a deadline and
 * cancellation: the one implementation every backend uses. The process gets
 * its own process group (killed whole at the deadline), a minimal
 * environment, and optional extra inputs on fds 3, 4, ….
 */
import { spawn } from "node:child_process";
import { AegisError } from "../errors.ts";
import type { SandboxSpec, Violation } from "./backend.ts";

export interface BoundedProcessResult {
  exitCode: number;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  droppedBytes: { stdout: number; stderr: number };
  durationMs: number;
  violations: Violation[];
  /** The deadline passed or the action was cancelled, and `kill` was called. */
  killed: boolean;
}

export interface BoundedProcessOptions {
  /** Written to file descriptors 3, 4, … of the child, each then closed. */
  readonly fdInputs?: readonly Buffer[];
  /** Stops everything the process started; called once, at the deadline or on cancel. */
  readonly kill?: () => void;
  /** How long `kill` gets to stop the process before its whole process group is SIGKILLed; default 0 (at once). */
  readonly groupKillDelayMs?: number;
  /** How long to wait for the pipes to close after the kill before giving up on them. */
  readonly killGraceMs?: number;
}

export const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGXCPU: 24, SIGXFSZ: 25, SIGSYS: 31 };

/**
 * Spawns `argv` in a new process group with a minimal environment; keeps at
 * most `limits.outputBytes` of stdout and of stderr each (counting the rest);
 * at the deadline or on cancel calls `options.kill` and SIGKILLs the group.
 */
export function runBoundedProcess(argv: readonly string[], spec: SandboxSpec, options: BoundedProcessOptions = {}): Promise<BoundedProcessResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const [file, ...rest] = argv;
    if (file === undefined) {
      reject(new AegisError("EXECUTOR_REFUSED", "nothing to run: argv is empty"));
      return;
    }
    const inputs = options.fdInputs ?? [];
    const child = spawn(file, rest, { env: { PATH: "/usr/bin:/bin" }, stdio: [spec.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe", ...inputs.map(() => "pipe" as const)], detached: true });
    // Extra inputs on fds 3, 4, …: read whole by the launched program (bwrap's seccomp program and options). If it
    // exits before reading all of one, the pipe breaks; its exit status says why, so the pipe error is not news.
    inputs.forEach((bytes, i) => {
      const pipe = child.stdio[3 + i] as (NodeJS.WritableStream & NodeJS.EventEmitter) | null;
      pipe?.on("error", () => undefined);
      pipe?.end(bytes);
    });
    const violations: Violation[] = [];
    const kept = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    const size = { stdout: 0, stderr: 0 };
    const dropped = { stdout: 0, stderr: 0 };
    const limit = spec.limits.outputBytes;
    const collect = (stream: "stdout" | "stderr") => (b: Buffer): void => {
      const room = Math.max(0, limit - size[stream]);
      const keep = b.subarray(0, room);
      if (keep.length > 0) {
        kept[stream].push(keep);
        spec.onOutput?.(stream, keep);
      }
      size[stream] += keep.length;
      dropped[stream] += b.length - keep.length;
    };
    child.stdout?.on("data", collect("stdout"));
    child.stderr?.on("data", collect("stderr"));
    if (spec.stdin !== undefined) {
      child.stdin?.on("error", () => {
        // The tool did not read all of its input: not an error of ours.
      });
      child.stdin?.end(spec.stdin);
    }
    let killed = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    let grace: NodeJS.Timeout | undefined;
    let groupTimer: NodeJS.Timeout | undefined;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      clearTimeout(groupTimer);
      spec.signal?.removeEventListener("abort", onAbort);
      if (dropped.stdout + dropped.stderr > 0) violations.push({ kind: "output-truncated", message: `output beyond ${limit} bytes per stream was dropped (${dropped.stdout} bytes of stdout, ${dropped.stderr} of stderr)` });
      resolve({
        exitCode: code ?? 128 + (signal === null ? 0 : (SIGNAL_NUMBERS[signal] ?? 0)),
        signal,
        stdout: Buffer.concat(kept.stdout),
        stderr: Buffer.concat(kept.stderr),
        droppedBytes: dropped,
        durationMs: performance.now() - started,
        violations,
        killed,
      });
    };
    const killAll = (): void => {
      if (killed) return;
      killed = true;
      try {
        options.kill?.();
      } catch {
        // Best effort; the group kill below still happens.
      }
      const killGroup = (): void => {
        try {
          if (child.pid !== undefined && exit === undefined) process.kill(-child.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      };
      if ((options.groupKillDelayMs ?? 0) > 0) groupTimer = setTimeout(killGroup, options.groupKillDelayMs);
      else killGroup();
      // Something outside the group may still hold the pipes: stop waiting for them after a grace period.
      grace = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(exit?.code ?? null, exit?.signal ?? "SIGKILL");
      }, (options.groupKillDelayMs ?? 0) + (options.killGraceMs ?? 5000));
    };
    const timer = setTimeout(() => {
      violations.push({ kind: "timeout", message: `stopped after the time limit of ${Math.round(spec.limits.timeoutMs / 100) / 10} s` });
      killAll();
    }, spec.limits.timeoutMs);
    const onAbort = (): void => {
      violations.push({ kind: "signal", message: "stopped: the action was cancelled" });
      killAll();
    };
    spec.signal?.addEventListener("abort", onAbort, { once: true });
    child.on("error", (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      spec.signal?.removeEventListener("abort", onAbort);
      reject(new AegisError("EXECUTOR_REFUSED", `cannot start the sandbox: ${err.message}`, { cause: err }));
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
    });
    child.on("close", (code, signal) => {
      finish(code, signal);
    });
  });
}
