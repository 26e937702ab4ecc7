/**
 * Storage behind the audit log. The SQLite store is the embedded default; a
 * Postgres store for team mode implements the same interface. Stores are
 * dumb: they persist sealed entries atomically and stream them back. Hashing
 * and verification live in `entry.ts` and `verify.ts`.
 */
import type { AuditEntry, AuditInput } from "./entry.ts";
import type { Checkpoint } from "./checkpoint.ts";

export interface AuditQuery {
  readonly sinceTs?: string;
  readonly afterSeq?: number;
  readonly decision?: string;
  readonly kind?: string;
  /** Newest `limit` rows, returned oldest first. */
  readonly limit?: number;
}

export interface AuditStore {
  /** Where the log lives, for messages. */
  readonly location: string;
  /**
   * Seals and appends a batch in one durable transaction. The chain head is
   * read inside the transaction's write lock, so several processes can append
   * to one log without forking the chain. Resolves only once committed.
   */
  appendBatch(batch: readonly { input: AuditInput; ts: string }[]): Promise<AuditEntry[]>;
  head(): Promise<{ seq: number; hash: string } | undefined>;
  /** Streams every entry with seq > afterSeq (without afterSeq: every row, whatever its seq) in seq order, in batches. */
  scan(afterSeq?: number, batchSize?: number): AsyncIterable<AuditEntry[]>;
  query(q: AuditQuery): Promise<AuditEntry[]>;
  /**
   * Stores a checkpoint atomically, only if it extends the latest stored one (`c.prevSize` is the
   * latest tree size and `c.treeSize` is larger). Resolves false, storing nothing, when another
   * writer stored a checkpoint first: the caller re-signs on top of it.
   */
  addCheckpoint(c: Checkpoint): Promise<boolean>;
  checkpoints(): Promise<Checkpoint[]>;
  /** The newest checkpoint only: the writer asks for it at every checkpoint, so it must not read them all. */
  latestCheckpoint(): Promise<Checkpoint | undefined>;
  close(): Promise<void>;
}
