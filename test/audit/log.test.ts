import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";

import { keyIdOf, verifyCheckpointSignature, type Checkpoint } from "../../src/audit/checkpoint.ts";
import { computeEntryHash, GENESIS_HASH, type AuditEntry, type AuditInput, entryLeaf } from "../../src/audit/entry.ts";
import { AuditLog } from "../../src/audit/log.ts";
import { inclusionProof, merkleRoot, verifyInclusion } from "../../src/audit/merkle.ts";
import { SqliteAuditStore } from "../../src/audit/sqlite-store.ts";
import type { AuditQuery, AuditStore } from "../../src/audit/store.ts";
import { tempDir } from "../helpers/tmp.ts";
import { input, makeKey, readAll, verifyStore } from "./helpers.ts";

/** Delegates to a real store and counts the transactions the log asks for. */
class CountingStore implements AuditStore {
  readonly inner: AuditStore;
  batches: number[] = [];
  constructor(inner: AuditStore) {
    this.inner = inner;
  }
  get location(): string {
    return this.inner.location;
  }
  appendBatch(batch: readonly { input: AuditInput; ts: string }[]): Promise<AuditEntry[]> {
    this.batches.push(batch.length);
    return this.inner.appendBatch(batch);
  }
  head(): Promise<{ seq: number; hash: string } | undefined> {
    return this.inner.head();
  }
  scan(afterSeq?: number, batchSize?: number): AsyncIterable<AuditEntry[]> {
    return this.inner.scan(afterSeq, batchSize);
  }
  query(q: AuditQuery): Promise<AuditEntry[]> {
    return this.inner.query(q);
  }
  addCheckpoint(c: Checkpoint): Promise<boolean> {
    return this.inner.addCheckpoint(c);
  }
  checkpoints(): Promise<Checkpoint[]> {
    return this.inner.checkpoints();
  }
  latestCheckpoint(): Promise<Checkpoint | undefined> {
    return this.inner.latestCheckpoint();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const leavesOf = (entries: readonly AuditEntry[]): Buffer[] => entries.map((e) => entryLeaf(e));

test("each append is chained and durably committed before its promise resolves", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "audit.db");
  const key = makeKey();
  const log = await AuditLog.open(new SqliteAuditStore(path), key.signer);
  t.after(() => log.close());

  let prev = GENESIS_HASH;
  for (let i = 0; i < 20; i++) {
    const e = await log.append(input(i));
    assert.equal(e.seq, i + 1);
    assert.equal(e.prevHash, prev);
    assert.equal(e.hash, computeEntryHash(e));
    // A separate connection (as another process would) sees it as soon as the promise resolved.
    const reader = new DatabaseSync(path, { readOnly: true });
    const row = reader.prepare("SELECT * FROM audit_entries WHERE seq = ?").get(e.seq) as Record<string, unknown> | undefined;
    reader.close();
    assert.ok(row, `entry ${e.seq} is in the file once append resolved`);
    assert.equal(row.hash, e.hash);
    assert.equal(row.prev_hash, prev);
    assert.equal(row.detail, JSON.stringify(input(i).detail));
    prev = e.hash;
  }
  // And a new store on the file reads back exactly what was acknowledged.
  const other = new SqliteAuditStore(path, { readOnly: true });
  t.after(() => other.close());
  const all = await readAll(other);
  assert.equal(all.length, 20);
  assert.deepEqual(await other.head(), { seq: 20, hash: prev });
});

test("500 appends issued together are grouped into few transactions and get consecutive sequence numbers", async (t) => {
  const dir = tempDir(t);
  const key = makeKey();
  const store = new CountingStore(new SqliteAuditStore(join(dir, "audit.db")));
  const log = await AuditLog.open(store, key.signer, { checkpointEvery: 100_000 });
  t.after(() => log.close());

  const promises = Array.from({ length: 500 }, (_, i) => log.append(input(i)));
  const entries = await Promise.all(promises);
  entries.forEach((e, i) => {
    assert.equal(e.seq, i + 1, "seq follows the order of the append calls");
    assert.deepEqual(JSON.parse(e.detail), JSON.parse(JSON.stringify(input(i).detail)));
  });
  assert.equal(store.batches.reduce((a, b) => a + b, 0), 500);
  assert.ok(store.batches.length <= 3, `500 appends took ${store.batches.length} transactions (${store.batches.join(", ")})`);

  // maxBatch bounds a transaction; every append still resolves in order.
  const small = new CountingStore(new SqliteAuditStore(join(dir, "audit2.db")));
  const log2 = await AuditLog.open(small, key.signer, { maxBatch: 100, checkpointEvery: 100_000 });
  t.after(() => log2.close());
  const entries2 = await Promise.all(Array.from({ length: 500 }, (_, i) => log2.append(input(i))));
  assert.deepEqual(entries2.map((e) => e.seq), Array.from({ length: 500 }, (_, i) => i + 1));
  assert.ok(small.batches.every((n) => n <= 100));
  assert.ok(small.batches.length >= 5 && small.batches.length <= 7, `batches: ${small.batches.join(", ")}`);

  const { report } = await verifyStore(store, key.publicKey);
  assert.equal(report.ok, true);
  assert.equal(report.entries, 500);
});

