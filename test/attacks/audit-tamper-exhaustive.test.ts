/**
 * Attack test (invariant 8), exhaustive part: every single-row deletion, every truncation point, every pair of
 * neighbours swapped, every intermediate checkpoint deleted, every bit (0..6) of every character of the latest
 * checkpoint's signature and root, and a bit of every character of every column of the last entry. All must be
 * detected, as the expected kind of damage, at or before the touched sequence number (exactly at it where verify can
 * prove that), and decoys must not pull the report past a rewrite. The random corruptions are in audit-tamper.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";

import type { DamageKind } from "../../src/audit/verify.ts";
import { computeEntryHash } from "../../src/audit/entry.ts";
import { buildFixture, ENTRY_TEXT_COLUMNS, fixed, fixedSql, rechainFrom, Rng, runCase, Tally, verifyReplayed, type Corruption } from "../audit/tamper-harness.ts";
import { tempDir } from "../helpers/tmp.ts";

test("exhaustive sweeps: every row deleted, every truncation point, every pair of neighbours swapped, every checkpoint deleted, every character of the latest checkpoint and the last entry", async (t) => {
  const dir = tempDir(t);
  const f = await buildFixture(dir);
  t.after(() => {
    f.close();
  });
  const pristine = await verifyReplayed(f, dir, [], "pristine");
  assert.equal(pristine.ok, true, pristine.damage?.message);
  const rng = new Rng(0x5eed_0001);
  const tally = new Tally();
  const run = async (name: string, c: Corruption, expected: readonly DamageKind[], exact = false): Promise<void> => {
    tally.record(name, await runCase(f, rng, [c]), expected, exact);
  };
  const max = f.maxSeq;

  for (let seq = 1; seq <= max; seq++) {
    // A deleted entry is named exactly: the next entry's prevHash still gives its hash, and the signed root agrees.
    // The last one has no next entry, so the cut is reported from the previous checkpoint on.
    if (seq < max) await run(`delete ${seq}`, fixedSql("deleted row (every one)", "DELETE FROM audit_entries WHERE seq = ?", seq), ["deleted"], true);
    else await run(`delete ${seq}`, fixedSql("deleted row (every one)", "DELETE FROM audit_entries WHERE seq = ?", seq), ["truncated"]);
    await run(`truncate from ${seq}`, fixedSql("truncated tail (every point)", "DELETE FROM audit_entries WHERE seq >= ?", seq), ["truncated"]);
    // Edited with its own hash recomputed (the chain not repaired): named exactly, as "modified".
    await run(
      `edit ${seq}, hash recomputed`,
      fixed("edited entry, own hash recomputed (every one)", (tm) => {
        const row = tm.entry(seq);
        const edited = { seq, ts: row.ts, kind: row.kind, actor: row.actor, action: row.action, resource: row.resource, decision: row.decision === "allow" ? "deny" : "allow", detail: row.detail, prevHash: row.prev_hash };
        tm.run("UPDATE audit_entries SET decision = ?, hash = ? WHERE seq = ?", edited.decision, computeEntryHash(edited), seq);
      }),
      // The last entry has no next one to testify for it: reported from the previous checkpoint on.
      seq < max ? ["modified"] : ["checkpoint-mismatch"],
      seq < max,
    );
  }
  // Decoys: history rewritten and re-chained from one entry, plus a visible, precisely nameable damage further on.
  // The report must not name the decoy: the rewritten entries before it are not proven by anything.
  for (const [from, decoy] of [
    [157, 194],
    [3, 40],
    [51, 52],
    [299, 306],
  ] as const) {
    await run(
      `rewrite ${from}, decoy deletion of ${decoy}`,
      fixed("rewritten and re-chained, decoy deletion", (tm) => {
        tm.run("UPDATE audit_entries SET actor = ? WHERE seq = ?", "cli:someone-else", from);
        rechainFrom(tm, from);
        tm.run("DELETE FROM audit_entries WHERE seq = ?", decoy);
      }),
      ["checkpoint-mismatch"],
    );
    await run(
      `rewrite ${from}, decoy edit of ${decoy}`,
      fixed("rewritten and re-chained, decoy edit", (tm) => {
        tm.run("UPDATE audit_entries SET actor = ? WHERE seq = ?", "cli:someone-else", from);
        rechainFrom(tm, from);
        const row = tm.entry(decoy);
        tm.run("UPDATE audit_entries SET detail = ? WHERE seq = ?", `${row.detail} `, decoy);
      }),
      ["checkpoint-mismatch"],
    );
  }
  for (let seq = 1; seq < max; seq++) {
    await run(
      `swap ${seq} and ${seq + 1}`,
      fixed("swapped neighbours (every pair)", (tm) => {
        tm.run("UPDATE audit_entries SET seq = -1 WHERE seq = ?", seq);
        tm.run("UPDATE audit_entries SET seq = ? WHERE seq = ?", seq, seq + 1);
        tm.run("UPDATE audit_entries SET seq = ? WHERE seq = -1", seq + 1);
      }),
      ["checkpoint-mismatch", "modified"],
    );
  }
  for (const cp of f.checkpoints.slice(0, -1)) {
    await run(`delete checkpoint ${cp.treeSize}`, fixedSql("deleted intermediate checkpoint (every one)", "DELETE FROM audit_checkpoints WHERE tree_size = ?", cp.treeSize), ["checkpoint-gap"]);
  }
  // A bit of every character of the latest checkpoint's signature and root, and every bit (0..6) of the last four
  // characters of the signature: its last digit and "==" padding are where a lenient base64 decoder hides changes.
  const last = f.checkpoints.at(-1);
  assert.ok(last);
  for (const [col, value] of [
    ["signature", last.signature],
    ["root_hash", last.rootHash],
  ] as const) {
    for (let i = 0; i < value.length; i++) {
      const bits = col === "signature" && i >= value.length - 4 ? [0, 1, 2, 3, 4, 5, 6] : [rng.int(7)];
      for (const bit of bits) {
        const flipped = value.slice(0, i) + String.fromCharCode(value.charCodeAt(i) ^ (1 << bit)) + value.slice(i + 1);
        await run(`flip bit ${bit} of ${col}[${i}]`, fixedSql(`latest checkpoint ${col}: every character`, `UPDATE audit_checkpoints SET ${col} = ? WHERE tree_size = ?`, flipped, last.treeSize), ["bad-signature"]);
      }
    }
  }
  // One bit of every character of every column of the last entry (only the final checkpoint vouches for it).
  const lastEntry = f.entries.at(-1);
  assert.ok(lastEntry);
  const row = { ts: lastEntry.ts, kind: lastEntry.kind, actor: lastEntry.actor, action: lastEntry.action, resource: lastEntry.resource, decision: lastEntry.decision, detail: lastEntry.detail, prev_hash: lastEntry.prevHash, hash: lastEntry.hash };
  for (const col of ENTRY_TEXT_COLUMNS) {
    const value = row[col];
    for (let i = 0; i < value.length; i++) {
      const flipped = value.slice(0, i) + String.fromCharCode(value.charCodeAt(i) ^ (1 << rng.int(7))) + value.slice(i + 1);
      await run(`flip ${col}[${i}] of the last entry`, fixedSql(`last entry ${col}: every character`, `UPDATE audit_entries SET ${col} = ? WHERE seq = ?`, flipped, max), ["checkpoint-mismatch", "modified"]);
    }
  }
  tally.print("audit tamper (exhaustive)");
  tally.assertAllDetected();
  assert.ok(tally.total > 1600, `${tally.total} cases`);
});

