/**
 * The SOPS MAC (getsops/sops `sops.go` `Tree.Encrypt`/`Tree.Decrypt`,
 * `cmd/sops/common`): SHA-512 over the plaintext bytes of every non-comment
 * leaf in document order (only the encrypted ones with `mac_only_encrypted`,
 * after seeding the hash with sha256("sops")), written as uppercase hex, and
 * stored encrypted as a `str` whose AAD is the file's `lastmodified`.
 */
import { createHash, timingSafeEqual, type Hash } from "node:crypto";

import { AegisError } from "../../errors.ts";
import { decryptValue, encryptValue } from "./cipher.ts";

export class MacHasher {
  readonly #hash: Hash;

  constructor(macOnlyEncrypted: boolean) {
    this.#hash = createHash("sha512");
    // sops seeds a mac_only_encrypted MAC so it can never equal a full MAC.
    if (macOnlyEncrypted) this.#hash.update(createHash("sha256").update("sops").digest());
  }

  add(plaintext: Uint8Array): void {
    this.#hash.update(plaintext);
  }

  /** Uppercase hex, as sops formats it (`%X`). */
  digestHex(): string {
    return this.#hash.digest("hex").toUpperCase();
  }
}

/**
 * The AAD for the MAC: `lastmodified` formatted as Go's time.RFC3339, which
 * drops fractional seconds.
 */
export function macAad(lastModified: string): string {
  return lastModified.replace(/\.\d+(?=Z|[+-]\d\d:\d\d$)/, "");
}

export function encryptMac(macHex: string, dataKey: Uint8Array, lastModified: string): string {
  return encryptValue({ kind: "str", value: macHex }, dataKey, macAad(lastModified));
}

/** Decrypt the stored MAC; throws KEY_INVALID naming the file when it does not open. */
export function decryptMac(encryptedMac: string, dataKey: Uint8Array, lastModified: string, file: string): string {
  let opened;
  try {
    opened = decryptValue(encryptedMac, dataKey, macAad(lastModified));
  } catch (err) {
    throw new AegisError(
      "KEY_INVALID",
      `${file}: the MAC in the sops metadata does not open (${err instanceof Error ? err.message : String(err)}); the MAC, lastmodified or the data key was changed. Restore the file from a trusted copy.`,
      { cause: err },
    );
  }
  if (opened.kind !== "str") {
    throw new AegisError("KEY_INVALID", `${file}: the MAC in the sops metadata has type ${opened.kind}, not str. Restore the file from a trusted copy.`);
  }
  return opened.value;
}

/** Constant-time comparison of two MAC strings. */
export function macsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, "utf8");
  const right = Buffer.from(b, "utf8");
  if (left.length !== right.length) {
    // Still spend one comparison so the timing does not depend on where they differ.
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}

/** Check a computed MAC against the file's encrypted one; throws KEY_INVALID on mismatch. */
export function verifyMac(computedHex: string, encryptedMac: string | undefined, dataKey: Uint8Array, lastModified: string, file: string): void {
  if (encryptedMac === undefined || encryptedMac === "") {
    throw new AegisError(
      "KEY_INVALID",
      `${file}: the sops metadata has no MAC, so nothing proves the values were not changed. Refusing to use it; re-encrypt the file from a trusted plaintext.`,
    );
  }
  const stored = decryptMac(encryptedMac, dataKey, lastModified, file);
  if (!macsEqual(computedHex, stored)) {
    throw new AegisError(
      "KEY_INVALID",
      `${file}: MAC mismatch: the values, their order or an unencrypted value covered by the MAC were changed after the file was written. Restore the file from a trusted copy.`,
    );
  }
}
