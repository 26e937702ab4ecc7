/**
 * Attack test (invariant 8): random corruptions of a real audit database — bit flips in any column, deleted,
 * reordered, duplicated and truncated rows, rewritten histories — must all be detected by verifyAuditLog, at or
 * before the first sequence number the corruption changed.
 *
 * The log: 307 entries, a signed checkpoint every 50 and one on close (7 checkpoints). Each corruption is applied to
 * a fresh copy with the append-only triggers dropped (test/audit/tamper-harness.ts). The random campaign is split
 * over three files so the runner can use both cores: this one (entry rows, 5,000 cases),
 * audit-tamper-checkpoints.test.ts (checkpoints, 5,000 cases) and audit-tamper-exhaustive.test.ts (every position
 * of the simple corruptions). 15 % of the random cases stack 2..3 corruptions of any kind.
 */
import { test } from "node:test";
import assert from "node:assert/strict";

import { buildFixture, CHECKPOINT_CORRUPTIONS, ENTRY_CORRUPTIONS, runCampaign, verifyReplayed } from "../audit/tamper-harness.ts";
import { tempDir } from "../helpers/tmp.ts";

const CASES = Number(process.env.AUDIT_TAMPER_CASES ?? "5000");

test(`${CASES.toLocaleString("en-US")} random corruptions of the entry rows of a real audit database are all detected`, async (t) => {
  await runCampaign(tempDir(t), {
    title: "audit tamper, entry rows",
    seed: 0x5eed_ae61,
    cases: CASES,
    singles: ENTRY_CORRUPTIONS,
    stackedShare: 0.15,
    stackFrom: { ...ENTRY_CORRUPTIONS, ...CHECKPOINT_CORRUPTIONS },
    replayEvery: 40,
  });
});

test("known limit: deleting only the latest checkpoint leaves a consistent log; verify warns it is unsealed instead of passing silently", async (t) => {
  const dir = tempDir(t);
  const f = await buildFixture(dir);
  t.after(() => {
    f.close();
  });
  const last = f.checkpoints.at(-1);
  const previous = f.checkpoints.at(-2);
  assert.ok(last && previous);
  const report = await verifyReplayed(f, dir, [{ sql: "DELETE FROM audit_checkpoints WHERE tree_size = ?", params: [last.treeSize] }], "limit");
  // Without an external copy of the latest checkpoint this is indistinguishable from a crash before close: the
  // entries after the previous checkpoint are still chained, but no signature vouches for them. (The same holds if
  // those entries are then also cut off: a log that ends at a checkpoint is complete as far as it can tell. Only a
  // checkpoint kept elsewhere, e.g. an export, detects that rollback.)
  assert.equal(report.ok, true);
  assert.equal(report.unsealed, last.treeSize - previous.treeSize);
  assert.equal(report.latestCheckpoint?.treeSize, previous.treeSize);
  assert.equal(report.warnings.length, 1);
  assert.match(report.warnings[0] ?? "", new RegExp(`^${last.treeSize - previous.treeSize} entries after the latest checkpoint are chained but not yet covered by a signed checkpoint`));

  // The same goes for a log with no checkpoint at all.
  const none = await verifyReplayed(f, dir, [{ sql: "DELETE FROM audit_checkpoints", params: [] }], "limit-none");
  assert.equal(none.ok, true);
  assert.equal(none.unsealed, f.maxSeq);
  assert.match(none.warnings[0] ?? "", /no signed checkpoint yet/);
});
