/**
 * Typed errors. Every failure that reaches a user carries a stable `code` (for
 * scripts and `--json`) and a message that says what is wrong and what to do.
 */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  /** `policy check`: the action needs approval. */
  ask: 3,
  /** `policy check`: the action is denied. */
  deny: 4,
  /** `audit verify`: the log is damaged or was tampered with. */
  tampered: 5,
  /** The profile's permissions are unsafe; nothing ran. */
  insecure: 6,
} as const;

export type ErrorCode =
  | "CONFIG_INVALID"
  | "CONFIG_TOO_NEW"
  | "PROFILE_MISSING"
  | "PROFILE_INSECURE"
  | "POLICY_INVALID"
  | "AUDIT_LOCKED"
  | "AUDIT_DISK_FULL"
  | "AUDIT_WRITE_FAILED"
  | "AUDIT_CORRUPT"
  | "AUDIT_TOO_NEW"
  | "AUDIT_NOT_FOUND"
  | "KEY_INVALID"
  | "TOOL_UNKNOWN"
  | "ARGS_INVALID"
  | "EXECUTOR_REFUSED"
  | "SECRET_DENIED"
  | "SECRET_MISSING"
  | "MODEL_ERROR"
  | "SESSION_NOT_FOUND"
  | "SESSION_STORE_FAILED"
  | "USAGE";

export class AegisError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { exitCode?: number; details?: Record<string, unknown>; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AegisError";
    this.code = code;
    this.exitCode = options?.exitCode ?? EXIT.error;
    this.details = options?.details;
  }

  toJSON(): Record<string, unknown> {
    return { error: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
