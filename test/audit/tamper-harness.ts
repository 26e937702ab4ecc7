/**
 * Harness for the audit tamper tests (test/attacks/audit-tamper*.test.ts): a real audit database, a catalogue of
 * corruptions applied with SQL, and a fast way to apply each one to a fresh copy.
 *
 * Each corruption runs inside a transaction on a scratch copy of the pristine file (append-only triggers dropped),
 * the tampered rows are read back with the same queries the SQLite store uses, verified, and rolled back: the next
 * corruption starts from the pristine state again. Every statement is recorded, so a sample of cases is replayed
 * on a real file copy and verified through SqliteAuditStore itself, which checks the shortcut reads the same thing.
 * The "first changed seq" each report is held to comes from diffing the tampered rows against the pristine ones,
 * not from what a corruption meant to do, and a case whose net effect is nil is drawn again.
 */
import assert from "node:assert/strict";
import type { KeyObject } from "node:crypto";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";

import type { Checkpoint, CheckpointSigner } from "../../src/audit/checkpoint.ts";
import { computeEntryHash, GENESIS_HASH, type AuditEntry, entryLeaf } from "../../src/audit/entry.ts";
import { AuditLog } from "../../src/audit/log.ts";
import { merkleRoot } from "../../src/audit/merkle.ts";
import { rowToEntry, SqliteAuditStore, type EntryRow } from "../../src/audit/sqlite-store.ts";
import { verifyAuditLog, type DamageKind, type VerifyReport } from "../../src/audit/verify.ts";
import { input, makeKey, readAll, type TestKey } from "./helpers.ts";

/** Thrown when an earlier part of a combination left nothing for this part to change; the case is drawn again. */
class NothingToTamper extends Error {}

/** mulberry32: small, fast, deterministic. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new NothingToTamper("pick from an empty list");
    return item;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

interface Statement {
  readonly sql: string;
  readonly params: readonly SQLInputValue[];
}

/** Prepared statements of one connection, reused across cases (preparing costs more than running here). */
export class Statements {
  readonly db: DatabaseSync;
  readonly #cache = new Map<string, StatementSync>();
  constructor(db: DatabaseSync) {
    this.db = db;
  }
  get(sql: string): StatementSync {
    let stmt = this.#cache.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.#cache.set(sql, stmt);
    }
    return stmt;
  }
}

/** Runs SQL on the scratch copy and remembers it for replay. */
export class Tamperer {
  readonly sql: Statements;
  readonly statements: Statement[] = [];
  constructor(sql: Statements) {
    this.sql = sql;
  }
  #seqs: number[] | undefined;
  run(sql: string, ...params: SQLInputValue[]): void {
    this.sql.get(sql).run(...params);
    this.statements.push({ sql, params });
    this.#seqs = undefined;
  }
  entry(seq: number): EntryRow {
    const row = this.sql.get("SELECT * FROM audit_entries WHERE seq = ?").get(seq) as EntryRow | undefined;
    if (!row) throw new NothingToTamper(`no entry ${seq} in the scratch copy`);
    return row;
  }
  entries(): EntryRow[] {
    return this.sql.get("SELECT * FROM audit_entries ORDER BY seq").all() as unknown as EntryRow[];
  }
  /** Sequence numbers present now, in order (cached until the next change). */
  seqs(): readonly number[] {
    this.#seqs ??= (this.sql.get("SELECT seq FROM audit_entries ORDER BY seq").all() as { seq: number }[]).map((r) => r.seq);
    return this.#seqs;
  }
  checkpointRows(): CheckpointRow[] {
    return this.sql.get("SELECT * FROM audit_checkpoints ORDER BY tree_size").all() as unknown as CheckpointRow[];
  }
}


export interface CheckpointRow {
  tree_size: number;
  root_hash: string;
  ts: string;
  prev_size: number;
  key_id: string;
  signature: string;
}

export const ENTRY_TEXT_COLUMNS = ["ts", "kind", "actor", "action", "resource", "decision", "detail", "prev_hash", "hash"] as const;
export const CHECKPOINT_TEXT_COLUMNS = ["root_hash", "ts", "key_id", "signature"] as const;

