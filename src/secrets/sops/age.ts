/**
 * Wrapping the data key for age recipients (getsops/sops `age/keysource.go`):
 * each recipient gets its own age file of the raw 32-byte data key, stored
 * ASCII-armored in the metadata's `age[].enc`. All age work is done by
 * `age-encryption` (typage, the reference TypeScript implementation).
 */
import { Decrypter, Encrypter, armor, identityToRecipient } from "age-encryption";

import { AegisError } from "../../errors.ts";
import { SOPS_DATA_KEY_BYTES } from "./cipher.ts";
import type { SopsAgeKey, SopsMetadata } from "./metadata.ts";

/**
 * The identities in an age identity file (`age-keygen` output, sops's
 * `keys.txt`, `SOPS_AGE_KEY`): every `AGE-SECRET-KEY-1…` line; comments and
 * blank lines are skipped.
 */
export function parseAgeIdentities(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.startsWith("AGE-SECRET-KEY-"));
}

/** The recipient (`age1…`) of an identity. */
export async function ageRecipientOf(identity: string): Promise<string> {
  try {
    return await identityToRecipient(identity);
  } catch (err) {
    throw new AegisError("KEY_INVALID", "the age identity is malformed; it should be one AGE-SECRET-KEY-1… line as written by age-keygen.", { cause: err });
  }
}

/** Encrypt the data key to each recipient, one armored age file per recipient (as sops does). */
export async function wrapDataKey(dataKey: Uint8Array, recipients: readonly string[]): Promise<SopsAgeKey[]> {
  if (dataKey.length !== SOPS_DATA_KEY_BYTES) throw new AegisError("KEY_INVALID", `a SOPS data key is ${SOPS_DATA_KEY_BYTES} bytes; this one is ${dataKey.length}.`);
  if (recipients.length === 0) throw new AegisError("CONFIG_INVALID", "a SOPS file needs at least one age recipient (age1…) to wrap its data key for.");
  const wrapped: SopsAgeKey[] = [];
  for (const recipient of recipients) {
    const encrypter = new Encrypter();
    try {
      encrypter.addRecipient(recipient);
    } catch (err) {
      throw new AegisError("KEY_INVALID", `${JSON.stringify(recipient)} is not an age recipient aegisclaw can encrypt to; use an age1… public key (as printed by age-keygen -y).`, { cause: err });
    }
    wrapped.push({ recipient, enc: armor.encode(await encrypter.encrypt(dataKey)) });
  }
  return wrapped;
}

/**
 * Recover the data key from the metadata's age entries with any of the given
 * identities. Throws KEY_INVALID naming the file when none opens it.
 */
export async function unwrapDataKey(metadata: SopsMetadata, ageIdentities: readonly string[], file = "the SOPS file"): Promise<Buffer> {
  if (metadata.keyGroups !== undefined && metadata.keyGroups.length > 1) {
    throw new AegisError(
      "KEY_INVALID",
      `${file}: its data key is split across ${metadata.keyGroups.length} key groups (Shamir, threshold ${String(metadata.shamirThreshold ?? metadata.keyGroups.length)}), which aegisclaw cannot combine. Re-encrypt it with sops to plain age recipients (one key group).`,
    );
  }
  const entries = metadata.keyGroups?.[0]?.age ?? metadata.age;
  if (entries.length === 0) {
    const others = [...(metadata.pgp.length > 0 ? ["pgp"] : []), ...metadata.otherKeySources];
    throw new AegisError(
      "KEY_INVALID",
      `${file}: its data key is not wrapped for any age recipient${others.length > 0 ? ` (only for ${others.join(", ")})` : ""}. Add an age recipient with sops (sops updatekeys) or pass the data key directly.`,
    );
  }
  if (ageIdentities.length === 0) throw new AegisError("KEY_INVALID", `${file}: no age identity was given to unwrap its data key. Pass the identity it was encrypted to.`);
  const decrypter = new Decrypter();
  for (const identity of ageIdentities) {
    try {
      decrypter.addIdentity(identity);
    } catch (err) {
      throw new AegisError("KEY_INVALID", "an age identity is malformed; it should be one AGE-SECRET-KEY-1… line as written by age-keygen.", { cause: err });
    }
  }
  const failures: string[] = [];
  for (const key of entries) {
    let wrapped: Uint8Array;
    try {
      wrapped = armor.decode(key.enc);
    } catch (err) {
      failures.push(`${key.recipient}: not an armored age file (${err instanceof Error ? err.message : String(err)})`);
      continue;
    }
    let dataKey: Uint8Array;
    try {
      dataKey = await decrypter.decrypt(wrapped);
    } catch (err) {
      failures.push(`${key.recipient}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    if (dataKey.length !== SOPS_DATA_KEY_BYTES) {
      failures.push(`${key.recipient}: the unwrapped data key is ${dataKey.length} bytes, not ${SOPS_DATA_KEY_BYTES}`);
      continue;
    }
    return Buffer.from(dataKey);
  }
  throw new AegisError(
    "KEY_INVALID",
    `${file}: none of the ${ageIdentities.length} age identit${ageIdentities.length === 1 ? "y" : "ies"} given opens its data key (recipients: ${entries.map((key) => key.recipient).join(", ")}). Use the identity the file was encrypted to. Details: ${failures.join("; ")}`,
  );
}
