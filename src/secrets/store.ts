/**
 * The profile's secret store: one SOPS YAML file (`secrets.enc.yaml`) whose
 * data key is age-encrypted to the profile's identity and any extra
 * recipients (a backup key). The file stays a plain SOPS file a user can open
 * with `sops -d` or `sops exec-env`:
 *
 * ```yaml
 * GITHUB_TOKEN: ENC[AES256_GCM,…,type:str]      # one top-level key per secret
 * _aegisclaw_meta:                               # bookkeeping, encrypted too
 *   version: ENC[…,type:int]
 *   secrets:
 *     GITHUB_TOKEN: { created: ENC[…], updated: ENC[…] }
 * sops: { age: [...], lastmodified, mac, … }
 * ```
 *
 * Every value (and every timestamp) is encrypted; only names are in clear, as
 * in any SOPS file. Opening decrypts and verifies the whole file or fails
 * naming it; writes are atomic and refuse to overwrite a change another
 * process made since the file was read.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";

import { z } from "zod";

import { AegisError, EXIT } from "../errors.ts";
import type { ProfilePaths } from "../config/paths.ts";
import { Secret } from "./secret.ts";
import {
  SOPS_DATA_KEY_BYTES,
  ageRecipientOf,
  decryptLoadedSopsFile,
  encryptSopsFile,
  loadSopsFile,
  looksEncrypted,
  unwrapDataKey,
  type PlainObject,
  type PlainValue,
} from "./sops/index.ts";
import {
  createIdentityFile,
  existsQuiet,
  fsyncDirectory,
  loadIdentityFile,
  nodeFileOps,
  oldIdentityPath,
  readPrivateBytes,
  writePrivateFileAtomic,
  writePrivateFileNew,
  generateIdentity,
  type PassphraseSource,
  type PrivateFileOps,
} from "./identity.ts";

/** Environment-variable style: what a secret becomes when a tool receives it. */
export const SECRET_NAME_PATTERN = /^[A-Z_][A-Z0-9_]{0,127}$/;
/** The top-level key holding per-secret bookkeeping; lower-case, so it can never be a secret's name. */
export const STORE_META_KEY = "_aegisclaw_meta";
export const STORE_FORMAT_VERSION = 1;
/** A value larger than this is almost certainly a mistake (a whole file piped in). */
export const MAX_SECRET_BYTES = 1 << 20;

/** Refuses a name that is not `^[A-Z_][A-Z0-9_]{0,127}$` (USAGE, exit 2). */
export function assertSecretName(name: string): void {
  if (SECRET_NAME_PATTERN.test(name)) return;
  // Echo the name only when it is plainly a name: a value typed where the name goes must not be printed back.
  const nameLike = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name);
  throw new AegisError(
    "USAGE",
    `${nameLike ? `"${name}"` : "The name given"} is not a valid secret name. Secret names are environment-variable style: upper-case letters, digits and _, not starting with a digit, at most 128 characters${nameLike ? ` — e.g. ${name.toUpperCase()}` : " (e.g. GITHUB_TOKEN)"}.`,
    { exitCode: EXIT.usage },
  );
}

function notFound(name: string, file: string): AegisError {
  return new AegisError("USAGE", `There is no secret named ${name} in ${file}. \`aegisclaw secrets list\` shows the names.`);
}

export interface SecretInfo {
  readonly name: string;
  /** ISO 8601, or null when the file was written without our bookkeeping (e.g. by sops directly). */
  readonly created: string | null;
  /** When the value was last set (rotations re-encrypt but do not change it). */
  readonly updated: string | null;
}

interface SecretRecord {
  readonly value: string;
  readonly created: string | null;
  readonly updated: string | null;
}

const MetaSchema = z
  .object({
    version: z.number().int().min(1),
    secrets: z
      .record(
        z.string(),
        // `skills` was written by early builds; which skills may use a secret is policy's to say (policy.yaml `secrets:`).
        z.object({ created: z.string().optional(), updated: z.string().optional(), skills: z.array(z.string()).optional() }).strict(),
      )
      .optional(),
  })
  .strict();

