/**
 * The audit log: group commit over an AuditStore plus signed checkpoints.
 *
 * `append` resolves only after the entry's batch is durably committed, so a
 * caller that awaits it (the envelope does, before every side effect) never
 * acts on an unrecorded decision. Appends that arrive while a batch is being
 * written join the next batch: one fsync covers many entries.
 */
import { AegisError } from "../errors.ts";
import { computeEntryHash, entryLeaf, GENESIS_HASH, isWellFormedEntry, type AuditEntry, type AuditInput } from "./entry.ts";
import { parsePublicKey, verifyCheckpointSignature, type Checkpoint, type CheckpointSigner } from "./checkpoint.ts";
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
  /** The latest checkpoint when the log was opened, signature checked: the range must reproduce its root. */
  #anchor: Checkpoint | undefined;
  /** Hash of the last entry in #range (the chain head we have checked). */
  #lastHash = GENESIS_HASH;

  private constructor(store: AuditStore, signer: CheckpointSigner, options: AuditLogOptions) {
    this.store = store;
    this.#signer = signer;
    this.#checkpointEvery = options.checkpointEvery ?? 1000;
    this.#maxBatch = options.maxBatch ?? 2000;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Opens the log for appending. Before it will sign anything it checks what it would sign on top of: the latest
   * checkpoint's signature, that the stored entries still produce its root, and every entry after it (links and
   * content hashes). A damaged log is refused, so an honest run never re-signs a history someone rewrote.
   */
  static async open(store: AuditStore, signer: CheckpointSigner, options: AuditLogOptions = {}): Promise<AuditLog> {
    const log = new AuditLog(store, signer, options);
    const latest = await store.latestCheckpoint();
    const refuse = (what: string): AegisError =>
      new AegisError("AUDIT_CORRUPT", `Refusing to append to ${store.location}: ${what}. Run \`aegisclaw audit verify\` to see the damage; keep the file for investigation and start a new log (move audit.db aside, then \`aegisclaw init\`).`);
    if (latest) {
      if (!verifyCheckpointSignature(latest, parsePublicKey(signer.publicKeyPem)) || latest.keyId !== signer.keyId) {
        throw refuse(`its latest checkpoint (size ${latest.treeSize}) is not signed by this profile's checkpoint key`);
      }
      log.#anchor = latest;
      log.#lastCheckpointSize = latest.treeSize;
    }
    await log.#catchUpRange();
    if (latest && log.#range.size < latest.treeSize) throw refuse(`a signed checkpoint covers ${latest.treeSize} entries but only ${log.#range.size} remain`);
    if (!latest && log.#range.size > 0) {
      // `aegisclaw init` records the profile's creation and signs it at once, so a profile's log always has one.
      throw refuse(`it holds ${log.#range.size} entries but no signed checkpoint: checkpoints were removed (or the process that created it crashed before its first checkpoint)`);
    }
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
    // The entries are committed and their appends resolved: nothing below may reject (that would be an unhandled
    // rejection). A failed checkpoint is retried by the next drain and at close.
    try {
      const head = await this.store.head();
      if (head && head.seq - this.#lastCheckpointSize >= this.#checkpointEvery) await this.checkpoint();
    } catch {
      // Reported by the next checkpoint attempt or by close().
    }
  }

  #rangeLock: Promise<void> = Promise.resolve();

  /**
   * Brings the in-memory Merkle range up to the store's head (other processes may have appended), checking what it
   * takes in: entries up to the anchor checkpoint must reproduce its signed root; every entry after it must be
   * linked to the one before and match its own hash. What fails is never signed.
   */
  #catchUpRange(): Promise<void> {
    const run = this.#rangeLock.then(async () => {
      for await (const batch of this.store.scan(this.#range.size)) {
        for (const e of batch) {
          const expected = this.#range.size + 1;
          const sealedByAnchor = this.#anchor !== undefined && e.seq <= this.#anchor.treeSize;
          if (e.seq !== expected || !isWellFormedEntry(e) || e.prevHash !== this.#lastHash || (!sealedByAnchor && computeEntryHash(e) !== e.hash)) {
            throw new AegisError("AUDIT_CORRUPT", `Refusing to sign ${this.store.location}: entry ${expected} is missing, out of order or altered. Run \`aegisclaw audit verify\` to see the damage.`);
          }
          this.#range.push(entryLeaf(e));
          this.#lastHash = e.hash;
          if (this.#anchor !== undefined && this.#range.size === this.#anchor.treeSize && this.#range.root().toString("hex") !== this.#anchor.rootHash) {
            throw new AegisError("AUDIT_CORRUPT", `Refusing to sign ${this.store.location}: the first ${this.#anchor.treeSize} entries no longer produce the root signed at ${this.#anchor.ts}. Run \`aegisclaw audit verify\` to see the damage.`);
          }
        }
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
      const last = await this.store.latestCheckpoint();
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
