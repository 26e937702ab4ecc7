/**
 * Audit verification: recompute every entry hash, the chain links, the RFC
 * 6962 tree at every checkpoint size, and every checkpoint signature. Reports
 * the first damaged sequence number and what kind of damage it is.
 *
 * The reported sequence number is conservative: every entry before it is
 * proven by a signed checkpoint (or, after the latest one, by the chain). When
 * that cannot be narrowed down, damage is reported from the start of the
 * checkpoint range it falls in, so a visible change further on can never draw
 * attention away from a rewrite earlier in the same range.
 */
import type { KeyObject } from "node:crypto";
import { computeEntryHash, entryLeaf, GENESIS_HASH, isWellFormedEntry, type AuditEntry } from "./entry.ts";
import { keyIdOf, verifyCheckpointSignature, type Checkpoint } from "./checkpoint.ts";
import { CompactRange } from "./merkle.ts";

export type DamageKind =
  | "modified" // an entry's content no longer matches its hash
  | "deleted" // a sequence number is missing
  | "reordered" // an entry is out of order, or not linked to the one before it (reported at the earlier of the two)
  | "truncated" // a signed checkpoint covers more entries than the log holds
  | "bad-signature" // a checkpoint's signature does not verify with the trusted key
  | "checkpoint-mismatch" // the entries no longer produce a signed root
  | "checkpoint-gap"; // the chain of checkpoints is broken (one was removed or forged)