export interface SecretStoreOptions {
  /** File-system calls for writes (tests inject failures). */
  readonly fileOps?: PrivateFileOps | undefined;
  /** The clock for timestamps and `lastmodified`. */
  readonly now?: (() => Date) | undefined;
}

export interface InitSecretsOptions extends SecretStoreOptions {
  /** Protect a newly created identity with this passphrase. Ignored when the identity exists. */
  readonly passphrase?: string | undefined;
  /** Asked when an existing, encrypted identity must be read (to create a missing secrets file). */
  readonly unlock?: PassphraseSource | undefined;
  /** scrypt log2(N) for a new passphrase-protected identity; age's default (18) unless given. */
  readonly scryptWorkFactor?: number | undefined;
}

export interface InitSecretsReport {
  readonly created: string[];
  readonly existing: string[];
  /** The identity's recipient, when it was created or read. */
  readonly recipient?: string | undefined;
  /** True when a new identity was written passphrase-protected. */
  readonly identityEncrypted: boolean;
}

export interface RotateOptions {
  /** Also replace the profile's age identity. */
  readonly identity?: boolean | undefined;
  /** Asked for the identity's passphrase (an encrypted identity is replaced by one protected by the same passphrase). */
  readonly passphrase?: PassphraseSource | undefined;
  readonly scryptWorkFactor?: number | undefined;
}

export interface RotateReport {
  readonly secrets: number;
  readonly recipients: readonly string[];
  /** The new identity's recipient when the identity was rotated. */
  readonly newRecipient?: string | undefined;
  /** True when an earlier, interrupted identity rotation was completed first. */
  readonly resumed: boolean;
}

export interface ImportEntry {
  readonly name: string;
  readonly value: string;
}

export interface ImportResult {
  readonly imported: string[];
  readonly skipped: { readonly name: string; readonly reason: string }[];
}

interface StoreState {
  readonly records: ReadonlyMap<string, SecretRecord>;
  readonly recipients: readonly string[];
  readonly dataKey: Buffer;
}

export class SecretStore {
  readonly paths: ProfilePaths;
  /** The secrets file, for messages. */
  readonly file: string;
  #state: StoreState;
  /** Recipients of the identities the store was opened with: the profile's own, never removed. */
  #own: readonly string[];
  /** The file's bytes as last read or written, to notice a concurrent writer. */
  #onDisk: Buffer;
  readonly #ops: PrivateFileOps;
  readonly #now: () => Date;
  #closed = false;

  private constructor(paths: ProfilePaths, state: StoreState, own: readonly string[], onDisk: Buffer, options: SecretStoreOptions) {
    this.paths = paths;
    this.file = paths.secretsFile;
    this.#state = state;
    this.#own = own;
    this.#onDisk = onDisk;
    this.#ops = options.fileOps ?? nodeFileOps;
    this.#now = options.now ?? ((): Date => new Date());
  }

