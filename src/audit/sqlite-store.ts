/**
 * The embedded audit store: one SQLite file (node:sqlite, no native addon),
 * WAL mode with synchronous=FULL so a committed batch survives power loss.
 * Triggers refuse UPDATE and DELETE so mistakes cannot rewrite history; the
 * hash chain and signed checkpoints are what make deliberate rewrites visible.
 */
import { closeSync, existsSync, openSync } from "node:fs";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { AegisError } from "../errors.ts";
import { sealBatch, type AuditEntry, type AuditInput } from "./entry.ts";
import type { Checkpoint } from "./checkpoint.ts";
import type { AuditQuery, AuditStore } from "./store.ts";

export const AUDIT_SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_entries (
  seq INTEGER PRIMARY KEY,
  ts TEXT NOT NULL,
  kind TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  resource TEXT NOT NULL,
  decision TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_entries_ts ON audit_entries(ts);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
  tree_size INTEGER PRIMARY KEY,
  root_hash TEXT NOT NULL,
  ts TEXT NOT NULL,
  prev_size INTEGER NOT NULL,
  key_id TEXT NOT NULL,
  signature TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_entries_no_update BEFORE UPDATE ON audit_entries
  BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_entries_no_delete BEFORE DELETE ON audit_entries
  BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
-- INSERT OR REPLACE deletes the old row without firing DELETE triggers (unless recursive_triggers is on): refuse it here.
CREATE TRIGGER IF NOT EXISTS audit_entries_no_replace BEFORE INSERT ON audit_entries
  WHEN EXISTS (SELECT 1 FROM audit_entries WHERE seq = NEW.seq)
  BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_replace BEFORE INSERT ON audit_checkpoints
  WHEN EXISTS (SELECT 1 FROM audit_checkpoints WHERE tree_size = NEW.tree_size)
  BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
  BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
  BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
`;

/** A row of audit_entries as SQLite returns it (exported for tools that inspect the file, such as the tamper tests). */
export interface EntryRow {
  seq: number;
  ts: string;
  kind: string;
  actor: string;
  action: string;
  resource: string;
  decision: string;
  detail: string;
  prev_hash: string;
  hash: string;
}

interface CheckpointRow {
  tree_size: number;
  root_hash: string;
  ts: string;
  prev_size: number;
  key_id: string;
  signature: string;
}

function rowToCheckpoint(r: CheckpointRow): Checkpoint {
  return { treeSize: r.tree_size, rootHash: r.root_hash, ts: r.ts, prevSize: r.prev_size, keyId: r.key_id, signature: r.signature };
}

const ENTRY_COLUMNS = "seq, ts, kind, actor, action, resource, decision, detail, prev_hash, hash";
type EntryArray = [number, string, string, string, string, string, string, string, string, string];

export function rowToEntry(r: EntryRow): AuditEntry {
  return {
    seq: r.seq,
    ts: r.ts,
    kind: r.kind,
    actor: r.actor,
    action: r.action,
    resource: r.resource,
    decision: r.decision,
    detail: r.detail,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/** SQLite result codes we translate into advice (primary codes; extended codes keep them in the low byte). */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_NOTADB = 26;

export function translateSqliteError(err: unknown, location: string, doing: string): AegisError {
  const errcode = (err as { errcode?: unknown }).errcode;
  const primary = typeof errcode === "number" ? errcode & 0xff : -1;
  const detail = err instanceof Error ? err.message : String(err);
  switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return new AegisError("AUDIT_LOCKED", `The audit database ${location} is locked by another process (${detail}) while ${doing}. Wait for it to finish or stop the other AegisClaw process, then retry. Nothing was recorded by this attempt.`, { cause: err });
    case SQLITE_FULL:
      return new AegisError("AUDIT_DISK_FULL", `The disk holding ${location} is full (${detail}) while ${doing}. Free space and retry; entries already recorded are intact and this one was not recorded, so its action did not run.`, { cause: err });
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return new AegisError("AUDIT_CORRUPT", `${location} is not a readable SQLite database (${detail}). Keep the file for investigation; run \`aegisclaw audit verify\` on a copy or restore it from backup.`, { cause: err });
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
      return new AegisError("AUDIT_WRITE_FAILED", `Cannot write the audit database ${location} (${detail}) while ${doing}. Check that the file and its directory are writable by you and the disk is healthy.`, { cause: err });
    default:
      return new AegisError("AUDIT_WRITE_FAILED", `The audit database ${location} failed while ${doing}: ${detail}`, { cause: err });
  }
}

