/**
 * Attacks on the writer, not the verifier: someone edits the database while AegisClaw is not running and waits
 * for the next honest run to sign their version. AuditLog.open must refuse a log it cannot vouch for; and values
 * of the wrong SQL type must be reported as damage, not crash the verifier.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test, type TestContext } from "node:test";
import { computeEntryHash, type AuditEntry } from "../../src/audit/entry.ts";
import { AuditLog } from "../../src/audit/log.ts";
import { SqliteAuditStore } from "../../src/audit/sqlite-store.ts";
import { isAegis } from "../helpers/errors.ts";
import { tempDir } from "../helpers/tmp.ts";
import { input, makeKey, verifyStore, type TestKey } from "../audit/helpers.ts";

async function makeLog(t: TestContext, entries: number, checkpointEvery = 10): Promise<{ path: string; key: TestKey }> {
  const path = join(tempDir(t), "audit.db");
  const key = makeKey();
  const log = await AuditLog.open(new SqliteAuditStore(path), key.signer, { checkpointEvery });
  for (let i = 0; i < entries; i += 1) await log.append(input(i));
  await log.close();
  return { path, key };
}

function tamper(path: string, sql: string): void {
  const db = new DatabaseSync(path);
  for (const t of ["audit_entries_no_update", "audit_entries_no_delete", "audit_checkpoints_no_update", "audit_checkpoints_no_delete"]) db.exec(`DROP TRIGGER IF EXISTS ${t}`);
  db.exec(sql);
  db.close();
}

/** Rewrites entry `seq` (decision) and re-chains every later entry, as an attacker without the key would. */
function rewriteHistory(path: string, seq: number): void {
  const db = new DatabaseSync(path);
  for (const t of ["audit_entries_no_update"]) db.exec(`DROP TRIGGER IF EXISTS ${t}`);
  const rows = db.prepare("SELECT * FROM audit_entries ORDER BY seq").all() as unknown as Record<string, string | number>[];
  let prev = "";
  for (const r of rows) {
    const e = { seq: Number(r.seq), ts: String(r.ts), kind: String(r.kind), actor: String(r.actor), action: String(r.action), resource: String(r.resource), decision: String(r.decision), detail: String(r.detail), prevHash: String(r.prev_hash), hash: String(r.hash) } satisfies AuditEntry;
    if (e.seq < seq) {
      prev = e.hash;
      continue;
    }
    const changed = { ...e, prevHash: prev, decision: e.seq === seq ? "allow" : e.decision };
    const h = computeEntryHash(changed);
    db.prepare("UPDATE audit_entries SET decision = ?, prev_hash = ?, hash = ? WHERE seq = ?").run(changed.decision, changed.prevHash, h, e.seq);
    prev = h;
  }
  db.close();
}

const reopen = (path: string, key: TestKey): Promise<AuditLog> => AuditLog.open(new SqliteAuditStore(path), key.signer);

test("attack: delete every checkpoint, rewrite history; the next honest run refuses to sign it", async (t) => {
  const { path, key } = await makeLog(t, 25);
  tamper(path, "DELETE FROM audit_checkpoints");
  rewriteHistory(path, 5);
  await assert.rejects(reopen(path, key), isAegis("AUDIT_CORRUPT", /no signed checkpoint/));
  const { report } = await verifyStore(new SqliteAuditStore(path, { readOnly: true }), key.publicKey);
  assert.equal(report.checkpoints, 0);
});

test("attack: rewrite history under the latest checkpoint; open refuses (root no longer matches)", async (t) => {
  const { path, key } = await makeLog(t, 25);
  rewriteHistory(path, 5);
  await assert.rejects(reopen(path, key), isAegis("AUDIT_CORRUPT", /no longer produce the root/));
});

test("attack: forge the latest checkpoint with another key; open refuses", async (t) => {
  const { path, key } = await makeLog(t, 25);
  const other = makeKey();
  const db = new DatabaseSync(path);
  const last = db.prepare("SELECT * FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1").get() as { tree_size: number; root_hash: string; ts: string; prev_size: number };
  const forged = other.signer.sign({ treeSize: last.tree_size + 0, rootHash: last.root_hash, ts: last.ts, prevSize: last.prev_size });
  db.close();
  tamper(path, `UPDATE audit_checkpoints SET signature = '${forged.signature}', key_id = '${forged.keyId}' WHERE tree_size = ${last.tree_size}`);
  await assert.rejects(reopen(path, key), isAegis("AUDIT_CORRUPT", /not signed by this profile's checkpoint key/));
});

test("attack: edit an entry after the latest checkpoint, or cut entries it covers; open refuses", async (t) => {
  const a = await makeLog(t, 25, 10);
  // Entries 21..25 were sealed by the close() checkpoint at 25; add unsealed ones by killing nothing: append without close.
  const log = await reopen(a.path, a.key);
  for (let i = 0; i < 3; i += 1) await log.append(input(100 + i));
  await log.flush();
  await log.store.close();
  tamper(a.path, "UPDATE audit_entries SET detail = '{\"forged\":true}' WHERE seq = 27");
  await assert.rejects(reopen(a.path, a.key), isAegis("AUDIT_CORRUPT", /entry 27 is missing, out of order or altered/));

  const b = await makeLog(t, 25, 10);
  tamper(b.path, "DELETE FROM audit_entries WHERE seq > 22");
  await assert.rejects(reopen(b.path, b.key), isAegis("AUDIT_CORRUPT", /covers 25 entries but only 22 remain/));
});

test("attack: a column changed to another SQL type is reported as modified, never a crash", async (t) => {
  for (const [column, value] of [["detail", "X'00ff'"], ["ts", "12345"], ["hash", "X'0102'"], ["actor", "NULL"], ["prev_hash", "3.5"]] as const) {
    const { path, key } = await makeLog(t, 12);
    tamper(path, `CREATE TABLE x AS SELECT * FROM audit_entries; DROP TABLE audit_entries; CREATE TABLE audit_entries (seq INTEGER PRIMARY KEY, ts, kind, actor, action, resource, decision, detail, prev_hash, hash); INSERT INTO audit_entries SELECT * FROM x; DROP TABLE x; UPDATE audit_entries SET ${column} = ${value} WHERE seq = 7`);
    const { report } = await verifyStore(new SqliteAuditStore(path, { readOnly: true }), key.publicKey);
    assert.equal(report.ok, false, column);
    assert.ok(report.damage && report.damage.seq <= 7, `${column}: ${report.damage?.message ?? ""}`);
    await assert.rejects(reopen(path, key), isAegis("AUDIT_CORRUPT"), column);
  }
});
