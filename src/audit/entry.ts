/**
 * The audit entry and its canonical encoding.
 *
 * hash = SHA-256(0x00 || encode(entry without hash)), where encode is a
 * domain tag followed by every field as a 4-byte big-endian length and its
 * UTF-8 bytes, in a fixed order. The 0x00 prefix makes the entry hash its
 * RFC 6962 leaf hash: one hash serves the chain and the Merkle tree. Length prefixes make the encoding unambiguous (no field can
 * "borrow" bytes from the next), which is all a hash chain needs; it is also
 * faster to compute than JSON canonicalisation on the verify path.
 */
import { hash } from "node:crypto";

/** `egress`: a sandboxed process's connection allowed or refused by the egress proxy. */
export type AuditKind = "decision" | "approval" | "outcome" | "egress" | "system";

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
const DOMAIN_TAG = "aegisclaw.audit.entry.v1";
/** RFC 6962 leaf prefix: the entry hash is the entry's Merkle leaf hash. */
const LEAF_PREFIX = 0x00;

// One growing scratch buffer: encoding is on the verify hot path (hundreds of thousands of entries per second),
// and building ten small Buffers per entry cost more than the hashing itself.
let scratch = Buffer.allocUnsafe(8192);

let offset = 0;
function put(field: string): void {
  const n = scratch.write(field, offset + 4, "utf8");
  scratch.writeUInt32BE(n, offset);
  offset += 4 + n;
}

function encodeIntoScratch(e: Omit<AuditEntry, "hash">): number {
  const seq = String(e.seq);
  // UTF-8 needs at most 3 bytes per UTF-16 code unit; 9 length prefixes of 4 bytes.
  const worst = 1 + DOMAIN_TAG.length + 36 + 3 * (seq.length + e.ts.length + e.kind.length + e.actor.length + e.action.length + e.resource.length + e.decision.length + e.detail.length + e.prevHash.length);
  if (worst > scratch.length) scratch = Buffer.allocUnsafe(Math.max(worst, scratch.length * 2));
  scratch[0] = LEAF_PREFIX;
  offset = 1 + scratch.write(DOMAIN_TAG, 1, "latin1");
  put(seq);
  put(e.ts);
  put(e.kind);
  put(e.actor);
  put(e.action);
  put(e.resource);
  put(e.decision);
  put(e.detail);
  put(e.prevHash);
  return offset;
}

/** The canonical encoding of an entry (without the leaf prefix): tag, then each field length-prefixed. */
export function encodeEntry(e: Omit<AuditEntry, "hash">): Buffer {
  const n = encodeIntoScratch(e);
  return Buffer.from(scratch.subarray(1, n));
}

/** SHA-256(0x00 || encodeEntry(e)), hex: the chain hash and, as bytes, the RFC 6962 leaf of the entry. */
export function computeEntryHash(e: Omit<AuditEntry, "hash">): string {
  const n = encodeIntoScratch(e);
  return hash("sha256", scratch.subarray(0, n), "hex");
}

/**
 * The Merkle leaf hash of a stored entry: its hash, which already is an RFC 6962 leaf hash. A damaged hash
 * column (not 64 hex digits) still gets a 32-byte leaf, one no honest entry has, so verification reports the
 * damage instead of failing on it.
 */
export function entryLeaf(e: { readonly hash: string }): Buffer {
  // The type is what the store promised; a tampered database can still hand back a number, a blob or null.
  const h: unknown = e.hash;
  if (typeof h === "string" && h.length === 64) {
    const leaf = Buffer.from(h, "hex");
    if (leaf.length === 32) return leaf;
  }
  return hash("sha256", `aegisclaw.audit.malformed-hash\n${String(h)}`, "buffer");
}

/** True when every field has the type the encoding needs; a store holding anything else was tampered with. */
export function isWellFormedEntry(e: AuditEntry): boolean {
  // Spelled out (no array) because it runs for every entry on the verify path.
  const u = e as unknown as Record<keyof AuditEntry, unknown>;
  return (
    Number.isSafeInteger(u.seq) &&
    typeof u.ts === "string" &&
    typeof u.kind === "string" &&
    typeof u.actor === "string" &&
    typeof u.action === "string" &&
    typeof u.resource === "string" &&
    typeof u.decision === "string" &&
    typeof u.detail === "string" &&
    typeof u.prevHash === "string" &&
    typeof u.hash === "string"
  );
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
