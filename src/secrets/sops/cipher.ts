/**
 * The SOPS value cipher (getsops/sops `aes/cipher.go`):
 *
 *   ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<type>]
 *
 * AES-256-GCM under the file's 32-byte data key with a 32-byte IV and the
 * value's path as AAD; data is the ciphertext, tag the 16-byte GCM tag, all in
 * standard padded base64. `type` says how to read the plaintext back; sops
 * does not authenticate it, so a wrong type can only make parsing fail.
 *
 * Plaintext forms are Go's: ints in decimal (`strconv.Itoa`), floats with
 * `FormatFloat(f, 'f', -1, 64)` (never an exponent), bools "True"/"False".
 * An empty value is stored as "" and not encrypted.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

import { AegisError } from "../../errors.ts";
import type { SopsComment, SopsScalar } from "./tree.ts";

export const SOPS_IV_BYTES = 32;
export const SOPS_TAG_BYTES = 16;
export const SOPS_DATA_KEY_BYTES = 32;

export type SopsValueType = "str" | "int" | "float" | "bool" | "bytes" | "comment";

export interface EncryptedValueParts {
  readonly data: Buffer;
  readonly iv: Buffer;
  readonly tag: Buffer;
  readonly type: string;
}

type NonNullScalar = Exclude<SopsScalar, { kind: "null" }>;

const ENC_PREFIX = "ENC[AES256_GCM,";
const ENC_PATTERN = /^ENC\[AES256_GCM,data:([^,\]]*),iv:([^,\]]*),tag:([^,\]]*),type:([^,\]]*)\]$/;

/** Does this string claim to be a SOPS-encrypted value? (It may still be malformed.) */
export function looksEncrypted(text: string): boolean {
  return text.startsWith(ENC_PREFIX);
}

function valueError(message: string, cause?: unknown): AegisError {
  return new AegisError("KEY_INVALID", message, cause === undefined ? undefined : { cause });
}

/**
 * Strict base64: standard alphabet, padding required, and canonical (the
 * unused low bits of the last character are zero). Node's decoder, like Go's
 * default one, ignores those bits, which would let a changed character pass.
 */
function decodeCanonicalBase64(text: string, field: string): Buffer {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw valueError(`its ${field} is not valid base64`);
  }
  const bytes = Buffer.from(text, "base64");
  if (bytes.toString("base64") !== text) throw valueError(`its ${field} is not canonical base64`);
  return bytes;
}

export function parseEncryptedValue(text: string): EncryptedValueParts {
  const match = ENC_PATTERN.exec(text);
  if (match === null) throw valueError("it does not have the form ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]");
  const [, data = "", iv = "", tag = "", type = ""] = match;
  const parts = { data: decodeCanonicalBase64(data, "data"), iv: decodeCanonicalBase64(iv, "iv"), tag: decodeCanonicalBase64(tag, "tag"), type };
  if (parts.iv.length !== SOPS_IV_BYTES) throw valueError(`its iv is ${parts.iv.length} bytes, not ${SOPS_IV_BYTES}`);
  if (parts.tag.length !== SOPS_TAG_BYTES) throw valueError(`its tag is ${parts.tag.length} bytes, not ${SOPS_TAG_BYTES}`);
  return parts;
}

export function formatEncryptedValue(parts: EncryptedValueParts): string {
  return `ENC[AES256_GCM,data:${parts.data.toString("base64")},iv:${parts.iv.toString("base64")},tag:${parts.tag.toString("base64")},type:${parts.type}]`;
}

function checkKey(dataKey: Uint8Array): void {
  if (dataKey.length !== SOPS_DATA_KEY_BYTES) {
    throw new AegisError("KEY_INVALID", `a SOPS data key is ${SOPS_DATA_KEY_BYTES} bytes; this one is ${dataKey.length}.`);
  }
}

// ---------------------------------------------------------------------------
// Plaintext forms
// ---------------------------------------------------------------------------

/**
 * Go's `strconv.FormatFloat(x, 'f', -1, 64)`: the shortest digits that read
 * back as x (JavaScript's own shortest digits), written without an exponent.
 */
export function formatGoFloat(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "+Inf";
  if (x === -Infinity) return "-Inf";
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const sign = x < 0 ? "-" : "";
  const [mantissa = "", exponentText = "0"] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const exponent = Number(exponentText);
  let body: string;
  if (exponent >= digits.length - 1) body = digits + "0".repeat(exponent - (digits.length - 1));
  else if (exponent >= 0) body = `${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`;
  else body = `0.${"0".repeat(-exponent - 1)}${digits}`;
  return sign + body;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Go's `strconv.Atoi` on a 64-bit platform. */
export function parseGoInt(text: string): bigint | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const value = BigInt(text.startsWith("+") ? text.slice(1) : text);
  return value < INT64_MIN || value > INT64_MAX ? undefined : value;
}

