/**
 * The `sops` metadata block (getsops/sops `stores/stores.go` `Metadata`):
 * the data key wrapped for each master key, `lastmodified` (the MAC's AAD),
 * the encrypted `mac`, `version`, and the rules that say what is encrypted.
 *
 * Reading is tolerant, as sops is: `kms: null`, empty lists, PGP and cloud KMS
 * entries are accepted (we can only unwrap age, but the file stays readable
 * with its data key). Writing follows sops's field order and omits what is
 * empty, as sops 3.10+ does.
 */
import { AegisError } from "../../errors.ts";
import type { EncryptionRules, PlainObject, PlainValue, SopsMap } from "./tree.ts";

/** The sops format version our writer follows (getsops/sops v3.13.2). */
export const SOPS_FORMAT_VERSION = "3.13.2";

export interface SopsAgeKey {
  readonly recipient: string;
  /** The data key as an armored age file (`-----BEGIN AGE ENCRYPTED FILE-----`). */
  readonly enc: string;
}

export interface SopsPgpKey {
  readonly fp: string;
  readonly createdAt: string;
  readonly enc: string;
}

export interface SopsKeyGroup {
  readonly age: readonly SopsAgeKey[];
  readonly pgp: readonly SopsPgpKey[];
  /** Other master key kinds present in the group (kms, gcp_kms, …); we cannot unwrap them. */
  readonly otherKeySources: readonly string[];
}

export interface SopsMetadata {
  /** The master keys of a file with a single key group (the usual case). */
  readonly age: readonly SopsAgeKey[];
  readonly pgp: readonly SopsPgpKey[];
  readonly otherKeySources: readonly string[];
  /** Set only when the file uses `key_groups` (the data key is Shamir-split across groups). */
  readonly keyGroups?: readonly SopsKeyGroup[] | undefined;
  readonly shamirThreshold?: number | undefined;
  /** RFC 3339, exactly as written in the file. */
  readonly lastModified: string;
  /** The encrypted MAC; undefined when the file has none (such a file is refused on decrypt). */
  readonly mac?: string | undefined;
  readonly version: string;
  readonly rules: EncryptionRules;
}

/** A SOPS file as read by a store, before decryption. */
export interface LoadedSopsFile {
  /** The tree as stored: encrypted values are `ENC[...]` strings. One branch per YAML document. */
  readonly branches: SopsMap[];
  readonly metadata: SopsMetadata;
}

const OTHER_KEY_SOURCES = ["kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"] as const;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