export interface SqliteStoreOptions {
  /** Open without creating tables or writing (verify, logs, export). */
  readonly readOnly?: boolean;
  /** How long to wait for another writer's lock before failing with AUDIT_LOCKED. */
  readonly busyTimeoutMs?: number;
}

export class SqliteAuditStore implements AuditStore {
  readonly location: string;
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync | undefined;
  readonly #head: StatementSync;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.location = path;
    // Create the file 0600 ourselves: SQLite would use the umask, and gives its -wal/-shm files the database's mode.
    if (!options.readOnly && path !== ":memory:" && !existsSync(path)) {
      try {
        closeSync(openSync(path, "a", 0o600));
      } catch (err) {
        throw translateSqliteError(err, path, "creating it");
      }
    }
    if (options.readOnly && path !== ":memory:" && !existsSync(path)) {
      // SQLite would say "unable to open database file", which reads like a permission problem.
      throw new AegisError("AUDIT_NOT_FOUND", `There is no audit log at ${path}. Check the path (or --home); \`aegisclaw init\` creates one.`);
    }
    try {
      this.#db = new DatabaseSync(path, { readOnly: options.readOnly ?? false, timeout: options.busyTimeoutMs ?? 5000 });
    } catch (err) {
      throw translateSqliteError(err, path, "opening it");
    }
    try {
      const version = (this.#db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
      if (version > AUDIT_SCHEMA_VERSION) {
        throw new AegisError("AUDIT_TOO_NEW", `${path} was written by a newer AegisClaw (audit schema ${version}; this version reads up to ${AUDIT_SCHEMA_VERSION}). Upgrade AegisClaw; the file was not changed.`);
      }
      if (!options.readOnly) {
        this.#db.exec("PRAGMA journal_mode=WAL");
        this.#db.exec("PRAGMA synchronous=FULL");
        this.#db.exec(SCHEMA);
        if (version < AUDIT_SCHEMA_VERSION) this.#db.exec(`PRAGMA user_version=${AUDIT_SCHEMA_VERSION}`);
        this.#insert = this.#db.prepare(
          "INSERT INTO audit_entries (seq, ts, kind, actor, action, resource, decision, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
      } else if (version === 0) {
        throw new AegisError("AUDIT_NOT_FOUND", `${path} holds no AegisClaw audit log (no schema). Check the path; \`aegisclaw init\` creates one.`);
      }
      this.#head = this.#db.prepare("SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1");
    } catch (err) {
      this.#db.close();
      if (err instanceof AegisError) throw err;
      throw translateSqliteError(err, path, "preparing it");
    }
  }

  appendBatch(batch: readonly { input: AuditInput; ts: string }[]): Promise<AuditEntry[]> {
    const insert = this.#insert;
    if (!insert) return Promise.reject(new AegisError("AUDIT_WRITE_FAILED", `${this.location} was opened read-only.`));
    if (batch.length === 0) return Promise.resolve([]);
    try {
      this.#db.exec("BEGIN IMMEDIATE");
    } catch (err) {
      return Promise.reject(translateSqliteError(err, this.location, "taking the write lock"));
    }
    try {
      const head = this.#head.get() as { seq: number; hash: string } | undefined;
      const sealed = sealBatch(head, batch);
      for (const e of sealed) {
        insert.run(e.seq, e.ts, e.kind, e.actor, e.action, e.resource, e.decision, e.detail, e.prevHash, e.hash);
      }
      this.#db.exec("COMMIT");
      return Promise.resolve(sealed);
    } catch (err) {
      try {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      } catch {
        // The original error is the one to report; a failed rollback leaves SQLite to roll back on next open.
      }
      return Promise.reject(translateSqliteError(err, this.location, "appending audit entries"));
    }
  }

  head(): Promise<{ seq: number; hash: string } | undefined> {
    const row = this.#head.get() as { seq: number; hash: string } | undefined;
    return Promise.resolve(row ? { seq: row.seq, hash: row.hash } : undefined);
  }

