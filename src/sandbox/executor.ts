/**
 * The envelope's Executor with a sandbox: in-process tools run here as with
 * the local executor; every process a tool starts runs in the sandbox
 * backend with exactly the mounts and hosts the action was judged with, the
 * issued secret files mounted read-only, default limits, and — when it may
 * reach any host — a fresh egress proxy for this one process, closed when it
 * ends. A backend that is unavailable or cannot enforce what is asked refuses;
 * nothing falls back to the host.
 */
import { lstatSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AegisError } from "../errors.ts";
import type { Action } from "../envelope/action.ts";
import type { ExecutionRequest, Executor } from "../envelope/stages.ts";
import type { ProcessRequest, ProcessResult, ToolOutput } from "../envelope/tool.ts";
import { DEFAULT_OUTPUT_BYTES, DEFAULT_PROCESS_TIMEOUT_MS } from "../envelope/local-executor.ts";
import type { Limits, Mount, NetworkSpec, SandboxBackend } from "./backend.ts";
import { EgressProxy, parseAllowlist } from "./egress/index.ts";

export interface SandboxExecutorOptions {
  readonly backend: SandboxBackend;
  readonly workspace: string;
  readonly dataDir: string;
  /** Limits applied to every process unless the request says otherwise. */
  readonly limits?: Partial<Omit<Limits, "timeoutMs" | "outputBytes">>;
  /**
   * Whether a path under a mount may be visible to this action (policy: not denied). Every path under every mount
   * is checked before the run; what is refused is hidden (see SandboxSpec.hide). Without it, nothing is hidden.
   */
  readonly mayExpose?: (path: string, write: boolean, action: Action) => boolean;
  /** Most entries checked under one run's mounts; a larger tree is refused (mount a narrower directory). */
  readonly maxVettedEntries?: number;
  /** Told about every egress decision, with the action and skill it belongs to (the runtime audits them); awaited before the result returns. */
  readonly onEgress?: (event: EgressAuditEvent) => Promise<unknown>;
}

export interface EgressAuditEvent {
  readonly action: string;
  readonly skill: string | undefined;
  readonly allowed: boolean;
  readonly host: string;
  readonly port: number;
  readonly reason?: string | undefined;
}

export const DEFAULT_LIMITS = { memoryMb: 1024, pids: 256, fileSizeMb: 1024 } as const;

const DEFAULT_MAX_VETTED = 50_000;

/** Directories every program needs, already visible read-only: a program there needs no mount of its own. */
const SYSTEM_PREFIXES = ["/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/"];

export class SandboxExecutor implements Executor {
  readonly name: string;
  readonly sandboxed = true;
  readonly #o: SandboxExecutorOptions;
  #checked: Promise<void> | undefined;

  constructor(options: SandboxExecutorOptions) {
    this.#o = options;
    this.name = `sandbox (${options.backend.name})`;
  }

  async execute(req: ExecutionRequest): Promise<ToolOutput> {
    return req.tool.run(req.action.args, {
      workspace: this.#o.workspace,
      dataDir: this.#o.dataDir,
      scopes: [...req.action.scopes, ...req.action.aliases],
      secrets: req.secrets,
      signal: req.signal,
      runProcess: (p, signal) => this.#run(p, req, signal),
    });
  }

