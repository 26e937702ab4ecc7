/**
 * The audit entry and its canonical encoding.
 *
 * hash = SHA-256(encode(entry without hash)), where encode is a domain tag
 * followed by every field as a 4-byte big-endian length and its UTF-8 bytes,
 * in a fixed order. Length prefixes make the encoding unambiguous (no field can
 * "borrow" bytes from the next), which is all a hash chain needs; it is also
 * faster to compute than JSON canonicalisation on the verify path.
 */
import { hash } from "node:crypto";

export type AuditKind = "decision" | "approval" | "outcome" | "system";

/** What a caller hands to the log; sequence, time and chain fields are assigned when it commits. */
export interface AuditInput {
  readonly kind: AuditKind;
  /** Who caused it: `session:<id>`, `skill:<name>`, `cli:<user>`, `system`. */
  readonly actor: string;
  /** The tool or system action, e.g. `files.read`, `profile.init`. */
  readonly action: string;
  /** The scopes or resource concerned, already canonical. */
  readonly resource: string;
  /** allow | deny | ask | approved | rejected | ok | error | info */
  readonly decision: string;
  /** Structured detail, already redacted. Stored as JSON. */
  readonly detail: Readonly<Record<string, unknown>>;
}

export interface AuditEntry {
  readonly seq: number;
  readonly ts: string;
  readonly kind: string;
  readonly actor: string;
  readonly action: string;
  readonly resource: string;
  readonly decision: string;
  /** JSON text exactly as hashed and stored. */
  readonly detail: string;
  readonly prevHash: string;
  readonly hash: string;
}

export const GENESIS_HASH = "0".repeat(64);
const DOMAIN_TAG = Buffer.from("aegisclaw.audit.entry.v1", "utf8");

export function encodeEntry(e: Omit<AuditEntry, "hash">): Buffer {
  const fields = [String(e.seq), e.ts, e.kind, e.actor, e.action, e.resource, e.decision, e.detail, e.prevHash];
  const parts: Buffer[] = [DOMAIN_TAG];
  let total = DOMAIN_TAG.length;
  for (const field of fields) {
    const bytes = Buffer.from(field, "utf8");
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(bytes.length, 0);
    parts.push(len, bytes);
    total += 4 + bytes.length;
  }
  return Buffer.concat(parts, total);
}

export function computeEntryHash(e: Omit<AuditEntry, "hash">): string {
  return hash("sha256", encodeEntry(e), "hex");
}

/** Assigns sequence numbers and chain hashes to a batch, continuing from `head`. Pure. */
export function sealBatch(
  head: { seq: number; hash: string } | undefined,
  inputs: readonly { input: AuditInput; ts: string }[],
): AuditEntry[] {
  let seq = head?.seq ?? 0;
  let prevHash = head?.hash ?? GENESIS_HASH;
  const sealed: AuditEntry[] = [];
  for (const { input, ts } of inputs) {
    seq += 1;
    const unsealed = {
      seq,
      ts,
      kind: input.kind,
      actor: input.actor,
      action: input.action,
      resource: input.resource,
      decision: input.decision,
      detail: JSON.stringify(input.detail),
      prevHash,
    };
    const entryHash = computeEntryHash(unsealed);
    sealed.push({ ...unsealed, hash: entryHash });
    prevHash = entryHash;
  }
  return sealed;
}