test("checkpoints are written every N entries and on close, signed, chained and verifiable", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "audit.db");
  const key = makeKey();
  let clock = Date.parse("2025-01-01T00:00:00Z");
  const log = await AuditLog.open(new SqliteAuditStore(path), key.signer, { checkpointEvery: 50, now: () => new Date((clock += 1000)) });
  for (let i = 0; i < 175; i++) await log.append(input(i));
  await log.close();
  await log.close(); // idempotent

  const store = new SqliteAuditStore(path, { readOnly: true });
  t.after(() => store.close());
  const entries = await readAll(store);
  const cps = await store.checkpoints();
  assert.deepEqual(cps.map((c) => c.treeSize), [50, 100, 150, 175]);
  assert.deepEqual(cps.map((c) => c.prevSize), [0, 50, 100, 150]);
  const leaves = leavesOf(entries);
  for (const cp of cps) {
    assert.equal(verifyCheckpointSignature(cp, key.publicKey), true);
    assert.equal(cp.keyId, keyIdOf(key.publicKey));
    assert.equal(cp.rootHash, merkleRoot(leaves.slice(0, cp.treeSize)).toString("hex"));
    assert.ok(!Number.isNaN(Date.parse(cp.ts)));
  }
  // Another key does not vouch for them.
  assert.equal(verifyCheckpointSignature(cps[0] as Checkpoint, makeKey().publicKey), false);

  const { report } = await verifyStore(store, key.publicKey);
  assert.equal(report.ok, true, report.damage?.message);
  assert.equal(report.entries, 175);
  assert.equal(report.checkpoints, 4);
  assert.equal(report.unsealed, 0);
  assert.deepEqual(report.warnings, []);
  assert.equal(report.rootHash, merkleRoot(leaves).toString("hex"));
  assert.equal(report.latestCheckpoint?.treeSize, 175);

  // Reopening continues the chain and the checkpoint chain.
  const log2 = await AuditLog.open(new SqliteAuditStore(path), key.signer, { checkpointEvery: 50 });
  assert.equal(await log2.checkpoint(), undefined, "nothing new to sign");
  const e = await log2.append(input(175));
  assert.equal(e.seq, 176);
  assert.equal(e.prevHash, entries.at(-1)?.hash);
  const cp = await log2.checkpoint();
  assert.equal(cp?.treeSize, 176);
  assert.equal(cp.prevSize, 175);
  await log2.close();
  const after = await verifyStore(store, key.publicKey);
  assert.equal(after.report.ok, true, after.report.damage?.message);
  assert.equal(after.checkpoints.length, 5);
});

test("checkpoints during bursts are at least N apart, and a burst is covered on close", async (t) => {
  const dir = tempDir(t);
  const key = makeKey();
  const store = new SqliteAuditStore(join(dir, "audit.db"));
  const log = await AuditLog.open(store, key.signer, { checkpointEvery: 64, maxBatch: 40 });
  for (let round = 0; round < 10; round++) {
    await Promise.all(Array.from({ length: 37 }, (_, i) => log.append(input(round * 37 + i))));
  }
  const cps = await store.checkpoints();
  assert.ok(cps.length >= 3, `${cps.length} checkpoints for 370 entries every 64`);
  cps.forEach((c, i) => {
    assert.ok(c.treeSize - c.prevSize >= 64, `checkpoint ${i} covers ${c.prevSize}..${c.treeSize}`);
  });
  await log.close();
  const reader = new SqliteAuditStore(join(dir, "audit.db"), { readOnly: true });
  t.after(() => reader.close());
  const { report, checkpoints } = await verifyStore(reader, key.publicKey);
  assert.equal(report.ok, true, report.damage?.message);
  assert.equal(checkpoints.at(-1)?.treeSize, 370);
  assert.equal(report.unsealed, 0);
});