  /**
   * Creates what is missing: the identity (0600, optionally passphrase-protected)
   * and an empty secrets file encrypted to it. Never overwrites either; a
   * secrets file without its identity is an error (it would stay unreadable).
   */
  static async init(paths: ProfilePaths, options: InitSecretsOptions = {}): Promise<InitSecretsReport> {
    const created: string[] = [];
    const existing: string[] = [];
    mkdirSync(paths.keysDir, { recursive: true, mode: 0o700 });
    const haveIdentity = existsQuiet(paths.ageIdentity);
    const haveFile = existsQuiet(paths.secretsFile);
    if (haveFile && !haveIdentity) {
      throw new AegisError(
        "KEY_INVALID",
        `${paths.secretsFile} exists but the identity that opens it, ${paths.ageIdentity}, is missing. Restore the identity from backup. If it is lost, the values cannot be recovered: move ${paths.secretsFile} aside and run \`aegisclaw secrets init\` again.`,
      );
    }
    let recipient: string | undefined;
    let identityEncrypted = false;
    if (!haveIdentity) {
      const identity = await createIdentityFile(paths.ageIdentity, { passphrase: options.passphrase, scryptWorkFactor: options.scryptWorkFactor, now: options.now?.(), fileOps: options.fileOps });
      recipient = identity.recipient;
      identityEncrypted = identity.encrypted;
      created.push(paths.ageIdentity);
    } else {
      existing.push(paths.ageIdentity);
    }
    if (!haveFile) {
      if (recipient === undefined) recipient = (await loadIdentityFile(paths.ageIdentity, { passphrase: options.unlock })).recipients[0];
      if (recipient === undefined) throw new AegisError("KEY_INVALID", `${paths.ageIdentity} holds no age identity.`);
      const text = await encryptSopsFile(toPlain(new Map()), "yaml", { recipients: [recipient], now: options.now?.(), file: paths.secretsFile });
      if (writePrivateFileNew(paths.secretsFile, text, options.fileOps)) created.push(paths.secretsFile);
      else existing.push(paths.secretsFile);
    } else {
      existing.push(paths.secretsFile);
    }
    return { created, existing, recipient, identityEncrypted };
  }

  /**
   * Opens the secrets file with these identities: the whole file is decrypted
   * and its MAC verified, or it throws naming the file (KEY_INVALID for a
   * wrong identity or a tampered file, CONFIG_INVALID for a malformed one,
   * PROFILE_INSECURE for unsafe permissions).
   */
  static async open(paths: ProfilePaths, identities: readonly string[], options: SecretStoreOptions = {}): Promise<SecretStore> {
    const file = paths.secretsFile;
    const bytes = readPrivateBytes(file, "the secrets file");
    const loaded = loadSopsFile(bytes.toString("utf8"), "yaml", file);
    const { metadata } = loaded;
    if (metadata.pgp.length > 0 || metadata.otherKeySources.length > 0 || (metadata.keyGroups ?? []).some((g) => g.pgp.length > 0 || g.otherKeySources.length > 0)) {
      throw new AegisError("CONFIG_INVALID", `${file} also has PGP or cloud KMS master keys, which aegisclaw cannot re-wrap (a rewrite would drop them). Keep managing this file with sops, or re-encrypt it to age recipients only.`);
    }
    const dataKey = await unwrapDataKey(metadata, identities, file);
    try {
      const decrypted = await decryptLoadedSopsFile(loaded, { dataKey, file });
      if (decrypted.documents.length !== 1) throw new AegisError("CONFIG_INVALID", `${file} holds ${decrypted.documents.length} YAML documents; the secret store is one.`);
      const rawRoot = loaded.branches[0];
      const rawValues = new Map<string, unknown>();
      for (const item of rawRoot?.items ?? []) if (item.kind === "entry") rawValues.set(item.key, item.value);
      const records = parseRecords(decrypted.tree, rawValues, file);
      const recipients = (metadata.keyGroups?.[0]?.age ?? metadata.age).map((key) => key.recipient);
      const own: string[] = [];
      for (const identity of identities) own.push(await ageRecipientOf(identity));
      return new SecretStore(paths, { records, recipients, dataKey }, own, bytes, options);
    } catch (err) {
      dataKey.fill(0);
      throw err;
    }
  }

