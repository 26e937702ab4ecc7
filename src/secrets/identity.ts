/**
 * The profile's age identity (`keys/age-identity.txt`) and the private-file
 * writing the secret store shares with it.
 *
 * The identity file is what `age-keygen` writes (`# created:`, `# public key:`,
 * one `AGE-SECRET-KEY-1…` line), so the real `age -d -i` reads it. With a
 * passphrase it is that same text encrypted to an age scrypt recipient and
 * armored, which `age -d -i` also accepts (it asks for the passphrase).
 * Files are written complete or not at all, mode 0600, and never overwritten
 * by accident.
 */
import { closeSync, constants, fsyncSync, linkSync, lstatSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";

import { Decrypter, Encrypter, armor, generateX25519Identity } from "age-encryption";

import { AegisError, EXIT } from "../errors.ts";
import type { ProfilePaths } from "../config/paths.ts";
import { ageRecipientOf, parseAgeIdentities } from "./sops/index.ts";

// ---------------------------------------------------------------------------
// Private files: atomic, 0600, fsynced.

/** The file-system calls a private write makes; tests swap one for a failing one to simulate a crash. */
export interface PrivateFileOps {
  openSync(path: string, flags: string, mode: number): number;
  writeSync(fd: number, data: string): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  linkSync(existing: string, link: string): void;
  rmSync(path: string, options: { force: boolean }): void;
}

export const nodeFileOps: PrivateFileOps = {
  openSync: (path, flags, mode) => openSync(path, flags, mode),
  writeSync: (fd, data) => writeSync(fd, data),
  fsyncSync: (fd) => {
    fsyncSync(fd);
  },
  closeSync: (fd) => {
    closeSync(fd);
  },
  renameSync: (from, to) => {
    renameSync(from, to);
  },
  linkSync: (existing, link) => {
    linkSync(existing, link);
  },
  rmSync: (path, options) => {
    rmSync(path, options);
  },
};

/** Makes a rename (or link, or removal) in `dir` durable: without it a crash can forget the new name. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function tempNameFor(path: string): string {
  // Same directory (rename is atomic only within one file system), hidden, unguessable.
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
}

function writeTemp(path: string, content: string, ops: PrivateFileOps): string {
  const tmp = tempNameFor(path);
  const fd = ops.openSync(tmp, "wx", 0o600);
  try {
    ops.writeSync(fd, content);
    ops.fsyncSync(fd);
  } finally {
    ops.closeSync(fd);
  }
  return tmp;
}

/**
 * Replaces (or creates) `path` with `content`, atomically: a 0600 temp file in
 * the same directory, fsynced, renamed over the target, then the directory is
 * fsynced. A crash or failure before the rename leaves the previous file as it
 * was; the temp file is removed on failure.
 */
export function writePrivateFileAtomic(path: string, content: string, ops: PrivateFileOps = nodeFileOps): void {
  let tmp: string | undefined;
  try {
    tmp = writeTemp(path, content, ops);
    ops.renameSync(tmp, path);
    tmp = undefined;
  } catch (err) {
    throw new AegisError("CONFIG_INVALID", `Could not write ${path} (${(err as NodeJS.ErrnoException).code ?? errorText(err)}); the previous version, if any, is unchanged.`, { cause: err });
  } finally {
    if (tmp !== undefined) ops.rmSync(tmp, { force: true });
  }
  fsyncDirectory(dirname(path));
}

/**
 * Creates `path` with `content` only if it does not exist (0600, complete or
 * not at all): the temp file is hard-linked into place, and link fails if the
 * name exists, so two writers can never overwrite each other. Returns false
 * when the file already existed.
 */
export function writePrivateFileNew(path: string, content: string, ops: PrivateFileOps = nodeFileOps): boolean {
  const tmp = writeTemp(path, content, ops);
  try {
    ops.linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new AegisError("CONFIG_INVALID", `Could not create ${path} (${(err as NodeJS.ErrnoException).code ?? errorText(err)}).`, { cause: err });
  } finally {
    ops.rmSync(tmp, { force: true });
  }
  fsyncDirectory(dirname(path));
  return true;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Refuses a key or secrets file that is a symbolic link, is not a regular
 * file, belongs to someone else, or that the group or others could read or
 * change — and says which chmod fixes it. (`openProfile` checks the whole
 * profile; this keeps the store safe for callers that skip it.)
 */
export function assertPrivateFile(path: string, what: string): void {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    throw new AegisError("PROFILE_MISSING", `${what} ${path} does not exist (${(err as NodeJS.ErrnoException).code ?? errorText(err)}). Run \`aegisclaw secrets init\` to create it, or restore it from backup.`, { cause: err });
  }
  if (st.isSymbolicLink()) {
    throw new AegisError("PROFILE_INSECURE", `Refusing to use ${what} ${path}: it is a symbolic link, so someone could redirect it. Replace it with the file it points to.`, { exitCode: EXIT.insecure });
  }
  if (!st.isFile()) throw new AegisError("CONFIG_INVALID", `${what} ${path} is not a regular file.`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new AegisError("PROFILE_INSECURE", `Refusing to use ${what} ${path}: it is owned by uid ${st.uid}, not you (uid ${uid}). Fix with: chown ${uid} ${JSON.stringify(path)}`, { exitCode: EXIT.insecure });
  }
  if ((st.mode & 0o077) !== 0) {
    throw new AegisError(
      "PROFILE_INSECURE",
      `Refusing to use ${what} ${path} (mode ${(st.mode & 0o777).toString(8).padStart(3, "0")}): the group or others can ${st.mode & 0o022 ? "change" : "read"} it. Fix with: chmod 600 ${JSON.stringify(path)}`,
      { exitCode: EXIT.insecure },
    );
  }
}

/** Reads a private file after `assertPrivateFile`. */
export function readPrivateFile(path: string, what: string): string {
  return readPrivateBytes(path, what).toString("utf8");
}

export function readPrivateBytes(path: string, what: string): Buffer {
  assertPrivateFile(path, what);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new AegisError("PROFILE_MISSING", `Cannot read ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? errorText(err)}).`, { cause: err });
  }
}