  // node:sqlite is synchronous; the interface is async so a network-backed store (Postgres) fits it too.
  // eslint-disable-next-line @typescript-eslint/require-await
  async *scan(afterSeq?: number, batchSize = 4096): AsyncIterable<AuditEntry[]> {
    // Keyset pages of rows as arrays: about twice as fast as iterating row objects, which matters to verify.
    // Without afterSeq, every row: a row forged with seq <= 0 must reach the verifier (it reports it), not be skipped.
    const page = this.#db.prepare(`SELECT ${ENTRY_COLUMNS} FROM audit_entries WHERE seq > ? ORDER BY seq LIMIT ?`);
    page.setReturnArrays(true);
    let after = afterSeq ?? Number.MIN_SAFE_INTEGER;
    for (;;) {
      const rows = page.all(after, batchSize) as unknown as EntryArray[];
      if (rows.length === 0) return;
      const batch = new Array<AuditEntry>(rows.length);
      for (let i = 0; i < rows.length; i += 1) {
        const r = rows[i] as EntryArray;
        batch[i] = { seq: r[0], ts: r[1], kind: r[2], actor: r[3], action: r[4], resource: r[5], decision: r[6], detail: r[7], prevHash: r[8], hash: r[9] };
      }
      after = (rows[rows.length - 1] as EntryArray)[0];
      yield batch;
      if (rows.length < batchSize) return;
    }
  }

  query(q: AuditQuery): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.sinceTs !== undefined) {
      where.push("ts >= ?");
      params.push(q.sinceTs);
    }
    if (q.afterSeq !== undefined) {
      where.push("seq > ?");
      params.push(q.afterSeq);
    }
    if (q.decision !== undefined) {
      where.push("decision = ?");
      params.push(q.decision);
    }
    if (q.kind !== undefined) {
      where.push("kind = ?");
      params.push(q.kind);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
    const limit = q.limit !== undefined ? `LIMIT ${Math.max(0, Math.floor(q.limit))}` : "";
    const rows = this.#db.prepare(`SELECT * FROM (SELECT * FROM audit_entries ${clause} ORDER BY seq DESC ${limit}) ORDER BY seq`).all(...params) as unknown as EntryRow[];
    return Promise.resolve(rows.map(rowToEntry));
  }

  addCheckpoint(c: Checkpoint): Promise<boolean> {
    // Checked and inserted under the write lock: with several writers on one file, a checkpoint signed over a stale
    // "previous checkpoint" would break the checkpoint chain and make an intact log fail verification.
    try {
      this.#db.exec("BEGIN IMMEDIATE");
    } catch (err) {
      return Promise.reject(translateSqliteError(err, this.location, "taking the write lock for a checkpoint"));
    }
    try {
      const last = (this.#db.prepare("SELECT max(tree_size) AS size FROM audit_checkpoints").get() as { size: number | null }).size ?? 0;
      if (c.treeSize <= last || c.prevSize !== last) {
        this.#db.exec("ROLLBACK");
        return Promise.resolve(false);
      }
      this.#db
        .prepare("INSERT INTO audit_checkpoints (tree_size, root_hash, ts, prev_size, key_id, signature) VALUES (?, ?, ?, ?, ?, ?)")
        .run(c.treeSize, c.rootHash, c.ts, c.prevSize, c.keyId, c.signature);
      this.#db.exec("COMMIT");
      return Promise.resolve(true);
    } catch (err) {
      try {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      } catch {
        // As in appendBatch: report the original error.
      }
      return Promise.reject(translateSqliteError(err, this.location, "writing a checkpoint"));
    }
  }

  checkpoints(): Promise<Checkpoint[]> {
    const rows = this.#db.prepare("SELECT * FROM audit_checkpoints ORDER BY tree_size").all() as unknown as CheckpointRow[];
    return Promise.resolve(rows.map(rowToCheckpoint));
  }

  latestCheckpoint(): Promise<Checkpoint | undefined> {
    const row = this.#db.prepare("SELECT * FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1").get() as CheckpointRow | undefined;
    return Promise.resolve(row ? rowToCheckpoint(row) : undefined);
  }

  close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
    return Promise.resolve();
  }
}
