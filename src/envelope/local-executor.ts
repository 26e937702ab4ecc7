/**
 * Runs tools in this process, without a sandbox. In-process tools (reading a
 * workspace file, queueing an e-mail) are AegisClaw's own code and run here.
 * A tool that starts a process is refused unless the operator opted into
 * `--unsafe-host`, which the envelope records in the audit log; then the
 * process runs on the host with none of the sandbox's guarantees (no mount,
 * network or resource isolation) — only the time and output limits hold.
 */
import { spawn } from "node:child_process";
import { AegisError } from "../errors.ts";
import type { ExecutionRequest, Executor } from "./stages.ts";
import type { ProcessRequest, ProcessResult, ProcessRunner, ToolOutput } from "./tool.ts";

export interface LocalExecutorOptions {
  readonly workspace: string;
  readonly dataDir: string;
  /** Allow tools that start processes to run on the host, unsandboxed. */
  readonly unsafeHost?: boolean;
}

export const DEFAULT_PROCESS_TIMEOUT_MS = 120_000;
export const DEFAULT_OUTPUT_BYTES = 1024 * 1024;

function noSandbox(tool: string): AegisError {
  return new AegisError(
    "EXECUTOR_REFUSED",
    `${tool} starts a process and no sandbox backend is configured. Install bubblewrap (./setup does) and enable the sandbox, or pass --unsafe-host to run it on this machine without isolation (recorded in the audit log).`,
  );
}

/** Starts the program on the host: bounded output, killed (with its process group) at the deadline or on abort. */
export const hostProcessRunner: ProcessRunner = (req: ProcessRequest, signal: AbortSignal) =>
  new Promise<ProcessResult>((resolve, reject) => {
    const started = performance.now();
    const limit = req.outputBytes ?? DEFAULT_OUTPUT_BYTES;
    const child = spawn(req.program, [...req.args], { argv0: req.argv0, cwd: req.cwd, env: { ...req.env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const kept = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    const size = { stdout: 0, stderr: 0 };
    const violations: { kind: string; message: string }[] = [];
    const collect = (stream: "stdout" | "stderr") => (b: Buffer): void => {
      const keep = b.subarray(0, Math.max(0, limit - size[stream]));
      if (keep.length > 0) kept[stream].push(keep);
      size[stream] += keep.length;
      if (keep.length < b.length && !violations.some((v) => v.kind === "output-truncated")) violations.push({ kind: "output-truncated", message: `output beyond ${String(limit)} bytes per stream was dropped` });
    };
    child.stdout.on("data", collect("stdout"));
    child.stderr.on("data", collect("stderr"));
    const kill = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    };
    const timeoutMs = req.timeoutMs ?? DEFAULT_PROCESS_TIMEOUT_MS;
    const timer = setTimeout(() => {
      violations.push({ kind: "timeout", message: `stopped after the time limit of ${String(timeoutMs / 1000)} s` });
      kill();
    }, timeoutMs);
    signal.addEventListener("abort", kill, { once: true });
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, sig) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", kill);
      resolve({ exitCode: code ?? (sig === "SIGKILL" ? 137 : 128), stdout: Buffer.concat(kept.stdout), stderr: Buffer.concat(kept.stderr), violations, runner: "host", durationMs: performance.now() - started });
    });
  });

export class LocalExecutor implements Executor {
  readonly name: string;
  readonly sandboxed = false;
  readonly #options: LocalExecutorOptions;

  constructor(options: LocalExecutorOptions) {
    this.#options = options;
    this.name = options.unsafeHost ? "local (--unsafe-host)" : "local (in-process tools only)";
  }

  async execute(req: ExecutionRequest): Promise<ToolOutput> {
    if (req.tool.spawnsProcess && !this.#options.unsafeHost) throw noSandbox(req.tool.name);
    return req.tool.run(req.action.args, {
      workspace: this.#options.workspace,
      dataDir: this.#options.dataDir,
      scopes: [...req.action.scopes, ...req.action.aliases],
      secrets: req.secrets,
      signal: req.signal,
      runProcess: this.#options.unsafeHost ? hostProcessRunner : () => Promise.reject(noSandbox(req.tool.name)),
    });
  }
}