// ---------------------------------------------------------------------------
// Identity files.

/** Asked for the passphrase of an encrypted identity file (`file` names it). */
export type PassphraseSource = (request: { readonly file: string }) => Promise<string>;

const ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----";
const AGE_BINARY_MAGIC = "age-encryption.org/v1\n";

/** The identity file in the profile while an identity rotation is in progress: the identity being replaced. */
export function oldIdentityPath(paths: ProfilePaths): string {
  return join(paths.keysDir, "age-identity.old.txt");
}

/** True for an age-encrypted (passphrase-protected) identity file, armored or binary. */
export function isEncryptedIdentityText(text: string): boolean {
  const trimmed = text.trimStart();
  return trimmed.startsWith(ARMOR_BEGIN) || text.startsWith(AGE_BINARY_MAGIC);
}

/** The identity as `age-keygen` writes it. */
export function formatIdentityFile(identity: string, recipient: string, created: Date): string {
  // age-keygen writes time.RFC3339 in local time; UTC is equally valid RFC 3339 and does not leak the time zone.
  return `# created: ${created.toISOString().replace(/\.\d{3}Z$/, "Z")}\n# public key: ${recipient}\n${identity}\n`;
}

export interface NewIdentity {
  readonly identity: string;
  readonly recipient: string;
  /** The file's content: age-keygen text, or that text encrypted with the passphrase and armored. */
  readonly fileText: string;
  readonly encrypted: boolean;
}

export interface NewIdentityOptions {
  /** Protect the file with this passphrase (age scrypt recipient). */
  readonly passphrase?: string | undefined;
  /** scrypt log2(N); age's default 18 unless given (tests lower it). */
  readonly scryptWorkFactor?: number | undefined;
  readonly now?: Date | undefined;
}

/** A fresh X25519 identity and the text of its file. Nothing is written. */
export async function generateIdentity(options: NewIdentityOptions = {}): Promise<NewIdentity> {
  const identity = await generateX25519Identity();
  const recipient = await ageRecipientOf(identity);
  const plain = formatIdentityFile(identity, recipient, options.now ?? new Date());
  if (options.passphrase === undefined) return { identity, recipient, fileText: plain, encrypted: false };
  if (options.passphrase === "") throw new AegisError("USAGE", "The passphrase is empty; choose one of at least a few random words.", { exitCode: EXIT.usage });
  const encrypter = new Encrypter();
  encrypter.setPassphrase(options.passphrase);
  if (options.scryptWorkFactor !== undefined) encrypter.setScryptWorkFactor(options.scryptWorkFactor);
  return { identity, recipient, fileText: armor.encode(await encrypter.encrypt(plain)), encrypted: true };
}

