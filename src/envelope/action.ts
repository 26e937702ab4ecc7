/** The Action: one proposed tool call, with everything policy, approval and audit need to judge it. */
import { hash, randomUUID } from "node:crypto";
import { errorMessage } from "../errors.ts";
import type { Label } from "../policy/labels.ts";
import type { Scope } from "../policy/scope.ts";

export interface Action {
  readonly id: string;
  readonly tool: string;
  /** Arguments after the tool's schema parsed them. */
  readonly args: Readonly<Record<string, unknown>>;
  /** Computed by the tool from the arguments, never supplied by the caller. */
  readonly scopes: readonly Scope[];
  /** Other names for the same resources; they can only tighten the decision (see ToolDefinition.aliases). */
  readonly aliases: readonly Scope[];
  readonly skill: string | undefined;
  readonly session: string;
  readonly labels: readonly Label[];
  /** Ids of the untrusted items that influenced this action (emails, pages, tool outputs). */
  readonly influencedBy: readonly string[];
  /** Who proposed it, for the audit trail. */
  readonly actor: string;
  /** SHA-256 over the tool name and canonical arguments: an approval is bound to exactly this. */
  readonly digest: string;
}

/** JSON with object keys sorted at every level: one text for one value. */
export function canonicalJson(value: unknown): string {
  if (value === undefined || typeof value === "function" || typeof value === "symbol") return "null";
  if (typeof value === "bigint") throw new TypeError("bigint in arguments");
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError("non-finite number in arguments");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** JSON for records that cannot throw (cycles, BigInt): a malformed proposal must still be recorded. */
export function safeJson(value: unknown): string {
  try {
    // JSON.stringify returns undefined for undefined and functions, whatever its declared type says.
    const text: unknown = JSON.stringify(value);
    return typeof text === "string" ? text : "null";
  } catch (err) {
    return `"[unserializable arguments: ${errorMessage(err).replace(/["\\]/g, "")}]"`;
  }
}

export function actionDigest(tool: string, args: unknown): string {
  return hash("sha256", `${tool}\n${canonicalJson(args)}`, "hex");
}

export function newActionId(): string {
  return randomUUID();
}