test("two logs on one file (two connections) appending interleaved keep one unbroken chain", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "audit.db");
  const key = makeKey();
  const a = await AuditLog.open(new SqliteAuditStore(path), key.signer, { checkpointEvery: 7, maxBatch: 5 });
  const b = await AuditLog.open(new SqliteAuditStore(path), key.signer, { checkpointEvery: 11, maxBatch: 3 });
  const acknowledged: AuditEntry[] = [];
  const pending: Promise<void>[] = [];
  for (let i = 0; i < 600; i++) {
    const log = (i * 7919) % 3 === 0 ? b : a;
    pending.push(log.append(input(i, { writer: log === a ? "a" : "b" })).then((e) => void acknowledged.push(e)));
    // Mix bursts with awaited appends so batches, drains and checkpoints of both logs interleave.
    if (i % 29 === 0) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  await Promise.all([a.close(), b.close()]);

  const reader = new SqliteAuditStore(path, { readOnly: true });
  t.after(() => reader.close());
  const entries = await readAll(reader);
  assert.equal(entries.length, 600);
  assert.deepEqual(
    entries.map((e) => e.seq),
    Array.from({ length: 600 }, (_, i) => i + 1),
  );
  const byHash = new Map(entries.map((e) => [e.hash, e]));
  for (const e of acknowledged) assert.deepEqual(byHash.get(e.hash), e);
  const writers = new Set(entries.map((e) => (JSON.parse(e.detail) as { writer: string }).writer));
  assert.deepEqual([...writers].sort(), ["a", "b"]);

  const { report, checkpoints } = await verifyStore(reader, key.publicKey);
  assert.equal(report.ok, true, report.damage?.message);
  assert.equal(report.unsealed, 0);
  assert.ok(checkpoints.length > 10);
});

test("append on a closed log rejects, and nothing is written", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "audit.db");
  const key = makeKey();
  const log = await AuditLog.open(new SqliteAuditStore(path), key.signer);
  await log.append(input(0));
  await log.close();
  await assert.rejects(log.append(input(1)), /closed/);
  const reader = new SqliteAuditStore(path, { readOnly: true });
  t.after(() => reader.close());
  assert.equal((await readAll(reader)).length, 1);
});

test("appends queued before close are committed by close and covered by its checkpoint", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "audit.db");
  const key = makeKey();
  const log = await AuditLog.open(new SqliteAuditStore(path), key.signer);
  const promises = Array.from({ length: 50 }, (_, i) => log.append(input(i)));
  await log.close();
  const entries = await Promise.all(promises);
  assert.equal(entries.at(-1)?.seq, 50);
  const reader = new SqliteAuditStore(path, { readOnly: true });
  t.after(() => reader.close());
  const { report, checkpoints } = await verifyStore(reader, key.publicKey);
  assert.equal(report.ok, true);
  assert.equal(checkpoints.at(-1)?.treeSize, 50);
});

test("inclusion proofs for entries verify against the latest signed checkpoint", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "audit.db");
  const key = makeKey();
  const log = await AuditLog.open(new SqliteAuditStore(path), key.signer, { checkpointEvery: 40 });
  await Promise.all(Array.from({ length: 137 }, (_, i) => log.append(input(i))));
  await log.close();

  const reader = new SqliteAuditStore(path, { readOnly: true });
  t.after(() => reader.close());
  const entries = await readAll(reader);
  const cp = (await reader.checkpoints()).at(-1);
  assert.ok(cp);
  assert.equal(cp.treeSize, 137);
  assert.equal(verifyCheckpointSignature(cp, key.publicKey), true);
  const leaves = leavesOf(entries);
  const root = Buffer.from(cp.rootHash, "hex");
  for (const e of entries) {
    const proof = inclusionProof(e.seq - 1, leaves);
    assert.equal(verifyInclusion(e.seq - 1, cp.treeSize, entryLeaf(e), proof, root), true, `entry ${e.seq}`);
  }
  // A modified entry (its recomputed hash) is not in the tree, and a proof for one index does not prove another.
  const e5 = entries[4] as AuditEntry;
  const forged = computeEntryHash({ ...e5, decision: e5.decision === "allow" ? "deny" : "allow" });
  assert.equal(verifyInclusion(4, cp.treeSize, Buffer.from(forged, "hex"), inclusionProof(4, leaves), root), false);
  assert.equal(verifyInclusion(5, cp.treeSize, entryLeaf(e5), inclusionProof(4, leaves), root), false);
  // Proofs against an earlier checkpoint (size 40 or more) verify too.
  const first = (await reader.checkpoints())[0] as Checkpoint;
  const prefix = leaves.slice(0, first.treeSize);
  assert.equal(verifyInclusion(0, first.treeSize, prefix[0] as Buffer, inclusionProof(0, prefix), Buffer.from(first.rootHash, "hex")), true);
});