/** Flips one bit (0..6, so ASCII stays ASCII and a surrogate stays a surrogate of the same half) of one UTF-16 unit. */
export function flipChar(s: string, rng: Rng): string {
  if (s.length === 0) return "x";
  const i = rng.int(s.length);
  const c = s.charCodeAt(i) ^ (1 << rng.int(7));
  return s.slice(0, i) + String.fromCharCode(c) + s.slice(i + 1);
}


const rowToCheckpoint = (r: CheckpointRow): Checkpoint => ({
  treeSize: r.tree_size,
  rootHash: r.root_hash,
  ts: r.ts,
  prevSize: r.prev_size,
  keyId: r.key_id,
  signature: r.signature,
});

/** What a case did: its class and the first sequence number it changed (damage must be reported at or before it). */
export interface Applied {
  readonly kind: string;
  readonly bound: number;
}

export interface Fixture {
  readonly key: TestKey;
  /** A different Ed25519 key: what an attacker without the real one signs with. */
  readonly otherKey: TestKey;
  readonly entries: readonly AuditEntry[];
  readonly checkpoints: readonly Checkpoint[];
  readonly pristinePath: string;
  readonly scratch: Statements;
  readonly maxSeq: number;
  close(): void;
}

export const TRIGGERS = [
  "audit_entries_no_update",
  "audit_entries_no_delete",
  "audit_entries_no_replace",
  "audit_checkpoints_no_update",
  "audit_checkpoints_no_delete",
  "audit_checkpoints_no_replace",
] as const;

/** Builds the log (`count` entries, a checkpoint every `every` and one on close) and the scratch copy. */
export async function buildFixture(dir: string, count = 307, every = 50): Promise<Fixture> {
  const key = makeKey();
  const path = join(dir, "audit.db");
  const log = await AuditLog.open(new SqliteAuditStore(path), key.signer, { checkpointEvery: every });
  for (let i = 0; i < count; i++) await log.append(input(i));
  await log.close();

  const reader = new SqliteAuditStore(path, { readOnly: true });
  const entries = await readAll(reader);
  const checkpoints = await reader.checkpoints();
  await reader.close();

  // The pristine copy: one file (no WAL), triggers dropped, as an attacker with write access would leave it.
  const pristinePath = join(dir, "pristine.db");
  copyFileSync(path, pristinePath);
  const p = new DatabaseSync(pristinePath);
  p.exec("PRAGMA journal_mode=DELETE");
  for (const t of TRIGGERS) p.exec(`DROP TRIGGER IF EXISTS ${t}`);
  p.close();

  const scratchPath = join(dir, "scratch.db");
  copyFileSync(pristinePath, scratchPath);
  const scratch = new DatabaseSync(scratchPath);
  // Every change is rolled back: keep the journal in memory and skip fsync.
  scratch.exec("PRAGMA journal_mode=MEMORY");
  scratch.exec("PRAGMA synchronous=OFF");
  return {
    key,
    otherKey: makeKey(),
    entries,
    checkpoints,
    pristinePath,
    scratch: new Statements(scratch),
    maxSeq: entries.length,
    close: () => {
      scratch.close();
    },
  };
}

type Cell = string & number;

/**
 * Reads the scratch copy as SqliteAuditStore.scan()/checkpoints() do: every row, in seq / tree-size order, columns
 * mapped the same way (rows fetched as arrays, which is faster; the replayed sample goes through the store itself).
 */
export function readScratch(f: Pick<Fixture, "scratch">): { entries: AuditEntry[]; checkpoints: Checkpoint[] } {
  const rows = f.scratch.get(`SELECT seq, ts, kind, actor, action, resource, decision, detail, prev_hash, hash FROM audit_entries ORDER BY seq /* arrays */`);
  rows.setReturnArrays(true);
  const entries = (rows.all() as unknown as Cell[][]).map((r) => ({
    seq: r[0] as Cell,
    ts: r[1] as Cell,
    kind: r[2] as Cell,
    actor: r[3] as Cell,
    action: r[4] as Cell,
    resource: r[5] as Cell,
    decision: r[6] as Cell,
    detail: r[7] as Cell,
    prevHash: r[8] as Cell,
    hash: r[9] as Cell,
  }));
  const checkpoints = (f.scratch.get("SELECT * FROM audit_checkpoints ORDER BY tree_size").all() as unknown as CheckpointRow[]).map(rowToCheckpoint);
  return { entries, checkpoints };
}