/** Go's `strconv.ParseFloat(s, 64)`, decimal and inf/nan forms (hex floats are refused). */
export function parseGoFloat(text: string): number | undefined {
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(text);
  if (special !== null) {
    if ((special[2] ?? "").toLowerCase() === "nan") return special[1] === "" ? NaN : undefined;
    return special[1] === "-" ? -Infinity : Infinity;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** Go's `strconv.ParseBool`. */
export function parseGoBool(text: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  return undefined;
}

export function isInt64(value: bigint): boolean {
  return value >= INT64_MIN && value <= INT64_MAX;
}

/** The bytes sops hashes into the MAC and encrypts for a value (`sops.ToBytes`). */
export function scalarPlaintext(value: NonNullScalar | SopsComment): Buffer {
  switch (value.kind) {
    case "str":
      return Buffer.from(value.value, "utf8");
    case "int":
      return Buffer.from(value.value.toString(10), "utf8");
    case "float":
      return Buffer.from(formatGoFloat(value.value), "utf8");
    case "bool":
      return Buffer.from(value.value ? "True" : "False", "utf8");
    case "bytes":
      return Buffer.from(value.value);
    case "comment":
      return Buffer.from(value.text, "utf8");
  }
}

function typeOf(value: NonNullScalar | SopsComment): SopsValueType {
  return value.kind;
}

// ---------------------------------------------------------------------------
// Encrypt / decrypt one value
// ---------------------------------------------------------------------------

/**
 * Encrypt one value with its AAD. An empty string, empty bytes or empty comment
 * is returned as "" (sops does not encrypt empty values). `iv` is for tests and
 * for re-encrypting an unchanged value with its old IV; it defaults to random.
 */
export function encryptValue(value: NonNullScalar | SopsComment, dataKey: Uint8Array, aad: string, iv?: Uint8Array): string {
  checkKey(dataKey);
  if (value.kind === "int" && !isInt64(value.value)) {
    throw new AegisError("CONFIG_INVALID", `the integer ${value.value.toString()} is outside the 64-bit range sops can read back. Store it as a string.`);
  }
  const plaintext = scalarPlaintext(value);
  if (plaintext.length === 0 && (value.kind === "str" || value.kind === "bytes" || value.kind === "comment")) return "";
  const nonce = iv === undefined ? randomBytes(SOPS_IV_BYTES) : Buffer.from(iv);
  if (nonce.length !== SOPS_IV_BYTES) throw new AegisError("KEY_INVALID", `a SOPS IV is ${SOPS_IV_BYTES} bytes; this one is ${nonce.length}.`);
  const cipher = createCipheriv("aes-256-gcm", dataKey, nonce, { authTagLength: SOPS_TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return formatEncryptedValue({ data, iv: nonce, tag: cipher.getAuthTag(), type: typeOf(value) });
}

/** Authenticate and decrypt one value; the raw plaintext bytes and the declared type. */
export function openValue(text: string, dataKey: Uint8Array, aad: string): { readonly plaintext: Buffer; readonly type: string } {
  checkKey(dataKey);
  const parts = parseEncryptedValue(text);
  const decipher = createDecipheriv("aes-256-gcm", dataKey, parts.iv, { authTagLength: SOPS_TAG_BYTES });
  decipher.setAAD(Buffer.from(aad, "utf8"));
  decipher.setAuthTag(parts.tag);
  try {
    return { plaintext: Buffer.concat([decipher.update(parts.data), decipher.final()]), type: parts.type };
  } catch (err) {
    throw valueError("AES-GCM authentication failed (wrong data key, a value moved to another key, or a changed byte)", err);
  }
}

/**
 * Decrypt one value into its typed form. "" decrypts to the empty string, as
 * in sops. The plaintext must parse as its declared type.
 */
export function decryptValue(text: string, dataKey: Uint8Array, aad: string): NonNullScalar | SopsComment {
  if (text === "") return { kind: "str", value: "" };
  const { plaintext, type } = openValue(text, dataKey, aad);
  const asText = plaintext.toString("utf8");
  switch (type) {
    case "str":
      return { kind: "str", value: asText };
    case "comment":
      return { kind: "comment", text: asText };
    case "bytes":
      return { kind: "bytes", value: new Uint8Array(plaintext) };
    case "int":
    case "int64": {
      const value = parseGoInt(asText);
      if (value === undefined) throw valueError(`its plaintext is not an integer although its type is ${type}`);
      return { kind: "int", value };
    }
    case "float": {
      const value = parseGoFloat(asText);
      if (value === undefined) throw valueError("its plaintext is not a float although its type is float");
      return { kind: "float", value };
    }
    case "bool": {
      const value = parseGoBool(asText);
      if (value === undefined) throw valueError("its plaintext is not a boolean although its type is bool");
      return { kind: "bool", value };
    }
    default:
      throw valueError(`its type ${JSON.stringify(type)} is not one sops writes (str, int, float, bool, bytes, comment)`);
  }
}
