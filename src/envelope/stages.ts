/**
 * The pluggable stages of the envelope. Each later subsystem implements one:
 * approvals (Approver), secrets (SecretBroker), the sandbox (Executor),
 * redaction (Redactor, in guard/), audit (AuditSink). The defaults here are
 * the safe choice when a subsystem is not configured: no approver denies,
 * no broker issues nothing.
 */
import type { AuditEntry, AuditInput } from "../audit/entry.ts";
import type { Decision } from "../policy/engine.ts";
import type { Action } from "./action.ts";
import type { AnyTool, ToolOutput } from "./tool.ts";

export interface ApprovalRequest {
  readonly action: Action;
  readonly decision: Decision;
  readonly risk: AnyTool["risk"];
  readonly description: string;
  /** What a person is shown, scrubbed of secrets by the envelope (every responder shows this, never raw args). */
  readonly shown: ApprovalDisplay;
}

export interface ApprovalDisplay {
  readonly scopes: readonly string[];
  /** The arguments as JSON. */
  readonly args: string;
  readonly reason: string;
  readonly influencedBy: readonly string[];
}

export interface ApprovalAnswer {
  readonly approved: boolean;
  /** Who answered: `owner`, `system`, a user name. */
  readonly by: string;
  /** Where the answer came from: `tui`, `web`, `chat:telegram`, `none`. */
  readonly channel: string;
  readonly note?: string;
}

export interface Approver {
  request(req: ApprovalRequest, signal: AbortSignal): Promise<ApprovalAnswer>;
}

/** The default: with nobody to ask, "ask" means no. */
export class NoApprover implements Approver {
  request(): Promise<ApprovalAnswer> {
    return Promise.resolve({ approved: false, by: "system", channel: "none", note: "no approver configured: approvals are denied until one is (aegisclaw approvals, the web UI or a chat channel)" });
  }
}

export interface IssuedSecrets {
  /** Environment variables for the tool (names → values; `NAME_FILE` → path for secrets delivered as files). */
  readonly env: Readonly<Record<string, string>>;
  /** Every secret value issued, for redaction of the result. */
  readonly values: readonly string[];
  /** The names issued, for the audit log (never values). */
  readonly names: readonly string[];
  /** The per-action directory holding secret files, when any were issued as files (the sandbox mounts it read-only). */
  readonly dir?: string;
  /** Ends the secrets' lifetime (deletes files, forgets values). Always called. */
  revoke(): Promise<void>;
}

export interface SecretBroker {
  issue(action: Action, tool: AnyTool): Promise<IssuedSecrets>;
  /** All secret values currently known, so audit details and outputs can be scrubbed of them. */
  knownValues(): readonly string[];
}

export const NO_SECRETS: IssuedSecrets = { env: {}, values: [], names: [], revoke: () => Promise.resolve() };

/** The default broker when no secret store is configured: it issues nothing. */
export class NoSecretBroker implements SecretBroker {
  issue(): Promise<IssuedSecrets> {
    return Promise.resolve(NO_SECRETS);
  }
  knownValues(): readonly string[] {
    return [];
  }
}

export interface ExecutionRequest {
  readonly action: Action;
  readonly tool: AnyTool;
  readonly secrets: IssuedSecrets;
  readonly signal: AbortSignal;
}

export interface Executor {
  readonly name: string;
  /** Whether tools run inside an isolation boundary. Recorded in every audit outcome. */
  readonly sandboxed: boolean;
  execute(req: ExecutionRequest): Promise<ToolOutput>;
}

export interface AuditSink {
  append(input: AuditInput): Promise<AuditEntry>;
}

/** Where the envelope reports what it did (pino's Logger fits). Lines are scrubbed of secrets by the logger. */
export interface EventLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}