export interface Damage {
  readonly kind: DamageKind;
  /**
   * First bad sequence number: every entry before it is proven intact. For checkpoint damage (and truncation), the
   * first entry that no intact checkpoint vouches for any more.
   */
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

/** Key ids by key: computing one exports the key, which costs more than verifying a small log. */
const keyIds = new WeakMap<KeyObject, string>();
function cachedKeyId(key: KeyObject): string {
  let id = keyIds.get(key);
  if (id === undefined) {
    id = keyIdOf(key);
    keyIds.set(key, id);
  }
  return id;
}

export async function verifyAuditLog(
  batches: AsyncIterable<readonly AuditEntry[]> | Iterable<readonly AuditEntry[]>,
  checkpoints: readonly Checkpoint[],
  publicKey: KeyObject,
): Promise<VerifyReport> {
  const damages: Damage[] = [];
  const warnings: string[] = [];
  const sorted = [...checkpoints].sort((a, b) => a.treeSize - b.treeSize);

  const trustedKeyId = cachedKeyId(publicKey);
  /** Whether each checkpoint (in `sorted` order) is genuine: a valid signature by the trusted key. */
  const genuine: boolean[] = [];
  let prevSize = 0;
  for (const cp of sorted) {
    let ok = false;
    if (!verifyCheckpointSignature(cp, publicKey)) {
      damages.push({ kind: "bad-signature", seq: prevSize + 1, message: `checkpoint at tree size ${cp.treeSize} has a signature that does not verify with the trusted key` });
    } else if (cp.keyId !== trustedKeyId) {
      // The key id is not part of the signed message; a record naming another key was altered.
      damages.push({ kind: "bad-signature", seq: prevSize + 1, message: `checkpoint at tree size ${cp.treeSize} names key ${cp.keyId}, but it verifies with the trusted key ${trustedKeyId}: the checkpoint record was altered` });
    } else {
      ok = true;
      if (cp.prevSize !== prevSize) {
        damages.push({ kind: "checkpoint-gap", seq: prevSize + 1, message: `checkpoint at tree size ${cp.treeSize} follows the one at ${cp.prevSize}, but the previous checkpoint present is at ${prevSize}: a checkpoint was removed` });
      }
    }
    genuine.push(ok);
    prevSize = cp.treeSize;
  }

  // Two Merkle ranges are checked against the checkpoints.
  //  - `stored`: the leaves of the entries as stored, in order. Every root must match; this alone detects any change.
  //  - `claimed`: position k holds the hash that the chain itself testifies for entry k, i.e. the prevHash of entry
  //    k+1 (a single missing entry is filled in that way too). It only exists after the first damaged entry (before
  //    that the two ranges are equal) and only while the damage is of that shape. If its root matches a signed one,
  //    every entry before the first damaged one is proven, so the damage can be named precisely ("entry 20 was
  //    deleted") instead of only "entries 1..50 no longer produce the signed root" — which is what is reported when
  //    the chain's testimony does not match either (a rewrite, re-chained, with a decoy further on).
  // Leaves are pushed one entry late, when the next entry (and so the testimony) is known.
  const stored = new CompactRange();
  let claimed: CompactRange | undefined;
  let claimedBroken = false;
  /** Per checkpoint: did the stored / claimed range reach its size, and did the root match. */
  const storedMatch: (boolean | undefined)[] = [];
  const claimedMatch: (boolean | undefined)[] = [];
  let storedCp = 0;
  let claimedCp = 0;
  const check = (range: CompactRange, results: (boolean | undefined)[], from: number): number => {
    let i = from;
    for (let cp = sorted[i]; cp !== undefined && cp.treeSize <= range.size; cp = sorted[i]) {
      if (cp.treeSize === range.size) results[i] = range.root().toString("hex") === cp.rootHash;
      i += 1;
    }
    return i;
  };
  const pushStored = (hash: string): void => {
    stored.push(entryLeaf({ hash }));
    storedCp = check(stored, storedMatch, storedCp);
  };
  const pushClaimed = (hash: string): void => {
    if (!claimed) return;
    claimed.push(entryLeaf({ hash }));
    claimedCp = check(claimed, claimedMatch, claimedCp);
  };

  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let firstEntryDamage: Damage | undefined;
  /** Sequence number of the entry whose prevHash did not match, when that was the first damage. */
  let brokenLink: number | undefined;
  /** The previous entry, whose leaves are not pushed yet. */
  let pending: AuditEntry | undefined;

  for await (const batch of batches) {
    for (const e of batch) {
      if (firstEntryDamage === undefined) {
        if (e.seq !== expectedSeq) {
          firstEntryDamage = e.seq > expectedSeq
            ? { kind: "deleted", seq: expectedSeq, message: `entry ${expectedSeq}${e.seq - expectedSeq > 1 ? `..${e.seq - 1}` : ""} is missing` }
            : { kind: "reordered", seq: e.seq, message: `entry ${e.seq} appears after entry ${expectedSeq - 1}` };
        } else if (!isWellFormedEntry(e)) {
          firstEntryDamage = { kind: "modified", seq: e.seq, message: `entry ${e.seq} was modified: a field no longer has the type an audit entry has` };
        } else if (computeEntryHash(e) !== e.hash) {
          firstEntryDamage = { kind: "modified", seq: e.seq, message: `entry ${e.seq} was modified: its content does not match its hash` };
        } else if (e.prevHash !== prevHash) {
          // Either this entry or the one before it was altered (its hash recomputed), replaced or inserted: the
          // damage starts at the earlier one.
          brokenLink = e.seq;
          firstEntryDamage = { kind: "reordered", seq: Math.max(1, e.seq - 1), message: `entry ${e.seq} is not linked to entry ${e.seq - 1}: one of them was altered, replaced or inserted, or entries were reordered` };
        }
        // Fork the claimed range from the stored one as it was before the pending entry's leaf.
        if (firstEntryDamage !== undefined) {
          claimed = stored.clone();
          claimedCp = storedCp;
          for (let i = 0; i < storedCp; i++) claimedMatch[i] = storedMatch[i];
        }
      }
      if (claimed && !claimedBroken) {
        const lastSeq = pending?.seq ?? 0;
        if (e.seq === lastSeq + 1) {
          if (pending) pushClaimed(e.prevHash);
        } else if (e.seq === lastSeq + 2) {
          // One entry missing: the next one still testifies to its hash.
          if (pending) pushClaimed(pending.hash);
          pushClaimed(e.prevHash);
        } else {
          claimedBroken = true;
        }
      }
      if (pending) pushStored(pending.hash);
      pending = e;
      prevHash = e.hash;
      expectedSeq = e.seq + 1;
    }
  }
  if (pending) {
    pushStored(pending.hash);
    if (!claimedBroken) pushClaimed(pending.hash);
  }

  // Walk the checkpoints in order. One is satisfied when it is genuine and either range reproduces its root; a
  // damage is reported from the first entry after the last satisfied checkpoint (everything before it is proven).
  const entries = stored.size;
  let lastSatisfied = 0;
  for (const [i, cp] of sorted.entries()) {
    const s = storedMatch[i];
    const c = claimed ? claimedMatch[i] : s;
    if (s === true || c === true) {
      if (genuine[i] !== true) continue;
      lastSatisfied = cp.treeSize;
      // The chain's testimony is signed: where a link broke, the entry before it is the one that changed.
      if (s !== true && brokenLink !== undefined && brokenLink - 1 >= 1 && brokenLink - 1 <= cp.treeSize && firstEntryDamage?.kind === "reordered") {
        const k = brokenLink - 1;
        firstEntryDamage = { kind: "modified", seq: k, message: `entry ${k} was modified: it is not the entry that entry ${brokenLink} and the checkpoint signed at ${cp.ts} vouch for` };
      }
      continue;
    }
    if (s === false || c === false) {
      const inside = firstEntryDamage !== undefined && firstEntryDamage.seq > lastSatisfied && firstEntryDamage.seq <= cp.treeSize ? ` (${firstEntryDamage.message})` : "";
      damages.push({ kind: "checkpoint-mismatch", seq: lastSatisfied + 1, message: `entries ${lastSatisfied + 1}..${cp.treeSize} no longer produce the root signed at ${cp.ts}: history was rewritten${inside}` });
      continue;
    }
    // Neither range reached this size: entries were cut off. Later checkpoints are unreached too; one report does.
    const held = Math.max(entries, claimed?.size ?? 0);
    const unproven = lastSatisfied < held ? `, and entries ${lastSatisfied + 1}..${held} can no longer be checked against it` : "";
    damages.push({ kind: "truncated", seq: lastSatisfied + 1, message: `a checkpoint signed at ${cp.ts} covers ${cp.treeSize} entries but the log holds ${held}: entries ${held + 1}..${cp.treeSize} were removed${unproven}` });
    break;
  }

  if (firstEntryDamage) damages.push(firstEntryDamage);

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
    rootHash: stored.root().toString("hex"),
    damage: damages[0],
    warnings,
  };
}