  /** Refuses, with the backend's own explanation, when it cannot run here. Checked once. */
  #ready(): Promise<void> {
    this.#checked ??= this.#o.backend.detect().then((caps) => {
      if (!caps.available) {
        const why = caps.notes.map((n) => n.replace(/\s*Nothing ran\.?\s*$/, "").replace(/\.$/, "")).join("; ");
        throw new AegisError("EXECUTOR_REFUSED", `The ${this.#o.backend.name} sandbox cannot run here: ${why}. Nothing ran.`);
      }
    });
    return this.#checked;
  }

  /**
   * Walks every mount (without following links) and lists what must be hidden: paths policy denies to this action
   * (a mount of a parent directory must not expose ~/.ssh or the profile below it), and sockets and devices (a
   * read-only mount does not stop a connect()). A tree too large to check is refused rather than exposed unchecked.
   */
  #vet(mounts: readonly Mount[], action: Action): string[] {
    const limit = this.#o.maxVettedEntries ?? DEFAULT_MAX_VETTED;
    const hide: string[] = [];
    let seen = 0;
    for (const m of mounts) {
      const stack = [m.host];
      while (stack.length > 0) {
        const dir = stack.pop() ?? "";
        let entries;
        try {
          if (!lstatSync(dir).isDirectory()) continue;
          entries = readdirSync(dir, { withFileTypes: true });
        } catch {
          continue;
        }
        for (const e of entries) {
          seen += 1;
          if (seen > limit) {
            throw new AegisError("EXECUTOR_REFUSED", `${m.host} holds more than ${String(limit)} files and directories; every path under a mount is checked against policy before the sandbox may see it, so mount a narrower directory. Nothing ran.`);
          }
          const path = join(dir, e.name);
          if (e.isSocket() || e.isFIFO() || e.isCharacterDevice() || e.isBlockDevice()) {
            hide.push(path);
            continue;
          }
          if (this.#o.mayExpose !== undefined && !this.#o.mayExpose(path, m.mode === "rw", action)) {
            hide.push(path);
            continue;
          }
          if (e.isDirectory()) stack.push(path);
        }
      }
    }
    return hide;
  }

  async #run(p: ProcessRequest, req: ExecutionRequest, signal: AbortSignal): Promise<ProcessResult> {
    await this.#ready();
    const mounts: Mount[] = p.mounts.map((m) => ({ host: m.path, target: m.path, mode: m.rw ? "rw" : "ro" }));
    if (!mounts.some((m) => m.host === p.cwd)) throw new AegisError("EXECUTOR_REFUSED", `the working directory ${p.cwd} was not judged as a mount; nothing ran`);
    if (req.secrets.dir !== undefined) mounts.push({ host: req.secrets.dir, target: req.secrets.dir, mode: "ro" });
    if (!SYSTEM_PREFIXES.some((prefix) => p.program.startsWith(prefix)) && !mounts.some((m) => p.program.startsWith(`${m.host}/`))) {
      // A program outside the system directories and the mounts: only the file itself becomes visible.
      mounts.push({ host: p.program, target: p.program, mode: "ro" });
    }
    const hide = this.#vet(mounts, req.action);
    let proxy: EgressProxy | undefined;
    let proxyDir: string | undefined;
    const denied: string[] = [];
    const reported: Promise<unknown>[] = [];
    let network: NetworkSpec = { mode: "none" };
    try {
      if (p.network.length > 0) {
        proxyDir = mkdtempSync(join(tmpdir(), "aegisclaw-egress-"));
        proxy = await EgressProxy.start({
          socketPath: join(proxyDir, "egress.sock"),
          allow: parseAllowlist(p.network),
          onDecision: (event: { allowed: boolean; host: string; port: number; reason?: string }) => {
            if (!event.allowed) denied.push(`${event.host}:${String(event.port)}`);
            const audited = this.#o.onEgress?.({ action: req.action.id, skill: req.action.skill, allowed: event.allowed, host: event.host, port: event.port, reason: event.reason });
            if (audited) reported.push(audited);
          },
        });
        network = { mode: "proxy", socket: proxy.socketPath };
      }
      const limits: Limits = {
        timeoutMs: p.timeoutMs ?? DEFAULT_PROCESS_TIMEOUT_MS,
        outputBytes: p.outputBytes ?? DEFAULT_OUTPUT_BYTES,
        memoryMb: this.#o.limits?.memoryMb ?? DEFAULT_LIMITS.memoryMb,
        pids: this.#o.limits?.pids ?? DEFAULT_LIMITS.pids,
        fileSizeMb: this.#o.limits?.fileSizeMb ?? DEFAULT_LIMITS.fileSizeMb,
        ...(this.#o.limits?.cpuSeconds !== undefined ? { cpuSeconds: this.#o.limits.cpuSeconds } : {}),
      };
      const r = await this.#o.backend.run({ argv: [p.program, ...p.args], cwd: p.cwd, env: p.env, mounts, network, limits, signal, hide });
      // Egress decisions are on record before the result goes anywhere.
      await Promise.all(reported);
      const stats = proxy?.stats();
      const violations = [...r.violations, ...denied.map((host) => ({ kind: "network", message: `the egress proxy refused ${host} (not in the allowlist, or it resolves to a private address)` }))];
      return {
        exitCode: r.exitCode,
        stdout: r.stdout,
        stderr: r.stderr,
        violations,
        runner: r.backend,
        durationMs: r.durationMs,
        ...(stats ? { egress: { bytesUp: stats.bytesUp, bytesDown: stats.bytesDown, denied } } : {}),
      };
    } finally {
      await proxy?.close();
      if (proxyDir !== undefined) rmSync(proxyDir, { recursive: true, force: true });
    }
  }
}