  /** Secret names, sorted. */
  names(): string[] {
    return [...this.#live().records.keys()].sort();
  }

  has(name: string): boolean {
    return this.#live().records.has(name);
  }

  /** The value of a secret, wrapped so it cannot be logged or printed by accident; USAGE error when there is none by that name. */
  get(name: string): Secret {
    assertSecretName(name);
    const record = this.#live().records.get(name);
    if (record === undefined) throw notFound(name, this.file);
    return Secret.of(record.value);
  }

  /** Names with their bookkeeping, sorted by name. Never values. */
  list(): SecretInfo[] {
    const { records } = this.#live();
    return this.names().map((name) => {
      const r = records.get(name);
      return { name, created: r?.created ?? null, updated: r?.updated ?? null };
    });
  }

  /** Adds or replaces a secret. */
  async set(name: string, value: string): Promise<{ readonly created: boolean }> {
    assertSecretName(name);
    assertSecretValue(value);
    const state = this.#live();
    const records = new Map(state.records);
    const existing = records.get(name);
    const now = this.#now().toISOString();
    records.set(name, { value, created: existing?.created ?? now, updated: now });
    await this.#commit({ ...state, records });
    return { created: existing === undefined };
  }

  /** Adds many secrets in one write. Existing names are skipped unless `overwrite`. */
  async setMany(entries: readonly ImportEntry[], options: { readonly overwrite?: boolean | undefined } = {}): Promise<ImportResult> {
    const state = this.#live();
    const records = new Map(state.records);
    const imported: string[] = [];
    const skipped: { name: string; reason: string }[] = [];
    const now = this.#now().toISOString();
    for (const { name, value } of entries) {
      assertSecretName(name);
      assertSecretValue(value);
      const existing = records.get(name);
      if (existing !== undefined && options.overwrite !== true) {
        skipped.push({ name, reason: "already in the store (pass --overwrite to replace it)" });
        continue;
      }
      records.set(name, { value, created: existing?.created ?? now, updated: now });
      imported.push(name);
    }
    if (imported.length > 0) await this.#commit({ ...state, records });
    return { imported, skipped };
  }

  /**
   * Makes the store hold exactly these values (what `edit` saved): new names
   * are created, changed values get a new `updated`, missing names are
   * removed. One write, or none when nothing changed.
   */
  async replaceValues(values: ReadonlyMap<string, string>): Promise<{ readonly added: string[]; readonly changed: string[]; readonly removed: string[] }> {
    for (const [name, value] of values) {
      assertSecretName(name);
      assertSecretValue(value);
    }
    const state = this.#live();
    const now = this.#now().toISOString();
    const records = new Map<string, SecretRecord>();
    const added: string[] = [];
    const changed: string[] = [];
    for (const name of [...values.keys()].sort()) {
      const value = values.get(name) ?? "";
      const existing = state.records.get(name);
      if (existing === undefined) added.push(name);
      else if (existing.value !== value) changed.push(name);
      records.set(name, existing !== undefined && existing.value === value ? existing : { value, created: existing?.created ?? now, updated: now });
    }
    const removed = [...state.records.keys()].filter((name) => !values.has(name)).sort();
    if (added.length + changed.length + removed.length > 0) await this.#commit({ ...state, records });
    return { added, changed, removed };
  }

  /** Removes a secret; USAGE error when there is none by that name. */
  async remove(name: string): Promise<void> {
    assertSecretName(name);
    const state = this.#live();
    if (!state.records.has(name)) throw notFound(name, this.file);
    const records = new Map(state.records);
    records.delete(name);
    await this.#commit({ ...state, records });
  }

  /** The age recipients the data key is wrapped for. */
  recipients(): string[] {
    return [...this.#live().recipients];
  }

  /** The recipients of the identities this store was opened with. */
  ownRecipients(): string[] {
    return [...this.#own];
  }

  /** Wraps the data key for one more recipient (e.g. an offline backup key). Returns false if it already was. */
  async addRecipient(recipient: string): Promise<boolean> {
    const r = normaliseRecipient(recipient);
    const state = this.#live();
    if (state.recipients.includes(r)) return false;
    await this.#commit({ ...state, recipients: [...state.recipients, r] });
    return true;
  }

  /**
   * Stops wrapping the data key for a recipient, and changes the data key: a
   * removed key that saw an earlier copy of the file knows the old one.
   * Refuses the last recipient and the profile's own.
   */
  async removeRecipient(recipient: string): Promise<void> {
    const r = normaliseRecipient(recipient);
    const state = this.#live();
    if (!state.recipients.includes(r)) throw new AegisError("USAGE", `${r} is not a recipient of ${this.file}. \`aegisclaw secrets recipients list\` shows them.`);
    if (this.#own.includes(r)) {
      throw new AegisError("USAGE", `${r} is this profile's own identity; removing it would lock the profile out of its secrets. To replace the identity use \`aegisclaw secrets rotate --identity\`.`);
    }
    if (state.recipients.length === 1) throw new AegisError("USAGE", `${r} is the only recipient of ${this.file}; removing it would leave the secrets unreadable.`);
    await this.#commit({ ...state, recipients: state.recipients.filter((x) => x !== r), dataKey: randomBytes(SOPS_DATA_KEY_BYTES) });
  }

  /**
   * A new data key, every value re-encrypted. With `identity`, the profile's
   * age identity is replaced too: the old one is kept as
   * `keys/age-identity.old.txt` until the rewritten file has been read back
   * and verified with the new identity from disk, then removed. A crash at any
   * point leaves a file that the identity or the old identity opens (the CLI
   * tries both), and the next `rotate --identity` finishes the job first.
   */
  async rotate(options: RotateOptions = {}): Promise<RotateReport> {
    if (options.identity !== true) {
      const state = this.#live();
      await this.#commit({ ...state, dataKey: randomBytes(SOPS_DATA_KEY_BYTES) });
      return { secrets: state.records.size, recipients: this.recipients(), resumed: false };
    }
    const oldPath = oldIdentityPath(this.paths);
    let resumed = false;
    if (existsQuiet(oldPath)) {
      await this.#finishIdentityRotation(options);
      resumed = true;
    }
    // Read after finishing: that commit changed the recipients and the data key.
    const state = this.#live();
    const current = await loadIdentityFile(this.paths.ageIdentity, { passphrase: options.passphrase });
    const passphrase = current.encrypted ? await requirePassphrase(options.passphrase, this.paths.ageIdentity) : undefined;
    const next = await generateIdentity({ passphrase, scryptWorkFactor: options.scryptWorkFactor, now: this.#now() });
    // 1. Keep the current identity under the old name (a hard link: atomic, and it fails if the name exists).
    try {
      this.#ops.linkSync(this.paths.ageIdentity, oldPath);
    } catch (err) {
      throw new AegisError("KEY_INVALID", `Could not keep the current identity as ${oldPath} (${(err as NodeJS.ErrnoException).code ?? String(err)}); nothing was changed.`, { cause: err });
    }
    fsyncDirectory(this.paths.keysDir);
    // 2. The new identity takes the profile's name. The secrets file still opens with the old one.
    writePrivateFileAtomic(this.paths.ageIdentity, next.fileText, this.#ops);
    // 3. Re-encrypt to the new identity (and the other recipients), with a new data key.
    const recipients = [...state.recipients.filter((r) => !current.recipients.includes(r)), next.recipient];
    await this.#commit({ ...state, recipients, dataKey: randomBytes(SOPS_DATA_KEY_BYTES) });
    // 4. Read both back from disk; only then is the old identity dropped.
    await this.#verifyOnDisk(options.passphrase, oldPath);
    this.#ops.rmSync(oldPath, { force: true });
    fsyncDirectory(this.paths.keysDir);
    this.#own = [...this.#own.filter((r) => !current.recipients.includes(r)), next.recipient];
    return { secrets: state.records.size, recipients: this.recipients(), newRecipient: next.recipient, resumed };
  }

  /** Zeroes the data key; the store cannot be used afterwards. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#state.dataKey.fill(0);
  }

  /** An identity rotation stopped half-way: make the file open with the current identity alone, verify, drop the old one. */
  async #finishIdentityRotation(options: RotateOptions): Promise<void> {
    const oldPath = oldIdentityPath(this.paths);
    const current = await loadIdentityFile(this.paths.ageIdentity, { passphrase: options.passphrase });
    const old = await loadIdentityFile(oldPath, { passphrase: options.passphrase });
    const mine = current.recipients[0];
    if (mine === undefined) throw new AegisError("KEY_INVALID", `${this.paths.ageIdentity} holds no age identity.`);
    const state = this.#live();
    const others = state.recipients.filter((r) => !current.recipients.includes(r) && !old.recipients.includes(r));
    await this.#commit({ ...state, recipients: [...others, mine], dataKey: randomBytes(SOPS_DATA_KEY_BYTES) });
    await this.#verifyOnDisk(options.passphrase, oldPath);
    this.#ops.rmSync(oldPath, { force: true });
    fsyncDirectory(this.paths.keysDir);
    this.#own = current.recipients;
  }

  /** The file on disk opens with the identity file on disk and holds exactly what this store holds. */
  async #verifyOnDisk(passphrase: PassphraseSource | undefined, keptOldPath: string): Promise<void> {
    const failed = (why: string, cause?: unknown): AegisError =>
      new AegisError(
        "KEY_INVALID",
        `The rotated ${this.file} did not verify with the new identity ${this.paths.ageIdentity} (${why}). The previous identity is kept at ${keptOldPath}; do not delete it. Run \`aegisclaw secrets rotate --identity\` again to finish.`,
        cause === undefined ? undefined : { cause },
      );
    let fresh: SecretStore;
    try {
      const identity = await loadIdentityFile(this.paths.ageIdentity, { passphrase });
      fresh = await SecretStore.open(this.paths, identity.identities, { fileOps: this.#ops, now: this.#now });
    } catch (err) {
      throw failed(err instanceof Error ? err.message : String(err), err);
    }
    try {
      const mine = this.#live().records;
      const theirs = fresh.#live().records;
      const same = mine.size === theirs.size && [...mine].every(([name, r]) => {
        const o = theirs.get(name);
        return o !== undefined && o.value === r.value && o.created === r.created && o.updated === r.updated;
      });
      if (!same) throw failed("its contents differ from what was written");
    } finally {
      fresh.close();
    }
  }

  #live(): StoreState {
    if (this.#closed) throw new AegisError("USAGE", `The secret store for ${this.file} was closed.`);
    return this.#state;
  }

  /** Encrypts `next`, writes it atomically, then makes it the store's state (the old data key is zeroed if it changed). */
  async #commit(next: StoreState): Promise<void> {
    const text = await encryptSopsFile(toPlain(next.records), "yaml", { recipients: next.recipients, dataKey: next.dataKey, now: this.#now(), file: this.file });
    // Refuse to overwrite what another process wrote since we read the file (its change would be lost silently).
    let onDisk: Buffer | undefined;
    try {
      onDisk = readFileSync(this.file);
    } catch {
      onDisk = undefined;
    }
    if (onDisk === undefined || !onDisk.equals(this.#onDisk)) {
      if (next.dataKey !== this.#state.dataKey) next.dataKey.fill(0);
      throw new AegisError("CONFIG_INVALID", `${this.file} was changed or removed by another process after it was read; nothing was written. Run the command again.`);
    }
    try {
      writePrivateFileAtomic(this.file, text, this.#ops);
    } catch (err) {
      if (next.dataKey !== this.#state.dataKey) next.dataKey.fill(0);
      throw err;
    }
    if (next.dataKey !== this.#state.dataKey) this.#state.dataKey.fill(0);
    this.#state = next;
    this.#onDisk = Buffer.from(text, "utf8");
  }
}

function assertSecretValue(value: string): void {
  if (value === "") throw new AegisError("USAGE", "The value is empty; nothing was stored. (To delete a secret use `aegisclaw secrets rm NAME`.)", { exitCode: EXIT.usage });
  if (Buffer.byteLength(value, "utf8") > MAX_SECRET_BYTES) {
    throw new AegisError("USAGE", `The value is larger than ${MAX_SECRET_BYTES} bytes; a secret store is not the place for a whole file.`, { exitCode: EXIT.usage });
  }
  // A NUL cannot be in an environment variable, and the sandbox passes its options NUL-separated.
  if (value.includes("\0")) throw new AegisError("USAGE", "The value contains a NUL byte, which no environment variable can hold; nothing was stored. Store binary data base64-encoded.", { exitCode: EXIT.usage });
}

function normaliseRecipient(recipient: string): string {
  const r = recipient.trim();
  // X25519 (age1…) and post-quantum hybrid (age1pq1…) recipients are Bech32: lower-case, no 1/b/i/o after the separator.
  if (!/^age1[02-9ac-hj-np-z]+$/.test(r) && !/^age1pq1[02-9ac-hj-np-z]+$/.test(r)) {
    throw new AegisError("KEY_INVALID", `That is not an age recipient: use an age1… public key, as printed by \`age-keygen -y KEYFILE\`. (SSH keys and plugin recipients are not supported.)`, { exitCode: EXIT.usage });
  }
  return r;
}

async function requirePassphrase(source: PassphraseSource | undefined, file: string): Promise<string> {
  if (source === undefined) throw new AegisError("KEY_INVALID", `${file} is protected by a passphrase and none can be asked for here. Set AEGISCLAW_PASSPHRASE or run the command in a terminal.`);
  return source({ file });
}

/** The plain tree written to the file: secrets sorted by name (stable diffs), then the bookkeeping. */
function toPlain(records: ReadonlyMap<string, SecretRecord>): PlainObject {
  const names = [...records.keys()].sort();
  const tree: Record<string, PlainValue> = {};
  const meta: Record<string, PlainValue> = {};
  for (const name of names) {
    const r = records.get(name);
    if (r === undefined) continue;
    tree[name] = r.value;
    meta[name] = {
      ...(r.created !== null ? { created: r.created } : {}),
      ...(r.updated !== null ? { updated: r.updated } : {}),
    };
  }
  tree[STORE_META_KEY] = { version: STORE_FORMAT_VERSION, secrets: meta };
  return tree;
}

function parseRecords(tree: PlainObject, rawValues: ReadonlyMap<string, unknown>, file: string): Map<string, SecretRecord> {
  const values = new Map<string, string>();
  let metaRaw: PlainValue | undefined;
  for (const [key, value] of Object.entries(tree)) {
    if (key === STORE_META_KEY) {
      metaRaw = value;
      continue;
    }
    if (!SECRET_NAME_PATTERN.test(key)) {
      throw new AegisError(
        "CONFIG_INVALID",
        `${file}: the top-level key ${JSON.stringify(key)} is not a secret name (upper-case letters, digits and _) nor ${STORE_META_KEY}. Rename or remove it with \`sops ${file}\`.`,
      );
    }
    // Values must have been encrypted in the file, whatever its rules say: a value in clear was written outside aegisclaw.
    const raw = rawValues.get(key) as { kind?: string; value?: unknown } | undefined;
    if (raw?.kind !== "str" || typeof raw.value !== "string" || (raw.value !== "" && !looksEncrypted(raw.value))) {
      throw new AegisError("KEY_INVALID", `${file}: the value of ${key} is stored in clear, not encrypted. Assume it is exposed: rotate it, and re-encrypt the file.`);
    }
    if (typeof value === "string") values.set(key, value);
    else if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") values.set(key, String(value));
    else throw new AegisError("CONFIG_INVALID", `${file}: ${key} holds a ${value === null ? "null" : Array.isArray(value) ? "list" : "map or binary value"}; a secret is one text value.`);
  }
  let meta: z.infer<typeof MetaSchema> = { version: STORE_FORMAT_VERSION };
  if (metaRaw !== undefined) {
    const parsed = MetaSchema.safeParse(metaRaw);
    if (!parsed.success) {
      const version = (metaRaw as { version?: unknown } | null)?.version;
      if (typeof version === "number" && version > STORE_FORMAT_VERSION) {
        throw new AegisError("CONFIG_TOO_NEW", `${file} is secret-store format ${version}, written by a newer AegisClaw (this one reads up to ${STORE_FORMAT_VERSION}). Upgrade AegisClaw; nothing was changed.`);
      }
      throw new AegisError("CONFIG_INVALID", `${file}: ${STORE_META_KEY} is malformed (${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}). Fix it with \`sops ${file}\`.`);
    }
    meta = parsed.data;
    if (meta.version > STORE_FORMAT_VERSION) {
      throw new AegisError("CONFIG_TOO_NEW", `${file} is secret-store format ${meta.version}, written by a newer AegisClaw (this one reads up to ${STORE_FORMAT_VERSION}). Upgrade AegisClaw; nothing was changed.`);
    }
  }
  const records = new Map<string, SecretRecord>();
  for (const [name, value] of values) {
    const m = meta.secrets?.[name];
    records.set(name, { value, created: m?.created ?? null, updated: m?.updated ?? null });
  }
  return records;
}

// ---------------------------------------------------------------------------
// dotenv import

export interface DotenvEntry {
  readonly name: string;
  readonly value: string;
  /** 1-based line where the definition starts. */
  readonly line: number;
}

export interface DotenvProblem {
  readonly line: number;
  /** The key, when the line had one (never the value). */
  readonly name?: string | undefined;
  readonly reason: string;
}

export interface ParsedDotenv {
  /** Valid definitions, the last one of each name. */
  readonly entries: DotenvEntry[];
  readonly problems: DotenvProblem[];
}

/**
 * Parses a dotenv file: `KEY=VALUE` lines, an optional `export ` prefix,
 * `#` comments (whole lines, and after whitespace in unquoted values),
 * single-, double- and back-quoted values (which may span lines; `\n`, `\r`,
 * `\t`, `\"`, `\\`, `\$` are escapes in double quotes). `${VAR}` is kept
 * literally. Problems name the line and, when there is one, the key — never
 * the value.
 */
export function parseDotenv(text: string): ParsedDotenv {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const byName = new Map<string, DotenvEntry>();
  const problems: DotenvProblem[] = [];
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i] ?? "";
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=(.*)$/s.exec(line);
    if (m === null) {
      problems.push({ line: lineNo, reason: "not a KEY=VALUE line" });
      continue;
    }
    const name = m[1] ?? "";
    let rest = (m[2] ?? "").trimStart();
    let value: string;
    const quote = rest[0];
    if (quote === '"' || quote === "'" || quote === "`") {
      // Scan for the closing quote, joining following lines while the value is open.
      let out = "";
      let j = 1;
      let closed = false;
      let consumed = i;
      for (;;) {
        while (j < rest.length) {
          const c = rest[j] ?? "";
          if (c === quote) {
            closed = true;
            break;
          }
          if (c === "\\" && quote === '"' && j + 1 < rest.length) {
            const n = rest[j + 1] ?? "";
            const escapes: Record<string, string> = { n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\", $: "$" };
            out += escapes[n] ?? `\\${n}`;
            j += 2;
            continue;
          }
          out += c;
          j++;
        }
        if (closed || consumed + 1 >= lines.length) break;
        consumed++;
        out += "\n";
        rest = rest.slice(0, j) + "\n" + (lines[consumed] ?? "");
        j += 1;
      }
      if (!closed) {
        problems.push({ line: lineNo, name, reason: `the ${quote} quote opened here is never closed` });
        break;
      }
      const after = rest.slice(j + 1).trim();
      i = consumed;
      if (after !== "" && !after.startsWith("#")) {
        problems.push({ line: lineNo, name, reason: "unexpected text after the closing quote" });
        continue;
      }
      value = out;
    } else {
      const raw = m[2] ?? "";
      const comment = /\s#/.exec(raw);
      value = (comment === null ? raw : raw.slice(0, comment.index)).trim();
    }
    if (!SECRET_NAME_PATTERN.test(name)) {
      problems.push({ line: lineNo, name, reason: `not an environment-variable-style name (upper-case letters, digits and _)${/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `; rename it ${name.toUpperCase()} to import it` : ""}` });
      continue;
    }
    if (value === "") {
      problems.push({ line: lineNo, name, reason: "empty value" });
      continue;
    }
    const earlier = byName.get(name);
    if (earlier !== undefined) problems.push({ line: earlier.line, name, reason: `defined again on line ${lineNo}; the later definition is imported` });
    byName.set(name, { name, value, line: lineNo });
  }
  return { entries: [...byName.values()], problems };
}