/** `lastmodified` as sops writes it: RFC 3339 in UTC, whole seconds. */
export function formatLastModified(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new AegisError("CONFIG_INVALID", "the modification time to write into the sops metadata is not a valid date.");
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function invalid(file: string, message: string): AegisError {
  return new AegisError("CONFIG_INVALID", `${file}: the sops metadata is malformed: ${message}. Restore the file from a trusted copy or re-encrypt it.`);
}

function isObject(value: PlainValue | undefined): value is PlainObject {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function optionalString(raw: PlainObject, key: string, file: string): string | undefined {
  const value = raw[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  // YAML may read `version: 3.5` as a number; sops reads it into a string field.
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  throw invalid(file, `${key} is not a string`);
}

function requiredString(raw: PlainObject, key: string, where: string, file: string): string {
  const value = optionalString(raw, key, file);
  if (value === undefined) throw invalid(file, `${where} has no ${key}`);
  return value;
}

function entries(raw: PlainObject, key: string, file: string): readonly PlainObject[] {
  const value = raw[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(file, `${key} is not a list`);
  return (value as readonly PlainValue[]).map((item, i) => {
    if (!isObject(item)) throw invalid(file, `${key}[${i}] is not a map`);
    return item;
  });
}

function parseGroup(raw: PlainObject, file: string): SopsKeyGroup {
  return {
    age: entries(raw, "age", file).map((item, i) => ({
      recipient: requiredString(item, "recipient", `age[${i}]`, file),
      enc: requiredString(item, "enc", `age[${i}]`, file),
    })),
    pgp: entries(raw, "pgp", file).map((item, i) => ({
      fp: requiredString(item, "fp", `pgp[${i}]`, file),
      createdAt: optionalString(item, "created_at", file) ?? "",
      enc: requiredString(item, "enc", `pgp[${i}]`, file),
    })),
    otherKeySources: OTHER_KEY_SOURCES.filter((name) => entries(raw, name, file).length > 0),
  };
}

function parseBool(raw: PlainObject, key: string, file: string): boolean {
  const value = raw[key];
  if (value === undefined || value === null) return false;
  if (typeof value === "boolean") return value;
  // The flat formats (INI, dotenv) store it as text; sops reads only "true" as true.
  if (typeof value === "string") return value === "true";
  throw invalid(file, `${key} is not a boolean`);
}

/** Read the `sops` block, already converted to plain values by the store. */
export function parseMetadata(raw: PlainValue | undefined, file: string): SopsMetadata {
  if (raw === undefined) {
    throw new AegisError("CONFIG_INVALID", `${file}: no sops metadata found; this is not a SOPS-encrypted file. Encrypt it with aegisclaw or sops first.`);
  }
  if (!isObject(raw)) throw invalid(file, "the sops key does not hold a map");
  const lastModified = requiredString(raw, "lastmodified", "the sops block", file);
  if (!RFC3339.test(lastModified) || Number.isNaN(Date.parse(lastModified))) throw invalid(file, `lastmodified ${JSON.stringify(lastModified)} is not an RFC 3339 time`);
  const group = parseGroup(raw, file);
  const groupsRaw = entries(raw, "key_groups", file);
  const keyGroups = groupsRaw.length > 0 ? groupsRaw.map((item) => parseGroup(item, file)) : undefined;
  const thresholdRaw = raw["shamir_threshold"];
  let shamirThreshold: number | undefined;
  if (thresholdRaw !== undefined && thresholdRaw !== null) {
    const threshold = typeof thresholdRaw === "string" ? Number(thresholdRaw) : typeof thresholdRaw === "bigint" ? Number(thresholdRaw) : thresholdRaw;
    if (typeof threshold !== "number" || !Number.isSafeInteger(threshold) || threshold < 0) throw invalid(file, "shamir_threshold is not a whole number");
    shamirThreshold = threshold;
  }
  return {
    age: group.age,
    pgp: group.pgp,
    otherKeySources: group.otherKeySources,
    keyGroups,
    shamirThreshold,
    lastModified,
    mac: optionalString(raw, "mac", file),
    version: optionalString(raw, "version", file) ?? "",
    rules: {
      unencryptedSuffix: optionalString(raw, "unencrypted_suffix", file),
      encryptedSuffix: optionalString(raw, "encrypted_suffix", file),
      unencryptedRegex: optionalString(raw, "unencrypted_regex", file),
      encryptedRegex: optionalString(raw, "encrypted_regex", file),
      unencryptedCommentRegex: optionalString(raw, "unencrypted_comment_regex", file),
      encryptedCommentRegex: optionalString(raw, "encrypted_comment_regex", file),
      macOnlyEncrypted: parseBool(raw, "mac_only_encrypted", file),
    },
  };
}

function groupToPlain(group: SopsKeyGroup): [string, PlainValue][] {
  const out: [string, PlainValue][] = [];
  if (group.age.length > 0) out.push(["age", group.age.map((key) => ({ recipient: key.recipient, enc: key.enc }))]);
  return out;
}

/**
 * The metadata as an ordered plain object, in sops's field order, for the YAML
 * and JSON writers. PGP and cloud KMS entries are not written: a file we write
 * has a fresh data key that only its age recipients can unwrap.
 */
export function metadataToPlain(metadata: SopsMetadata): PlainObject {
  const out: [string, PlainValue][] = [];
  if (metadata.keyGroups !== undefined) {
    if (metadata.shamirThreshold !== undefined) out.push(["shamir_threshold", metadata.shamirThreshold]);
    out.push(["key_groups", metadata.keyGroups.map((group) => Object.fromEntries(groupToPlain(group)))]);
  } else {
    out.push(...groupToPlain(metadata));
  }
  out.push(["lastmodified", metadata.lastModified]);
  if (metadata.mac !== undefined) out.push(["mac", metadata.mac]);
  const rules = metadata.rules;
  const optional: [string, string | undefined][] = [
    ["unencrypted_suffix", rules.unencryptedSuffix],
    ["encrypted_suffix", rules.encryptedSuffix],
    ["unencrypted_regex", rules.unencryptedRegex],
    ["encrypted_regex", rules.encryptedRegex],
    ["unencrypted_comment_regex", rules.unencryptedCommentRegex],
    ["encrypted_comment_regex", rules.encryptedCommentRegex],
  ];
  for (const [key, value] of optional) if (value !== undefined && value !== "") out.push([key, value]);
  if (rules.macOnlyEncrypted === true) out.push(["mac_only_encrypted", true]);
  out.push(["version", metadata.version]);
  return Object.fromEntries(out);
}

// ---------------------------------------------------------------------------
// Flat metadata (INI `[sops]` section, dotenv `sops_*` keys)
// ---------------------------------------------------------------------------

const MAP_SEPARATOR = "__map_";
const LIST_SEPARATOR = "__list_";

type FlatToken = { readonly map: string } | { readonly list: number };

/** sops `stores/flatten.go` tokenize: `age__list_0__map_enc` → age, [0], enc. */
function tokenize(path: string): FlatToken[] {
  const tokens: FlatToken[] = [];
  let state: "normal" | "map" | "list" = "normal";
  let start = 0;
  const finish = (end: number): void => {
    if (state === "list") tokens.push({ list: Number.parseInt(path.slice(start + LIST_SEPARATOR.length, end), 10) });
    else tokens.push({ map: path.slice(state === "map" ? start + MAP_SEPARATOR.length : start, end) });
    start = end;
  };
  let i = 0;
  while (i < path.length) {
    if (path.startsWith(MAP_SEPARATOR, i)) {
      finish(i);
      state = "map";
      i += MAP_SEPARATOR.length;
    } else if (path.startsWith(LIST_SEPARATOR, i)) {
      finish(i);
      state = "list";
      i += LIST_SEPARATOR.length;
    } else {
      i++;
    }
  }
  finish(path.length);
  return tokens;
}

type Mutable = Record<string, unknown> | unknown[];

/**
 * Unflatten `sops_*`-style keys (already stripped of their prefix) into the
 * metadata's plain form. Values have "\\n" decoded to newlines, as sops's
 * `DecodeNewLines` does.
 */
export function unflattenMetadata(flat: ReadonlyMap<string, string>, file: string): PlainObject {
  // Null-prototype containers: a key named "__proto__" stays a plain key.
  const root = Object.create(null) as Record<string, unknown>;
  for (const [key, rawValue] of flat) {
    const value = rawValue.replaceAll("\\n", "\n");
    const tokens = tokenize(key);
    let node: Mutable = root;
    tokens.forEach((token, index) => {
      const next = tokens[index + 1];
      const slot = "map" in token ? token.map : token.list;
      if (typeof slot === "number" && (!Array.isArray(node) || !Number.isSafeInteger(slot) || slot < 0 || slot > 1000)) {
        throw invalid(file, `the flattened key ${JSON.stringify(key)} has a bad list index`);
      }
      if (typeof slot === "string" && Array.isArray(node)) throw invalid(file, `the flattened key ${JSON.stringify(key)} mixes a list and a map`);
      const container = node as Record<string | number, unknown>;
      if (next === undefined) {
        container[slot] = value;
        return;
      }
      let child = container[slot];
      if (child === undefined) {
        child = "map" in next ? (Object.create(null) as Record<string, unknown>) : [];
        container[slot] = child;
      }
      if (typeof child !== "object" || child === null) throw invalid(file, `the flattened key ${JSON.stringify(key)} conflicts with another key`);
      node = child as Mutable;
    });
  }
  return toPlain(root) as PlainObject;
}

function toPlain(value: unknown): PlainValue {
  if (Array.isArray(value)) return Array.from(value, (item) => (item === undefined ? null : toPlain(item)));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, toPlain(item)]));
  }
  return typeof value === "string" ? value : null;
}
