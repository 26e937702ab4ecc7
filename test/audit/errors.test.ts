/**
 * Bad conditions around the audit database: each gets a clear AegisError, and nothing already recorded is lost.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";

import { AuditLog } from "../../src/audit/log.ts";
import { SqliteAuditStore } from "../../src/audit/sqlite-store.ts";
import type { AuditEntry } from "../../src/audit/entry.ts";
import { isAegis } from "../helpers/errors.ts";
import { tempDir } from "../helpers/tmp.ts";
import { input, makeKey, readAll, verifyStore, type TestKey } from "./helpers.ts";


/** A closed, checkpointed log of `n` entries; returns what was acknowledged. */
async function makeLog(path: string, key: TestKey, n: number): Promise<AuditEntry[]> {
  const log = await AuditLog.open(new SqliteAuditStore(path), key.signer, { checkpointEvery: 10 });
  const entries: AuditEntry[] = [];
  for (let i = 0; i < n; i++) entries.push(await log.append(input(i)));
  await log.close();
  return entries;
}

async function assertIntact(t: TestContext, path: string, key: TestKey, expected: readonly AuditEntry[]): Promise<void> {
  const reader = new SqliteAuditStore(path, { readOnly: true });
  t.after(() => reader.close());
  assert.deepEqual(await readAll(reader), expected);
  const { report } = await verifyStore(reader, key.publicKey);
  assert.equal(report.ok, true, report.damage?.message);
}

const snapshot = (dir: string, file: string): { files: string[]; bytes: Buffer } => ({ files: readdirSync(dir).sort(), bytes: readFileSync(join(dir, file)) });

test("a database locked by another writer: append fails with AUDIT_LOCKED, nothing recorded is lost, and it recovers", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "audit.db");
  const key = makeKey();
  const log = await AuditLog.open(new SqliteAuditStore(path, { busyTimeoutMs: 50 }), key.signer, { checkpointEvery: 1000 });
  t.after(() => log.close());
  const recorded: AuditEntry[] = [];
  for (let i = 0; i < 10; i++) recorded.push(await log.append(input(i)));

  const locker = new DatabaseSync(path);
  locker.exec("BEGIN IMMEDIATE");
  try {
    const started = Date.now();
    await assert.rejects(log.append(input(10)), isAegis("AUDIT_LOCKED", /locked by another process.*Nothing was recorded/s));
    assert.ok(Date.now() - started < 3000, "the busy timeout bounds the wait");
    // Every append of the failed batch rejects; none is half-recorded.
    const results = await Promise.allSettled([log.append(input(11)), log.append(input(12))]);
    assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
    // A second store opened while the lock is held can read, and fails the same way on write.
    const other = new SqliteAuditStore(path, { busyTimeoutMs: 20 });
    try {
      assert.deepEqual(await readAll(other), recorded);
      await assert.rejects(other.appendBatch([{ input: input(99), ts: new Date().toISOString() }]), isAegis("AUDIT_LOCKED"));
    } finally {
      await other.close();
    }
  } finally {
    locker.exec("ROLLBACK");
    locker.close();
  }

  // Released: the same log appends again, continuing the chain from what was recorded.
  const next = await log.append(input(13));
  assert.equal(next.seq, 11);
  assert.equal(next.prevHash, recorded.at(-1)?.hash);
  recorded.push(next);
  await log.close();
  const reader = new SqliteAuditStore(path, { readOnly: true });
  t.after(() => reader.close());
  assert.deepEqual(await readAll(reader), recorded);
  const { report } = await verifyStore(reader, key.publicKey);
  assert.equal(report.ok, true, report.damage?.message);
  assert.equal(report.unsealed, 0);
});

test("a full disk during append: AUDIT_DISK_FULL, earlier entries intact and verifiable, and it recovers", async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip("needs root to mount a tmpfs");
    return;
  }
  const dir = tempDir(t);
  const mnt = join(dir, "small-disk");
  mkdirSync(mnt);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", mnt], { stdio: "pipe" });
  } catch (err) {
    t.skip(`cannot mount a tmpfs here (${String(err).split("\n")[0] ?? ""})`);
    return;
  }
  try {
    const path = join(mnt, "audit.db");
    const key = makeKey();
    const store = new SqliteAuditStore(path);
    const log = await AuditLog.open(store, key.signer, { checkpointEvery: 5 });
    const recorded: AuditEntry[] = [];
    try {
      for (let i = 0; i < 12; i++) recorded.push(await log.append(input(i)));

      // Fill the rest of the disk.
      const filler = join(mnt, "filler");
      const fd = openSync(filler, "w");
      try {
        const chunk = Buffer.alloc(16 * 1024, 0x5a);
        for (let i = 0; i < 1000; i++) writeSync(fd, chunk);
        assert.fail("the 1 MiB tmpfs never filled up");
      } catch (err) {
        assert.equal((err as NodeJS.ErrnoException).code, "ENOSPC");
      } finally {
        closeSync(fd);
      }

      let failures = 0;
      for (let i = 0; i < 20; i++) {
        try {
          recorded.push(await log.append(input(100 + i, { pad: "p".repeat(3000) })));
        } catch (err) {
          isAegis("AUDIT_DISK_FULL", /full.*entries already recorded are intact/s)(err);
          failures += 1;
        }
      }
      assert.ok(failures > 0, "an append on the full disk failed");
      assert.ok(statSync(path).size > 0);

      // While the disk is still full: everything acknowledged is there and verifies (the failed batches rolled back).
      await assertIntact(t, path, key, recorded);

      // Space freed: the same log carries on.
      unlinkSync(filler);
      recorded.push(await log.append(input(200)));
      assert.equal(recorded.at(-1)?.seq, recorded.length);
    } finally {
      await log.close();
    }
    const reader = new SqliteAuditStore(path, { readOnly: true });
    try {
      assert.deepEqual(await readAll(reader), recorded);
      const { report } = await verifyStore(reader, key.publicKey);
      assert.equal(report.ok, true, report.damage?.message);
      assert.equal(report.unsealed, 0);
    } finally {
      await reader.close();
    }
  } finally {
    execFileSync("umount", ["-l", mnt], { stdio: "pipe" });
  }
});