const sameEntry = (a: AuditEntry, b: AuditEntry): boolean =>
  a.hash === b.hash && a.prevHash === b.prevHash && a.ts === b.ts && a.kind === b.kind && a.actor === b.actor && a.action === b.action && a.resource === b.resource && a.decision === b.decision && a.detail === b.detail;

const sameCheckpoint = (a: Checkpoint, b: Checkpoint): boolean =>
  a.rootHash === b.rootHash && a.ts === b.ts && a.prevSize === b.prevSize && a.keyId === b.keyId && a.signature === b.signature;

/**
 * The first sequence number the tampered copy changed: the lowest seq whose row was added, removed or altered, and
 * the lowest tree size whose checkpoint was. Undefined when the copy equals the pristine log.
 */
export function firstDifference(f: Pick<Fixture, "entries" | "checkpoints">, read: { entries: readonly AuditEntry[]; checkpoints: readonly Checkpoint[] }): number | undefined {
  let first = Number.POSITIVE_INFINITY;
  const n = f.entries.length;
  const present = new Uint8Array(n + 1);
  for (const e of read.entries) {
    const o = e.seq >= 1 && e.seq <= n ? f.entries[e.seq - 1] : undefined;
    if (o) present[e.seq] = 1;
    if (!o || !sameEntry(o, e)) first = Math.min(first, e.seq);
  }
  for (let seq = 1; seq <= n && seq < first; seq++) {
    if (present[seq] === 0) first = seq;
  }
  const original = new Map(f.checkpoints.map((c) => [c.treeSize, c]));
  const now = new Set<number>();
  for (const c of read.checkpoints) {
    now.add(c.treeSize);
    const o = original.get(c.treeSize);
    if (!o || !sameCheckpoint(o, c)) first = Math.min(first, c.treeSize);
  }
  for (const c of f.checkpoints) if (!now.has(c.treeSize)) first = Math.min(first, c.treeSize);
  return first === Number.POSITIVE_INFINITY ? undefined : first;
}