/**
 * Creates an identity file (0600). Never overwrites: an existing file is a
 * KEY_INVALID error that says so (losing an identity loses every secret
 * encrypted only to it).
 */
export async function createIdentityFile(path: string, options: NewIdentityOptions & { readonly fileOps?: PrivateFileOps | undefined } = {}): Promise<NewIdentity> {
  const created = await generateIdentity(options);
  if (!writePrivateFileNew(path, created.fileText, options.fileOps)) {
    throw new AegisError("KEY_INVALID", `${path} already exists; aegisclaw never overwrites an age identity (every secret encrypted to it would be lost). Move it aside yourself if you really mean to replace it.`);
  }
  return created;
}

export interface LoadedIdentity {
  readonly file: string;
  /** The `AGE-SECRET-KEY-1…` lines (usually one). */
  readonly identities: readonly string[];
  /** Their recipients, `age1…`, in the same order. */
  readonly recipients: readonly string[];
  /** Whether the file is passphrase-protected. */
  readonly encrypted: boolean;
}

/**
 * Reads an identity file: refuses an unsafe one (symlink, group/world
 * access), asks `passphrase` when it is encrypted, and fails with KEY_INVALID
 * naming the file for a wrong passphrase or a file without an identity.
 */
export async function loadIdentityFile(path: string, options: { readonly passphrase?: PassphraseSource | undefined } = {}): Promise<LoadedIdentity> {
  const bytes = readPrivateBytes(path, "the age identity");
  let text = bytes.toString("utf8");
  const encrypted = isEncryptedIdentityText(text);
  if (encrypted) {
    if (options.passphrase === undefined) {
      throw new AegisError("KEY_INVALID", `${path} is protected by a passphrase and none can be asked for here. Set AEGISCLAW_PASSPHRASE or run the command in a terminal.`);
    }
    let ciphertext: Uint8Array;
    try {
      ciphertext = text.startsWith(AGE_BINARY_MAGIC) ? bytes : armor.decode(text.trim() + "\n");
    } catch (err) {
      throw new AegisError("KEY_INVALID", `${path} looks like an encrypted age identity but is damaged (${errorText(err)}). Restore it from backup.`, { cause: err });
    }
    const passphrase = await options.passphrase({ file: path });
    const decrypter = new Decrypter();
    decrypter.addPassphrase(passphrase);
    try {
      text = await decrypter.decrypt(ciphertext, "text");
    } catch (err) {
      throw new AegisError("KEY_INVALID", `${path}: wrong passphrase, or the file is damaged (${errorText(err)}). Nothing was changed.`, { cause: err });
    }
  }
  const identities = parseAgeIdentities(text).filter((line) => !line.startsWith("AGE-SECRET-KEY-PQ-"));
  if (identities.length === 0) {
    throw new AegisError("KEY_INVALID", `${path} holds no age identity (no AGE-SECRET-KEY-1… line). Restore it from backup; aegisclaw secrets init writes a new one only where none exists.`);
  }
  const recipients: string[] = [];
  for (const identity of identities) {
    try {
      recipients.push(await ageRecipientOf(identity));
    } catch (err) {
      throw new AegisError("KEY_INVALID", `${path}: ${errorText(err)}`, { cause: err });
    }
  }
  return { file: path, identities, recipients, encrypted };
}

export interface ProfileIdentities {
  /** Every identity to try: the current one, then the old one of an unfinished rotation. */
  readonly identities: readonly string[];
  readonly current: LoadedIdentity;
  /** Set when `age-identity.old.txt` exists: an identity rotation was interrupted. */
  readonly old?: LoadedIdentity | undefined;
}

/** The profile's identity, plus the old one if an identity rotation did not finish (the secrets file may still be encrypted to it). */
export async function loadProfileIdentities(paths: ProfilePaths, options: { readonly passphrase?: PassphraseSource | undefined } = {}): Promise<ProfileIdentities> {
  const current = await loadIdentityFile(paths.ageIdentity, options);
  const oldPath = oldIdentityPath(paths);
  let old: LoadedIdentity | undefined;
  if (existsQuiet(oldPath)) old = await loadIdentityFile(oldPath, options);
  return { identities: [...current.identities, ...(old?.identities ?? [])], current, old };
}

export function existsQuiet(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
