/**
 * The audit log: group commit over an AuditStore plus signed checkpoints.
 *
 * `append` resolves only after the entry's batch is durably committed, so a
 * caller that awaits it (the envelope does, before every side effect) never
 * acts on an unrecorded decision. Appends that arrive while a batch is being
 * written join the next batch: one fsync covers many entries.
 */
import { AegisError } from "../errors.ts";
import type { AuditEntry, AuditInput } from "./entry.ts";
import { entryLeaf } from "./entry.ts";
import type { Checkpoint, CheckpointSigner } from "./checkpoint.ts";
import { CompactRange } from "./merkle.ts";
import type { AuditStore } from "./store.ts";

export interface AuditLogOptions {
  /** Write a signed checkpoint after this many new entries (and always on close). */
  readonly checkpointEvery?: number;
  /** Largest number of entries committed in one transaction. */
  readonly maxBatch?: number;
  readonly now?: () => Date;
}

interface Pending {
  readonly input: AuditInput;
  readonly ts: string;
  readonly resolve: (e: AuditEntry) => void;
  readonly reject: (err: unknown) => void;
}

export class AuditLog {
  readonly store: AuditStore;
  readonly #signer: CheckpointSigner;
  readonly #checkpointEvery: number;
  readonly #maxBatch: number;
  readonly #now: () => Date;
  #pending: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #range = new CompactRange();
  #lastCheckpointSize = 0;
  #closed = false;

  private constructor(store: AuditStore, signer: CheckpointSigner, options: AuditLogOptions) {
    this.store = store;
    this.#signer = signer;
    this.#checkpointEvery = options.checkpointEvery ?? 1000;
    this.#maxBatch = options.maxBatch ?? 2000;
    this.#now = options.now ?? (() => new Date());
  }

  static async open(store: AuditStore, signer: CheckpointSigner, options: AuditLogOptions = {}): Promise<AuditLog> {
    const log = new AuditLog(store, signer, options);
    const checkpoints = await store.checkpoints();
    log.#lastCheckpointSize = checkpoints.at(-1)?.treeSize ?? 0;
    await log.#catchUpRange();
    return log;
  }

  /** Queues an entry; resolves with the sealed entry once it is durably committed. */
  append(input: AuditInput): Promise<AuditEntry> {
    if (this.#closed) return Promise.reject(new AegisError("AUDIT_WRITE_FAILED", "The audit log is closed; nothing more can be recorded through it (the action was not run). This is a bug in the caller: report it."));
    return new Promise<AuditEntry>((resolve, reject) => {
      this.#pending.push({ input, ts: this.#now().toISOString(), resolve, reject });
      this.#scheduleDrain();
    });
  }

  #scheduleDrain(): void {
    // setImmediate lets every append issued in this turn of the event loop join one batch.
    this.#flushing ??= new Promise<void>((done) => setImmediate(done))
      .then(() => this.#drain())
      .finally(() => {
        this.#flushing = undefined;
        if (this.#pending.length > 0 && !this.#closed) this.#scheduleDrain();
      });
  }

  /** Waits until every entry queued so far is committed. */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, this.#maxBatch);
      try {
        const sealed = await this.store.appendBatch(batch.map((p) => ({ input: p.input, ts: p.ts })));
        sealed.forEach((entry, i) => batch[i]?.resolve(entry));
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    const head = await this.store.head();
    if (head && head.seq - this.#lastCheckpointSize >= this.#checkpointEvery) {
      // A failed checkpoint must not fail the appends that were already committed; the next one retries.
      await this.checkpoint().catch(() => undefined);
    }
  }

  #rangeLock: Promise<void> = Promise.resolve();

  /** Brings the in-memory Merkle range up to the store's head (other processes may have appended). */
  #catchUpRange(): Promise<void> {
    const run = this.#rangeLock.then(async () => {
      for await (const batch of this.store.scan(this.#range.size)) {
        for (const e of batch) this.#range.push(entryLeaf(e));
      }
    });
    this.#rangeLock = run.catch(() => undefined);
    return run;
  }

  /** Signs and stores a checkpoint over every committed entry; returns undefined when there is nothing new. */
  async checkpoint(): Promise<Checkpoint | undefined> {
    // Another process appending to the same log can store a checkpoint between our read and our write; the store
    // then refuses ours (it would not extend the latest one) and we sign again on top of theirs.
    for (let attempt = 1; ; attempt++) {
      await this.#catchUpRange();
      const range = this.#range.clone();
      const size = range.size;
      const last = (await this.store.checkpoints()).at(-1);
      if (last) this.#lastCheckpointSize = Math.max(this.#lastCheckpointSize, last.treeSize);
      if (size === 0 || (last && last.treeSize >= size)) return undefined;
      const cp = this.#signer.sign({ treeSize: size, rootHash: range.root().toString("hex"), ts: this.#now().toISOString(), prevSize: last?.treeSize ?? 0 });
      if (await this.store.addCheckpoint(cp)) {
        this.#lastCheckpointSize = size;
        return cp;
      }
      if (attempt >= 20) {
        throw new AegisError("AUDIT_WRITE_FAILED", `Could not store a checkpoint in ${this.store.location}: other writers kept storing theirs first. The entries are recorded; the next checkpoint covers them.`);
      }
    }
  }

  /** Commits what is queued, writes a final checkpoint, closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    try {
      await this.checkpoint();
    } finally {
      await this.store.close();
    }
  }
}