/** Replays recorded statements on a fresh file copy and verifies it through the real store. */
export async function verifyReplayed(f: Fixture, dir: string, statements: readonly Statement[], name: string): Promise<VerifyReport> {
  const path = join(dir, `${name}.db`);
  copyFileSync(f.pristinePath, path);
  const db = new DatabaseSync(path);
  try {
    db.exec("BEGIN");
    for (const s of statements) db.prepare(s.sql).run(...s.params);
    db.exec("COMMIT");
  } finally {
    db.close();
  }
  const store = new SqliteAuditStore(path, { readOnly: true });
  try {
    return await verifyAuditLog(store.scan(), await store.checkpoints(), f.key.publicKey);
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The corruptions. Each takes the scratch copy in its pristine state (inside a transaction) and changes it.
// ---------------------------------------------------------------------------------------------------------------

/** Changes the scratch copy; returns what it did, for the tally. */
export type Corruption = (t: Tamperer, rng: Rng, f: Fixture) => string;

/** A sequence number of a row present now, favouring the first and the last (where off-by-one mistakes hide). */
const pickSeq = (t: Tamperer, rng: Rng): number => {
  const seqs = t.seqs();
  const r = rng.next();
  const at = r < 0.05 ? 0 : r < 0.1 ? seqs.length - 1 : rng.int(seqs.length);
  const seq = seqs[at];
  if (seq === undefined) throw new NothingToTamper();
  return seq;
};

/** A sequence number not used by any row: past the end, or zero/negative. */
const unusedSeq = (t: Tamperer, rng: Rng): number => {
  const used = new Set(t.seqs());
  const max = Math.max(...used);
  for (;;) {
    const candidate = rng.pick([max + 1, max + rng.range(2, 1000), 0, -rng.range(1, 1000), rng.range(1, max + 10)]);
    if (!used.has(candidate)) return candidate;
  }
};

const copyEntryColumns = (t: Tamperer, toSeq: number, from: EntryRow): void => {
  t.run(
    "UPDATE audit_entries SET ts = ?, kind = ?, actor = ?, action = ?, resource = ?, decision = ?, detail = ?, prev_hash = ?, hash = ? WHERE seq = ?",
    from.ts,
    from.kind,
    from.actor,
    from.action,
    from.resource,
    from.decision,
    from.detail,
    from.prev_hash,
    from.hash,
    toSeq,
  );
};

const insertEntry = (t: Tamperer, seq: number, r: EntryRow): void => {
  t.run(
    "INSERT INTO audit_entries (seq, ts, kind, actor, action, resource, decision, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    seq,
    r.ts,
    r.kind,
    r.actor,
    r.action,
    r.resource,
    r.decision,
    r.detail,
    r.prev_hash,
    r.hash,
  );
};

const insertCheckpoint = (t: Tamperer, c: Checkpoint): void => {
  t.run("INSERT INTO audit_checkpoints (tree_size, root_hash, ts, prev_size, key_id, signature) VALUES (?, ?, ?, ?, ?, ?)", c.treeSize, c.rootHash, c.ts, c.prevSize, c.keyId, c.signature);
};

/** Rewrites entries from..max into a valid hash chain (what an attacker without the checkpoint key can do). */
export const rechainFrom = (t: Tamperer, from: number): AuditEntry[] => {
  const rows = t.entries();
  const out: AuditEntry[] = [];
  let prev = GENESIS_HASH;
  for (const r of rows) {
    if (r.seq < from) {
      prev = r.hash;
      out.push(rowToEntry(r));
      continue;
    }
    const e = { ...rowToEntry(r), prevHash: prev };
    const h = computeEntryHash(e);
    t.run("UPDATE audit_entries SET prev_hash = ?, hash = ? WHERE seq = ?", prev, h, r.seq);
    out.push({ ...e, hash: h });
    prev = h;
  }
  return out;
};

const leavesOf = (entries: readonly AuditEntry[]): Buffer[] => entries.map((e) => entryLeaf(e));

const resign = (signer: CheckpointSigner, c: Pick<Checkpoint, "treeSize" | "rootHash" | "ts" | "prevSize">): Checkpoint => signer.sign(c);

export const ENTRY_CORRUPTIONS: Record<string, Corruption> = {
  /** One bit of one character of one text column of one row. */
  "bit flip (entry text column)": (t, rng) => {
    const seq = pickSeq(t, rng);
    const row = t.entry(seq);
    const col = rng.pick(ENTRY_TEXT_COLUMNS);
    t.run(`UPDATE audit_entries SET ${col} = ? WHERE seq = ?`, flipChar(row[col], rng), seq);
    return `bit flip (entry ${col})`;
  },
  /** The integer column: the row moves to a sequence number no other row has. */
  "changed seq": (t, rng) => {
    const seq = pickSeq(t, rng);
    const to = unusedSeq(t, rng);
    t.run("UPDATE audit_entries SET seq = ? WHERE seq = ?", to, seq);
    return "changed seq";
  },
  "deleted row": (t, rng) => {
    const seq = pickSeq(t, rng);
    t.run("DELETE FROM audit_entries WHERE seq = ?", seq);
    return "deleted row";
  },
  "deleted rows (a range)": (t, rng) => {
    const from = pickSeq(t, rng);
    t.run("DELETE FROM audit_entries WHERE seq BETWEEN ? AND ?", from, from + rng.range(1, 20));
    return "deleted rows (a range)";
  },
  /** Two rows exchange their contents (each keeps its seq): reordering. Often neighbours. */
  "swapped rows": (t, rng) => {
    const seqs = t.seqs();
    const i = rng.int(seqs.length);
    let j = rng.chance(0.4) ? i + 1 : rng.int(seqs.length);
    if (j >= seqs.length) j = i - 1;
    if (j === i) j = i === 0 ? 1 : i - 1;
    const [si, sj] = [seqs[i] ?? 1, seqs[j] ?? 2];
    const a = t.entry(si);
    const b = t.entry(sj);
    copyEntryColumns(t, si, b);
    copyEntryColumns(t, sj, a);
    return "swapped rows";
  },
  /** A block of 3..13 rows rotated by one: the last one's content moved to the front. */
  "reordered block": (t, rng) => {
    const seqs = t.seqs();
    const start = rng.int(Math.max(1, seqs.length - 2));
    const block = seqs.slice(start, start + rng.range(3, 13));
    const rows = block.map((seq) => t.entry(seq));
    block.forEach((seq, k) => {
      copyEntryColumns(t, seq, rows[(k + rows.length - 1) % rows.length] as EntryRow);
    });
    return "reordered block";
  },
  /** A copy of a row inserted with a new sequence number (past the end, or zero/negative). */
  "duplicated row (new seq)": (t, rng) => {
    const seq = pickSeq(t, rng);
    const to = unusedSeq(t, rng);
    insertEntry(t, to, t.entry(seq));
    return "duplicated row (new seq)";
  },
  /** A copy of a row inserted right after it, the rows behind renumbered to make room. */
  "duplicated row (in place)": (t, rng) => {
    const seq = pickSeq(t, rng);
    const row = t.entry(seq);
    t.run("UPDATE audit_entries SET seq = seq + 1000000 WHERE seq > ?", seq);
    t.run("UPDATE audit_entries SET seq = seq - 999999 WHERE seq > 1000000");
    insertEntry(t, seq + 1, row);
    return "duplicated row (in place)";
  },
  "truncated tail": (t, rng) => {
    const from = pickSeq(t, rng);
    t.run("DELETE FROM audit_entries WHERE seq >= ?", from);
    return "truncated tail";
  },
  /** Content changed and the hash chain recomputed from there on, checkpoints left alone. */
  "rewritten history (re-chained)": (t, rng) => {
    const seq = pickSeq(t, rng);
    const row = t.entry(seq);
    t.run("UPDATE audit_entries SET decision = ? WHERE seq = ?", row.decision === "allow" ? "deny" : "allow", seq);
    rechainFrom(t, seq);
    return "rewritten history (re-chained)";
  },
  /** Content changed, the tail cut off and the rest re-chained: a shorter, internally consistent history. */
  "rewritten and truncated (re-chained)": (t, rng) => {
    const seqs = t.seqs();
    const at = rng.int(Math.max(1, seqs.length - 1));
    const seq = seqs[at] ?? 1;
    const row = t.entry(seq);
    t.run("UPDATE audit_entries SET detail = ? WHERE seq = ?", JSON.stringify({ ...(JSON.parse(row.detail) as object), note: "benign" }), seq);
    t.run("DELETE FROM audit_entries WHERE seq > ?", seqs[rng.range(at, Math.max(at, seqs.length - 2))] ?? seq);
    rechainFrom(t, seq);
    return "rewritten and truncated (re-chained)";
  },
};

const pickCheckpoint = (t: Tamperer, rng: Rng): CheckpointRow => rng.pick(t.checkpointRows());

export const CHECKPOINT_CORRUPTIONS: Record<string, Corruption> = {
  "forged checkpoint: bit flip (root/ts/keyId/signature)": (t, rng) => {
    const cp = pickCheckpoint(t, rng);
    const col = rng.pick(CHECKPOINT_TEXT_COLUMNS);
    let value = cp[col];
    // The base64 padding and last digit are where a lenient decoder hides changes: hit them often.
    if (col === "signature" && rng.chance(0.3)) {
      const i = value.length - rng.range(1, 3);
      value = value.slice(0, i) + String.fromCharCode(value.charCodeAt(i) ^ (1 << rng.int(7))) + value.slice(i + 1);
    } else {
      value = flipChar(value, rng);
    }
    t.run(`UPDATE audit_checkpoints SET ${col} = ? WHERE tree_size = ?`, value, cp.tree_size);
    return `forged checkpoint: ${col}`;
  },
  "forged checkpoint: size or prevSize": (t, rng, f) => {
    const cp = pickCheckpoint(t, rng);
    const used = new Set(t.checkpointRows().map((c) => c.tree_size));
    if (rng.chance(0.5)) {
      let to = cp.tree_size;
      while (used.has(to) || to < 1) to = rng.chance(0.5) ? cp.tree_size ^ (1 << rng.int(10)) : rng.range(1, f.maxSeq + 50);
      t.run("UPDATE audit_checkpoints SET tree_size = ? WHERE tree_size = ?", to, cp.tree_size);
      return "forged checkpoint: treeSize";
    }
    let to = cp.prev_size;
    while (to === cp.prev_size) to = rng.chance(0.5) ? cp.prev_size ^ (1 << rng.int(10)) : rng.range(0, f.maxSeq);
    t.run("UPDATE audit_checkpoints SET prev_size = ? WHERE tree_size = ?", to, cp.tree_size);
    return "forged checkpoint: prevSize";
  },
  /** The same fields, honestly computed, but signed with a key that is not the trusted one. */
  "forged checkpoint: signed with another key": (t, rng, f) => {
    const cp = pickCheckpoint(t, rng);
    const forged = resign(f.otherKey.signer, { treeSize: cp.tree_size, rootHash: cp.root_hash, ts: cp.ts, prevSize: cp.prev_size });
    // Half the time the forger also keeps the trusted key's id, hoping only the id is compared.
    const keyId = rng.chance(0.5) ? cp.key_id : forged.keyId;
    t.run("UPDATE audit_checkpoints SET key_id = ?, signature = ? WHERE tree_size = ?", keyId, forged.signature, cp.tree_size);
    return "forged checkpoint: another key";
  },
  /** A signature copied from another checkpoint. */
  "forged checkpoint: replayed signature": (t, rng) => {
    const rows = t.checkpointRows();
    const a = rng.pick(rows);
    let b = rng.pick(rows);
    while (b.tree_size === a.tree_size) b = rng.pick(rows);
    t.run("UPDATE audit_checkpoints SET signature = ? WHERE tree_size = ?", b.signature, a.tree_size);
    return "forged checkpoint: replayed signature";
  },
  /** An extra checkpoint at an unused size with the right root, signed with another key. */
  "forged checkpoint: inserted": (t, rng, f) => {
    const rows = t.checkpointRows();
    const used = new Set(rows.map((c) => c.tree_size));
    let size = rng.range(1, f.maxSeq);
    while (used.has(size)) size = rng.range(1, f.maxSeq);
    const prev = rows.filter((c) => c.tree_size < size).at(-1)?.tree_size ?? 0;
    const root = merkleRoot(leavesOf(f.entries.slice(0, size))).toString("hex");
    const forged = resign(f.otherKey.signer, { treeSize: size, rootHash: root, ts: new Date().toISOString(), prevSize: prev });
    insertCheckpoint(t, rng.chance(0.5) ? forged : { ...forged, keyId: f.key.signer.keyId });
    return "forged checkpoint: inserted";
  },
  /** Any checkpoint but the latest deleted (deleting only the latest is the documented limit below). */
  "deleted intermediate checkpoint": (t, rng) => {
    const rows = t.checkpointRows();
    const cp = rng.pick(rows.slice(0, -1));
    t.run("DELETE FROM audit_checkpoints WHERE tree_size = ?", cp.tree_size);
    return "deleted intermediate checkpoint";
  },
  /** History rewritten and re-chained, every checkpoint from there recomputed and re-signed with another key. */
  "rewritten history, checkpoints re-signed with another key": (t, rng, f) => {
    const seq = pickSeq(t, rng);
    const row = t.entry(seq);
    t.run("UPDATE audit_entries SET resource = ? WHERE seq = ?", `${row.resource}.evil`, seq);
    const entries = rechainFrom(t, seq);
    const leaves = leavesOf(entries);
    for (const cp of t.checkpointRows()) {
      if (cp.tree_size < seq) continue;
      const root = merkleRoot(leaves.slice(0, cp.tree_size)).toString("hex");
      const forged = resign(f.otherKey.signer, { treeSize: cp.tree_size, rootHash: root, ts: cp.ts, prevSize: cp.prev_size });
      t.run("UPDATE audit_checkpoints SET root_hash = ?, key_id = ?, signature = ? WHERE tree_size = ?", root, rng.chance(0.5) ? cp.key_id : forged.keyId, forged.signature, cp.tree_size);
    }
    return "rewritten history, re-signed";
  },
};

export interface CaseResult {
  readonly applied: Applied;
  readonly report: VerifyReport;
  readonly statements: readonly Statement[];
}

/**
 * Applies `corruptions` (one or several, in order) to the scratch copy, verifies, rolls back. Draws again when the
 * net effect is no change at all (e.g. the same bit flipped twice), so every counted case really is a corruption.
 */
export async function runCase(f: Fixture, rng: Rng, corruptions: readonly Corruption[], publicKey: KeyObject = f.key.publicKey): Promise<CaseResult> {
  for (let attempt = 1; ; attempt++) {
    if (attempt > 100) throw new Error(`${corruptions.length} corruption(s) changed nothing in 100 draws`);
    f.scratch.db.exec("BEGIN");
    try {
      const t = new Tamperer(f.scratch);
      let kinds: string[];
      try {
        kinds = corruptions.map((c) => c(t, rng, f));
      } catch (err) {
        if (err instanceof NothingToTamper) continue;
        throw err;
      }
      const read = readScratch(f);
      const bound = firstDifference(f, read);
      if (bound === undefined) continue;
      const report = await verifyAuditLog([read.entries], read.checkpoints, publicKey);
      return { applied: { kind: kinds.join(" + "), bound }, report, statements: t.statements };
    } finally {
      f.scratch.db.exec("ROLLBACK");
    }
  }
}

/** What each single corruption may be reported as (combinations are only required to be detected, early enough). */
export const EXPECTED: Record<string, readonly DamageKind[]> = {
  // An entry inside a range a signed checkpoint covers is reported as that checkpoint's mismatch, from the start of
  // the range (everything before the reported seq is proven; the message names the entry). Past the last
  // checkpoint, the entry itself is reported.
  "bit flip (entry text column)": ["modified", "checkpoint-mismatch"],
  "changed seq": ["deleted", "reordered", "checkpoint-mismatch"],
  "deleted row": ["deleted", "truncated", "checkpoint-mismatch"],
  "deleted rows (a range)": ["deleted", "truncated", "checkpoint-mismatch"],
  "swapped rows": ["modified", "checkpoint-mismatch"],
  "reordered block": ["modified", "checkpoint-mismatch"],
  "duplicated row (new seq)": ["modified", "deleted", "reordered"],
  "duplicated row (in place)": ["modified", "checkpoint-mismatch"],
  "truncated tail": ["truncated"],
  "rewritten history (re-chained)": ["checkpoint-mismatch"],
  "rewritten and truncated (re-chained)": ["checkpoint-mismatch", "truncated"],
  "forged checkpoint: bit flip (root/ts/keyId/signature)": ["bad-signature"],
  "forged checkpoint: size or prevSize": ["bad-signature", "checkpoint-gap"],
  "forged checkpoint: signed with another key": ["bad-signature"],
  "forged checkpoint: replayed signature": ["bad-signature"],
  "forged checkpoint: inserted": ["bad-signature", "checkpoint-gap"],
  "deleted intermediate checkpoint": ["checkpoint-gap"],
  "rewritten history, checkpoints re-signed with another key": ["bad-signature"],
};

export class Tally {
  readonly perKind = new Map<string, number>();
  readonly damageKinds = new Map<string, Map<string, number>>();
  readonly misses: string[] = [];
  total = 0;

  /** `exact`: the damage must be reported at exactly the first changed seq (where verify can prove that). */
  record(name: string, r: CaseResult, expected?: readonly DamageKind[], exact = false): void {
    this.total += 1;
    const kind = r.applied.kind.includes(" + ") ? `combination of ${r.applied.kind.split(" + ").length}` : r.applied.kind;
    this.perKind.set(kind, (this.perKind.get(kind) ?? 0) + 1);
    const damage = r.report.damage;
    const seen = this.damageKinds.get(kind) ?? new Map<string, number>();
    seen.set(damage?.kind ?? "NOT DETECTED", (seen.get(damage?.kind ?? "NOT DETECTED") ?? 0) + 1);
    this.damageKinds.set(kind, seen);
    const describe = (): string => `${name}: ${r.applied.kind} (first touched seq ${r.applied.bound}) → ${damage ? `${damage.kind} at ${damage.seq}: ${damage.message}` : "ok"}; SQL: ${r.statements.map((s) => `${s.sql} [${s.params.map(String).join(", ")}]`).join("; ").slice(0, 600)}`;
    if (r.report.ok || !damage) this.misses.push(`NOT DETECTED ${describe()}`);
    else if (damage.seq > r.applied.bound) this.misses.push(`REPORTED TOO LATE ${describe()}`);
    else if (expected && !expected.includes(damage.kind)) this.misses.push(`UNEXPECTED KIND ${describe()}`);
    else if (exact && damage.seq !== r.applied.bound) this.misses.push(`NOT EXACT ${describe()}`);
  }

  print(title: string): void {
    const lines = [...this.perKind.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([kind, n]) => {
      const seen = [...(this.damageKinds.get(kind) ?? new Map<string, number>()).entries()].map(([k, c]) => `${k} ${c}`).join(", ");
      return `  ${String(n).padStart(6)}  ${kind.padEnd(48)} → ${seen}`;
    });
    console.log(`${title}: ${this.total} corruptions, ${this.total - this.misses.length} detected (${((100 * (this.total - this.misses.length)) / Math.max(1, this.total)).toFixed(2)} %)\n${lines.join("\n")}`);
  }

  assertAllDetected(): void {
    assert.equal(this.misses.length, 0, `${this.misses.length} of ${this.total} corruptions missed or misreported:\n${this.misses.slice(0, 15).join("\n")}`);
  }
}

/** A corruption that ignores the random generator: for the exhaustive sweeps. */
export const fixed =
  (kind: string, apply: (t: Tamperer) => void): Corruption =>
  (t) => {
    apply(t);
    return kind;
  };

/** A fixed corruption of one SQL statement. */
export const fixedSql =
  (kind: string, sql: string, ...params: SQLInputValue[]): Corruption =>
  (t) => {
    t.run(sql, ...params);
    return kind;
  };


export interface Campaign {
  readonly title: string;
  readonly seed: number;
  readonly cases: number;
  /** Single corruptions to draw from. */
  readonly singles: Readonly<Record<string, Corruption>>;
  /** Share of cases that stack 2..3 corruptions drawn from `stackFrom`. */
  readonly stackedShare: number;
  readonly stackFrom: Readonly<Record<string, Corruption>>;
  /** Every Nth case is also replayed on a real file copy and verified through SqliteAuditStore. */
  readonly replayEvery: number;
}

/** Runs a random campaign on a fresh fixture in `dir`; prints the tally and asserts 100 % detection. */
export async function runCampaign(dir: string, c: Campaign): Promise<Tally> {
  const f = await buildFixture(dir);
  try {
    const pristine = await verifyReplayed(f, dir, [], "pristine");
    assert.equal(pristine.ok, true, pristine.damage?.message);
    assert.equal(pristine.entries, 307);
    assert.equal(pristine.checkpoints, 7);
    assert.deepEqual(pristine.warnings, []);

    const singles = Object.entries(c.singles);
    const stackable = Object.entries(c.stackFrom);
    const rng = new Rng(c.seed);
    const tally = new Tally();
    const drawn = new Map<string, number>();
    let replayed = 0;
    for (let i = 0; i < c.cases; i++) {
      const parts = rng.chance(c.stackedShare) ? Array.from({ length: rng.range(2, 3) }, () => rng.pick(stackable)) : [rng.pick(singles)];
      for (const [name] of parts) drawn.set(name, (drawn.get(name) ?? 0) + 1);
      const r = await runCase(f, rng, parts.map(([, corruption]) => corruption));
      const only = parts.length === 1 ? parts[0]?.[0] : undefined;
      tally.record(`case #${i}`, r, only === undefined ? undefined : EXPECTED[only]);
      if (i % c.replayEvery === 0) {
        // The same statements on a real file, read through SqliteAuditStore: the same verdict.
        const real = await verifyReplayed(f, dir, r.statements, "replay");
        assert.deepEqual(real, r.report, `case #${i} (${r.applied.kind}) verified differently through the real store`);
        replayed += 1;
      }
    }
    tally.print(`${c.title} (seed ${c.seed.toString(16)}; ${replayed} replayed through SqliteAuditStore)`);
    tally.assertAllDetected();
    assert.equal(tally.total, c.cases);
    for (const [name] of singles) {
      assert.ok(name in EXPECTED, `no expectation for ${name}`);
      assert.ok((drawn.get(name) ?? 0) >= c.cases / singles.length / 3, `only ${drawn.get(name) ?? 0} cases of ${name}`);
    }
    return tally;
  } finally {
    f.close();
  }
}