const APPENDER = new URL("./fixtures/appender.ts", import.meta.url).pathname;

function runAppender(args: readonly string[]): Promise<{ code: number | null; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [APPENDER, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      resolve({ code, lines: out.split("\n").filter((l) => l !== "") });
    });
  });
}

test("three processes appending to one log with frequent checkpoints keep the chain and the checkpoint chain intact", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "audit.db");
  const key = makeKey();
  const keyFile = join(dir, "checkpoint.key");
  writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });
  // As `aegisclaw init` does: the log starts with one entry and a checkpoint, before any concurrent writer opens it
  // (a writer refuses a log that has entries but no checkpoint).
  const first = await AuditLog.open(new SqliteAuditStore(path), key.signer);
  await first.append(input(9999));
  await first.close();
  const runs = await Promise.all([0, 1000, 2000].map((start) => runAppender([path, keyFile, String(start), "250", "5", "3"])));
  const acked = new Map<number, { id: number; hash: string }>();
  for (const r of runs) {
    assert.equal(r.code, 0);
    assert.equal(r.lines.at(-1), "closed");
    for (const line of r.lines.slice(1, -1)) {
      const [seq, id, hash] = line.split(" ");
      assert.ok(!acked.has(Number(seq)), `seq ${seq} acknowledged twice`);
      acked.set(Number(seq), { id: Number(id), hash: hash ?? "" });
    }
  }
  assert.equal(acked.size, 750);
  const reader = new SqliteAuditStore(path, { readOnly: true });
  t.after(() => reader.close());
  const entries = (await readAll(reader)).slice(1);
  assert.equal(entries.length, 750);
  for (const e of entries) {
    const a = acked.get(e.seq);
    assert.ok(a, `entry ${e.seq} was acknowledged`);
    assert.equal(e.hash, a.hash);
    assert.equal(e.detail, JSON.stringify(input(a.id).detail));
  }
  const { report, checkpoints } = await verifyStore(reader, key.publicKey);
  // Before the store checked checkpoints under the write lock, racing writers stored checkpoints over a stale
  // predecessor and this intact log failed with "checkpoint-gap".
  assert.equal(report.ok, true, report.damage?.message);
  assert.equal(report.unsealed, 0);
  assert.ok(checkpoints.length > 50, `${checkpoints.length} checkpoints`);
});

test("the store only accepts a checkpoint that extends the latest one", async (t) => {
  const dir = tempDir(t);
  const key = makeKey();
  const store = new SqliteAuditStore(join(dir, "audit.db"));
  t.after(() => store.close());
  await store.appendBatch(Array.from({ length: 10 }, (_, i) => ({ input: input(i), ts: new Date(0).toISOString() })));
  const cp = (treeSize: number, prevSize: number): Checkpoint =>
    key.signer.sign({ treeSize, rootHash: "00".repeat(32), ts: new Date(0).toISOString(), prevSize });
  assert.equal(await store.addCheckpoint(cp(4, 0)), true);
  assert.equal(await store.addCheckpoint(cp(6, 0)), false, "stale predecessor");
  assert.equal(await store.addCheckpoint(cp(4, 0)), false, "same size again");
  assert.equal(await store.addCheckpoint(cp(3, 4)), false, "smaller than the latest");
  assert.equal(await store.addCheckpoint(cp(8, 4)), true);
  assert.deepEqual((await store.checkpoints()).map((c) => [c.prevSize, c.treeSize]), [
    [0, 4],
    [4, 8],
  ]);
});