test("a database from a newer schema is refused with AUDIT_TOO_NEW and left unchanged", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "audit.db");
  const key = makeKey();
  await makeLog(path, key, 5);
  const db = new DatabaseSync(path);
  db.exec("PRAGMA user_version=99");
  db.close();
  const before = snapshot(dir, "audit.db");

  assert.throws(() => new SqliteAuditStore(path), isAegis("AUDIT_TOO_NEW", /newer AegisClaw.*schema 99.*Upgrade AegisClaw; the file was not changed/s));
  assert.throws(() => new SqliteAuditStore(path, { readOnly: true }), isAegis("AUDIT_TOO_NEW"));
  await assert.rejects(
    (async () => AuditLog.open(new SqliteAuditStore(path), key.signer))(),
    isAegis("AUDIT_TOO_NEW"),
  );
  assert.deepEqual(snapshot(dir, "audit.db"), before);
});

test("a file that is not SQLite is refused with AUDIT_CORRUPT and left unchanged", (t) => {
  const dir = tempDir(t);
  const path = join(dir, "audit.db");
  writeFileSync(path, "this is not an audit database, it is a shopping list\n".repeat(100), { mode: 0o600 });
  const before = snapshot(dir, "audit.db");
  assert.throws(() => new SqliteAuditStore(path), isAegis("AUDIT_CORRUPT", /not a readable SQLite database.*Keep the file/s));
  assert.throws(() => new SqliteAuditStore(path, { readOnly: true }), isAegis("AUDIT_CORRUPT"));
  assert.deepEqual(snapshot(dir, "audit.db"), before);
});

test("a truncated database file is refused with AUDIT_CORRUPT and left unchanged", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "audit.db");
  const key = makeKey();
  const log = await AuditLog.open(new SqliteAuditStore(path), key.signer);
  await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(input(i, { pad: "q".repeat(200) }))));
  await log.close();
  truncateSync(path, Math.floor(statSync(path).size / 2));
  const before = snapshot(dir, "audit.db");
  assert.throws(() => new SqliteAuditStore(path, { readOnly: true }), isAegis("AUDIT_CORRUPT"));
  assert.throws(() => new SqliteAuditStore(path), isAegis("AUDIT_CORRUPT"));
  assert.deepEqual(snapshot(dir, "audit.db"), before);
});

test("reading a file with no audit log says so, and a read-only store refuses to append", async (t) => {
  const dir = tempDir(t);
  const empty = join(dir, "empty.db");
  new DatabaseSync(empty).close();
  assert.throws(() => new SqliteAuditStore(empty, { readOnly: true }), isAegis("AUDIT_NOT_FOUND"));
  assert.throws(() => new SqliteAuditStore(join(dir, "missing.db"), { readOnly: true }), isAegis("AUDIT_NOT_FOUND", /no audit log at .*missing\.db/));
  assert.equal(existsSync(join(dir, "missing.db")), false, "reading does not create the file");

  const path = join(dir, "audit.db");
  const key = makeKey();
  const recorded = await makeLog(path, key, 3);
  const reader = new SqliteAuditStore(path, { readOnly: true });
  t.after(() => reader.close());
  await assert.rejects(reader.appendBatch([{ input: input(9), ts: new Date().toISOString() }]), isAegis("AUDIT_WRITE_FAILED", /read-only/));
  await assertIntact(t, path, key, recorded);
});

test("the append-only triggers refuse UPDATE and DELETE on entries and checkpoints", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "audit.db");
  const key = makeKey();
  const recorded = await makeLog(path, key, 25);
  const db = new DatabaseSync(path);
  try {
    const attempts = [
      "UPDATE audit_entries SET decision = 'allow' WHERE seq = 3",
      "UPDATE audit_entries SET seq = 1000 WHERE seq = 25",
      "DELETE FROM audit_entries WHERE seq = 25",
      "DELETE FROM audit_entries",
      "UPDATE audit_checkpoints SET root_hash = 'x' WHERE tree_size = 10",
      "DELETE FROM audit_checkpoints WHERE tree_size = 25",
      // REPLACE deletes the conflicting row without firing DELETE triggers; a BEFORE INSERT trigger catches it.
      "INSERT OR REPLACE INTO audit_entries (seq, ts, kind, actor, action, resource, decision, detail, prev_hash, hash) SELECT seq, ts, kind, actor, action, resource, 'allow', detail, prev_hash, hash FROM audit_entries WHERE seq = 3",
      "REPLACE INTO audit_checkpoints (tree_size, root_hash, ts, prev_size, key_id, signature) SELECT tree_size, 'x', ts, prev_size, key_id, signature FROM audit_checkpoints WHERE tree_size = 10",
      "INSERT INTO audit_entries SELECT * FROM audit_entries WHERE seq = 1 ON CONFLICT (seq) DO UPDATE SET decision = 'allow'",
    ];
    for (const sql of attempts) {
      assert.throws(() => { db.exec(sql); }, /append-only/, sql);
    }
  } finally {
    db.close();
  }
  await assertIntact(t, path, key, recorded);
});
