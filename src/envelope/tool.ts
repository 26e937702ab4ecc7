/**
 * Tools as the envelope sees them. A tool declares its argument schema, the
 * scopes each call needs (computed from its arguments), and how to run. Tools
 * are registered with an Envelope; nothing else holds a reference that can
 * run them.
 */
import type { z } from "zod";
import type { ArgRoles } from "../policy/constraints.ts";
import type { Scope } from "../policy/scope.ts";
import type { IssuedSecrets } from "./stages.ts";

export type Risk = "low" | "medium" | "high";

export interface ScopeContext {
  /** The agent workspace; relative paths resolve against it. */
  readonly workspace: string;
}

/** A program a tool asks its executor to start: in the sandbox, or on the host only with --unsafe-host. */
export interface ProcessRequest {
  /** Absolute, canonical path of the program on the host (the one policy judged). */
  readonly program: string;
  /** What the program sees as its name (argv[0]). */
  readonly argv0: string;
  readonly args: readonly string[];
  /** Absolute host directory to start in; it is made visible inside the sandbox at the same path. */
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** Host paths to make visible at the same path, read-only unless `rw` (each was judged as files.read/files.write). */
  readonly mounts: readonly { readonly path: string; readonly rw: boolean }[];
  /** Egress allowlist entries (each judged as net.connect); empty means no network at all. */
  readonly network: readonly string[];
  readonly timeoutMs?: number;
  /** Bytes kept of stdout and of stderr each. */
  readonly outputBytes?: number;
}

export interface ProcessResult {
  readonly exitCode: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  /** What the sandbox stopped or cut short (timeout, memory, process limit, truncated output, refused hosts). */
  readonly violations: readonly { readonly kind: string; readonly message: string }[];
  /** Where it ran: a sandbox backend, or `host` (--unsafe-host). */
  readonly runner: string;
  readonly durationMs: number;
  /** Egress byte counts and denials, when the process had network. */
  readonly egress?: { readonly bytesUp: number; readonly bytesDown: number; readonly denied: readonly string[] };
}

export type ProcessRunner = (req: ProcessRequest, signal: AbortSignal) => Promise<ProcessResult>;

export interface ToolRunContext {
  readonly workspace: string;
  /** The canonical scopes (and aliases) policy judged: tools act on these resources, never on a fresh resolution of the arguments. */
  readonly scopes: readonly Scope[];
  /** Where tools may keep state (the profile's tool data directory). */
  readonly dataDir: string;
  readonly secrets: IssuedSecrets;
  readonly signal: AbortSignal;
  /** Starts a program through the executor (sandboxed, or on the host with --unsafe-host); tools never spawn directly. */
  readonly runProcess: ProcessRunner;
}

export interface ToolOutput {
  readonly text: string;
  readonly exitCode?: number;
  /** Facts for the audit outcome (runner, violations, egress counts) — never output or secret values. */
  readonly details?: Readonly<Record<string, unknown>>;
  /** The process's streams apart, for an adapter that shows them apart (`aegisclaw exec`); redacted like `text`. */
  readonly streams?: { readonly stdout: string; readonly stderr: string };
}

export interface ToolDefinition<A extends Record<string, unknown> = Record<string, unknown>> {
  readonly name: string;
  readonly description: string;
  readonly risk: Risk;
  /** Strict schema: unknown arguments are refused, so nothing hides in an argument policy does not read. */
  readonly args: z.ZodType<A>;
  /** Which arguments hold recipients, URLs and paths, for policy constraints. */
  readonly argRoles?: ArgRoles;
  /** Scope strings this call needs; throwing means the call cannot be judged and is denied. */
  scopes(args: A, ctx: ScopeContext): string[];
  /**
   * Other names for what `scopes` names (a program's real path behind the name it was called by). They only
   * tighten: a deny or ask rule matching an alias applies, but an alias needs no allow of its own.
   */
  aliases?(args: A, ctx: ScopeContext): string[];
  /** True when the tool starts a process: then only a sandboxed executor (or explicit --unsafe-host) may run it. */
  readonly spawnsProcess: boolean;
  run(args: A, ctx: ToolRunContext): Promise<ToolOutput>;
}

// The registry stores tools type-erased; each tool parses its own arguments before they reach it.
export type AnyTool = ToolDefinition;

/** Declares a tool with typed arguments and erases the type for the registry (the envelope parses arguments first). */
export function defineTool<A extends Record<string, unknown>>(tool: ToolDefinition<A>): AnyTool {
  return tool;
}
