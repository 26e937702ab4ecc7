/**
 * Whole SOPS files: read + unwrap + decrypt + verify, and encrypt + wrap +
 * write. Decryption never returns a partial tree: every value must
 * authenticate and the MAC must match, or it throws (KEY_INVALID for keys and
 * integrity, CONFIG_INVALID for a malformed file), naming the file.
 */
import { randomBytes } from "node:crypto";
import { extname } from "node:path";

import { AegisError } from "../../errors.ts";
import { unwrapDataKey, wrapDataKey } from "./age.ts";
import { emitBinarySopsFile, loadBinarySopsFile } from "./binary.ts";
import { SOPS_DATA_KEY_BYTES } from "./cipher.ts";
import { decryptBranches, encryptBranches, type DecryptedComment } from "./crypt.ts";
import { loadDotenvSopsFile } from "./dotenv.ts";
import { loadIniSopsFile } from "./ini.ts";
import { emitJsonSopsFile, loadJsonSopsFile } from "./json.ts";
import { encryptMac, verifyMac } from "./mac.ts";
import { SOPS_FORMAT_VERSION, formatLastModified, type LoadedSopsFile, type SopsMetadata } from "./metadata.ts";
import { compileRules, plainToTree, treeToPlain, type EncryptionRules, type PlainObject, type SopsMap } from "./tree.ts";
import { emitYamlSopsFile, loadYamlSopsFile } from "./yaml.ts";

export type SopsFormat = "yaml" | "json" | "dotenv" | "ini" | "binary";
/** The formats we can write. */
export type SopsWritableFormat = "yaml" | "json" | "binary";

/** The store sops would pick for a file name (anything unknown is binary). */
export function sopsFormatForPath(path: string): SopsFormat {
  switch (extname(path).toLowerCase()) {
    case ".yaml":
    case ".yml":
      return "yaml";
    case ".json":
      return "json";
    case ".env":
      return "dotenv";
    case ".ini":
      return "ini";
    default:
      return "binary";
  }
}

/** Parse a SOPS file without decrypting anything (key names and metadata are in clear). */
export function loadSopsFile(text: string, format: SopsFormat, file?: string): LoadedSopsFile {
  const label = file ?? `the ${format} SOPS file`;
  switch (format) {
    case "yaml":
      return loadYamlSopsFile(text, label);
    case "json":
      return loadJsonSopsFile(text, label);
    case "dotenv":
      return loadDotenvSopsFile(text, label);
    case "ini":
      return loadIniSopsFile(text, label);
    case "binary":
      return loadBinarySopsFile(text, label);
  }
}

/** Write an already-encrypted tree and its metadata. */
export function emitSopsFile(loaded: LoadedSopsFile, format: SopsWritableFormat): string {
  switch (format) {
    case "yaml":
      return emitYamlSopsFile(loaded.branches, loaded.metadata);
    case "json":
      return emitJsonSopsFile(loaded.branches, loaded.metadata);
    case "binary":
      return emitBinarySopsFile(loaded.branches, loaded.metadata);
  }
}

export interface DecryptSopsOptions {
  /** The 32-byte data key, if already known; otherwise it is unwrapped with `ageIdentities`. */
  readonly dataKey?: Uint8Array | undefined;
  /** `AGE-SECRET-KEY-1…` identities to unwrap the data key with. */
  readonly ageIdentities?: readonly string[] | undefined;
  /** The file's name, for error messages. */
  readonly file?: string | undefined;
}

export interface DecryptedSopsFile {
  /** The first (usually only) document as plain values, keys in file order. */
  readonly tree: PlainObject;
  /** Every document (YAML may hold several). */
  readonly documents: PlainObject[];
  /** The decrypted ordered trees, comments included (to edit and re-encrypt). */
  readonly branches: SopsMap[];
  readonly metadata: SopsMetadata;
  /** The verified MAC, uppercase hex SHA-512. */
  readonly mac: string;
  readonly comments: DecryptedComment[];
}

/**
 * Decrypt a SOPS file and verify its MAC. A file without a MAC is refused,
 * as sops refuses it without --ignore-mac.
 */
export async function decryptSopsFile(text: string, format: SopsFormat, options: DecryptSopsOptions): Promise<DecryptedSopsFile> {
  const file = options.file ?? `the ${format} SOPS file`;
  const loaded = loadSopsFile(text, format, file);
  return decryptLoadedSopsFile(loaded, options);
}

