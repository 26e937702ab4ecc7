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

export interface ToolRunContext {
  readonly workspace: string;
  /** The canonical scopes (and aliases) policy judged: tools act on these resources, never on a fresh resolution of the arguments. */
  readonly scopes: readonly Scope[];
  /** Where tools may keep state (the profile's tool data directory). */
  readonly dataDir: string;
  readonly secrets: IssuedSecrets;
  readonly signal: AbortSignal;
}

export interface ToolOutput {
  readonly text: string;
  readonly exitCode?: number;
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
