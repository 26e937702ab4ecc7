/**
 * Audit verification: recompute every entry hash, the chain links, the RFC
 * 6962 tree at every checkpoint size, and every checkpoint signature. Reports
 * the first damaged sequence number and what kind of damage it is.
 */
import { Buffer } from "node:buffer";
import type { KeyObject } from "node:crypto";
import { computeEntryHash, GENESIS_HASH, type AuditEntry } from "./entry.ts";
import { verifyCheckpointSignature, type Checkpoint } from "./checkpoint.ts";
import { CompactRange, leafHash } from "./merkle.ts";

export type DamageKind =
  | "modified" // an entry's content no longer matches its hash
  | "deleted" // a sequence number is missing
  | "reordered" // an entry is not linked to the one before it
  | "truncated" // a signed checkpoint covers more entries than the log holds
  | "bad-signature" // a checkpoint's signature does not verify with the trusted key
  | "checkpoint-mismatch" // the entries no longer produce a signed root
  | "checkpoint-gap"; // the chain of checkpoints is broken (one was removed or forged)

export interface Damage {
  readonly kind: DamageKind;
  /** First bad sequence number (for checkpoint damage: the first entry the checkpoint no longer vouches for). */
  readonly seq: number;
  readonly message: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly entries: number;
  readonly checkpoints: number;
  readonly latestCheckpoint: { treeSize: number; rootHash: string; ts: string; keyId: string } | undefined;
  /** Entries after the latest checkpoint: chained, but not yet vouched for by a signature. */
  readonly unsealed: number;
  readonly rootHash: string;
  readonly damage: Damage | undefined;
  readonly warnings: readonly string[];
}

export async function verifyAuditLog(
  batches: AsyncIterable<readonly AuditEntry[]> | Iterable<readonly AuditEntry[]>,
  checkpoints: readonly Checkpoint[],
  publicKey: KeyObject,
): Promise<VerifyReport> {
  const damages: Damage[] = [];
  const warnings: string[] = [];
  const sorted = [...checkpoints].sort((a, b) => a.treeSize - b.treeSize);

  let prevSize = 0;
  for (const cp of sorted) {
    if (!verifyCheckpointSignature(cp, publicKey)) {
      damages.push({ kind: "bad-signature", seq: prevSize + 1, message: `checkpoint at tree size ${cp.treeSize} has a signature that does not verify with the trusted key` });
    } else if (cp.prevSize !== prevSize) {
      damages.push({ kind: "checkpoint-gap", seq: prevSize + 1, message: `checkpoint at tree size ${cp.treeSize} follows the one at ${cp.prevSize}, but the previous checkpoint present is at ${prevSize}: a checkpoint was removed` });
    }
    prevSize = cp.treeSize;
  }

  const range = new CompactRange();
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let cpIndex = 0;
  let firstEntryDamage: Damage | undefined;
  let lastMatchedSize = 0;

  const checkRoots = (): void => {
    for (let cp = sorted[cpIndex]; cp !== undefined && cp.treeSize === range.size; cp = sorted[cpIndex]) {
      if (range.root().toString("hex") !== cp.rootHash) {
        damages.push({ kind: "checkpoint-mismatch", seq: lastMatchedSize + 1, message: `entries ${lastMatchedSize + 1}..${cp.treeSize} no longer produce the root signed at ${cp.ts}: history was rewritten` });
      } else {
        lastMatchedSize = cp.treeSize;
      }
      cpIndex += 1;
    }
  };

  for await (const batch of batches) {
    for (const e of batch) {
      if (firstEntryDamage === undefined) {
        if (e.seq !== expectedSeq) {
          firstEntryDamage = e.seq > expectedSeq
            ? { kind: "deleted", seq: expectedSeq, message: `entry ${expectedSeq}${e.seq - expectedSeq > 1 ? `..${e.seq - 1}` : ""} is missing` }
            : { kind: "reordered", seq: e.seq, message: `entry ${e.seq} appears after entry ${expectedSeq - 1}` };
        } else if (computeEntryHash(e) !== e.hash) {
          firstEntryDamage = { kind: "modified", seq: e.seq, message: `entry ${e.seq} was modified: its content does not match its hash` };
        } else if (e.prevHash !== prevHash) {
          firstEntryDamage = { kind: "reordered", seq: e.seq, message: `entry ${e.seq} is not linked to entry ${e.seq - 1}: entries were reordered, replaced or inserted` };
        }
      }
      prevHash = e.hash;
      expectedSeq = e.seq + 1;
      range.push(leafHash(Buffer.from(e.hash, "hex")));
      checkRoots();
    }
  }
  checkRoots();
  // Entry damage names the exact entry, so it goes first among reports at the same sequence number.
  if (firstEntryDamage) damages.unshift(firstEntryDamage);

  const entries = range.size;
  const uncovered = sorted[cpIndex];
  if (uncovered !== undefined) {
    const cp = uncovered;
    damages.push({ kind: "truncated", seq: entries + 1, message: `a checkpoint signed at ${cp.ts} covers ${cp.treeSize} entries but the log holds ${entries}: entries ${entries + 1}..${cp.treeSize} were removed` });
  }

  const latest = sorted.at(-1);
  const unsealed = latest ? Math.max(0, entries - latest.treeSize) : entries;
  if (entries > 0 && !latest) warnings.push("no signed checkpoint yet: the chain is consistent but nothing vouches that it is complete");
  else if (unsealed > 0) warnings.push(`${unsealed} entries after the latest checkpoint are chained but not yet covered by a signed checkpoint (normal after a crash; the next run signs them)`);

  // Report the earliest damage: that is where the log stops being trustworthy.
  damages.sort((a, b) => a.seq - b.seq);
  return {
    ok: damages.length === 0,
    entries,
    checkpoints: sorted.length,
    latestCheckpoint: latest ? { treeSize: latest.treeSize, rootHash: latest.rootHash, ts: latest.ts, keyId: latest.keyId } : undefined,
    unsealed,
    rootHash: range.root().toString("hex"),
    damage: damages[0],
    warnings,
  };
}