export async function decryptLoadedSopsFile(loaded: LoadedSopsFile, options: DecryptSopsOptions): Promise<DecryptedSopsFile> {
  const file = options.file ?? "the SOPS file";
  const { metadata } = loaded;
  const rules = compileRules(metadata.rules, file);
  let dataKey: Buffer;
  if (options.dataKey !== undefined) {
    if (options.dataKey.length !== SOPS_DATA_KEY_BYTES) throw new AegisError("KEY_INVALID", `${file}: the data key given is ${options.dataKey.length} bytes; a SOPS data key is ${SOPS_DATA_KEY_BYTES}.`);
    dataKey = Buffer.from(options.dataKey);
  } else if (options.ageIdentities !== undefined) {
    dataKey = await unwrapDataKey(metadata, options.ageIdentities, file);
  } else {
    throw new AegisError("KEY_INVALID", `${file}: no data key and no age identity was given, so it cannot be decrypted. Pass the age identity it was encrypted to.`);
  }
  try {
    const decrypted = decryptBranches(loaded.branches, dataKey, rules, file);
    verifyMac(decrypted.mac, metadata.mac, dataKey, metadata.lastModified, file);
    const documents = decrypted.branches.map((branch) => treeToPlain(branch));
    return {
      tree: documents[0] ?? {},
      documents,
      branches: decrypted.branches,
      metadata,
      mac: decrypted.mac,
      comments: decrypted.comments,
    };
  } finally {
    // Our own copy of the key; the caller's buffer is theirs to clear.
    dataKey.fill(0);
  }
}

export interface EncryptSopsOptions {
  /** age recipients (`age1…`) that can open the file; at least one. */
  readonly recipients: readonly string[];
  /** The 32-byte data key; random by default. Pass the old one to keep it across a rewrite. */
  readonly dataKey?: Uint8Array | undefined;
  /** The modification time to record (and to bind the MAC to); now by default. */
  readonly now?: Date | undefined;
  /** Which values to leave in clear; sops's default (`_unencrypted` suffix) when omitted. */
  readonly rules?: EncryptionRules | undefined;
  readonly file?: string | undefined;
}

/** Encrypt plain values (one document) into a SOPS file. */
export async function encryptSopsFile(plain: PlainObject, format: SopsWritableFormat, options: EncryptSopsOptions): Promise<string> {
  const root: unknown = plain;
  if (typeof root !== "object" || root === null || Array.isArray(root) || root instanceof Uint8Array) {
    throw new AegisError("CONFIG_INVALID", `${options.file ?? "a SOPS file"} holds a map at the top level; pass an object.`);
  }
  return encryptSopsTree([plainToTree(plain)], format, options);
}

/** Encrypt ordered trees (comments kept; one per YAML document) into a SOPS file. */
export async function encryptSopsTree(branches: readonly SopsMap[], format: SopsWritableFormat, options: EncryptSopsOptions): Promise<string> {
  const file = options.file ?? `the ${format} SOPS file`;
  const rules = options.rules ?? {};
  const compiled = compileRules(rules, file);
  const dataKey = options.dataKey === undefined ? randomBytes(SOPS_DATA_KEY_BYTES) : Buffer.from(options.dataKey);
  try {
    if (dataKey.length !== SOPS_DATA_KEY_BYTES) throw new AegisError("KEY_INVALID", `${file}: the data key given is ${dataKey.length} bytes; a SOPS data key is ${SOPS_DATA_KEY_BYTES}.`);
    const age = await wrapDataKey(dataKey, options.recipients);
    const encrypted = encryptBranches(branches, dataKey, compiled);
    // As in sops, lastmodified is set after the tree is encrypted and binds the MAC.
    const lastModified = formatLastModified(options.now ?? new Date());
    const metadata: SopsMetadata = {
      age,
      pgp: [],
      otherKeySources: [],
      lastModified,
      mac: encryptMac(encrypted.mac, dataKey, lastModified),
      version: SOPS_FORMAT_VERSION,
      rules: {
        unencryptedSuffix: compiled.unencryptedSuffix,
        encryptedSuffix: compiled.encryptedSuffix,
        unencryptedRegex: rules.unencryptedRegex,
        encryptedRegex: rules.encryptedRegex,
        unencryptedCommentRegex: rules.unencryptedCommentRegex,
        encryptedCommentRegex: rules.encryptedCommentRegex,
        macOnlyEncrypted: compiled.macOnlyEncrypted,
      },
    };
    return emitSopsFile({ branches: encrypted.branches, metadata }, format);
  } finally {
    dataKey.fill(0);
  }
}
