/**
 * Encrypt or decrypt every value of a tree, computing the MAC on the way
 * (sops `Tree.Encrypt` / `Tree.Decrypt`). The MAC is computed during the walk,
 * not afterwards, because the comment rules see the comments as they are in
 * the input (encrypted when decrypting), exactly as in sops.
 */
import { AegisError } from "../../errors.ts";
import { decryptValue, encryptValue, looksEncrypted, scalarPlaintext } from "./cipher.ts";
import { MacHasher } from "./mac.ts";
import { aadForPath, comment, mapLeaves, shouldBeEncrypted, type CompiledRules, type SopsMap } from "./tree.ts";

export interface DecryptedComment {
  /** The AAD the comment was encrypted with: its enclosing map's path + ":". */
  readonly aad: string;
  readonly text: string;
  /** False for a comment that was written in clear into an encrypted file. */
  readonly encrypted: boolean;
}

export interface EncryptedBranches {
  readonly branches: SopsMap[];
  /** The MAC of the plaintext, uppercase hex (to be stored with `encryptMac`). */
  readonly mac: string;
}

export interface DecryptedBranches {
  readonly branches: SopsMap[];
  /** The MAC recomputed over the decrypted values, uppercase hex. */
  readonly mac: string;
  readonly comments: DecryptedComment[];
}

export function encryptBranches(branches: readonly SopsMap[], dataKey: Uint8Array, rules: CompiledRules): EncryptedBranches {
  const hasher = new MacHasher(rules.macOnlyEncrypted);
  const encrypted = branches.map((branch) =>
    mapLeaves(branch, {
      scalar(leaf, path, comments) {
        const encrypt = shouldBeEncrypted(path, comments, false, rules);
        if (!rules.macOnlyEncrypted || encrypt) hasher.add(scalarPlaintext(leaf));
        return encrypt ? { kind: "str", value: encryptValue(leaf, dataKey, aadForPath(path)) } : leaf;
      },
      comment(leaf, path, comments) {
        return shouldBeEncrypted(path, comments, true, rules) ? comment(encryptValue(leaf, dataKey, aadForPath(path))) : leaf;
      },
    }),
  );
  return { branches: encrypted, mac: hasher.digestHex() };
}

function failure(file: string, aad: string, what: string, err: unknown): AegisError {
  const reason = err instanceof Error ? err.message : String(err);
  return new AegisError(
    "KEY_INVALID",
    `${file}: the ${what} at ${JSON.stringify(aad)} could not be decrypted: ${reason}. The data key is wrong or the file was changed; restore it from a trusted copy.`,
    { cause: err },
  );
}

/**
 * Decrypt a tree read from an encrypted file. Strict where sops is lenient:
 * a value that should be encrypted but is not, or an `ENC[…]` comment that does
 * not authenticate, is refused (sops warns and keeps such a comment). A
 * comment that is not in `ENC[…]` form at all is kept as clear text and
 * reported with `encrypted: false`; comments are not covered by the MAC.
 */
export function decryptBranches(branches: readonly SopsMap[], dataKey: Uint8Array, rules: CompiledRules, file: string): DecryptedBranches {
  const hasher = new MacHasher(rules.macOnlyEncrypted);
  const comments: DecryptedComment[] = [];
  const decrypted = branches.map((branch) =>
    mapLeaves(branch, {
      scalar(leaf, path, stack) {
        const encrypted = shouldBeEncrypted(path, stack, false, rules);
        let value = leaf;
        if (encrypted) {
          const aad = aadForPath(path);
          if (leaf.kind !== "str" || (leaf.value !== "" && !looksEncrypted(leaf.value))) {
            throw new AegisError(
              "KEY_INVALID",
              `${file}: the value at ${JSON.stringify(aad)} is not encrypted although the file's rules say it must be; it was added or changed outside sops. Restore the file from a trusted copy, or re-encrypt it.`,
            );
          }
          let opened;
          try {
            opened = decryptValue(leaf.value, dataKey, aad);
          } catch (err) {
            throw failure(file, aad, "value", err);
          }
          if (opened.kind === "comment") throw failure(file, aad, "value", new Error("it is an encrypted comment, not a value"));
          value = opened;
        }
        if (!rules.macOnlyEncrypted || encrypted) hasher.add(scalarPlaintext(value));
        return value;
      },
      comment(leaf, path, stack) {
        if (!shouldBeEncrypted(path, stack, true, rules)) return leaf;
        const aad = aadForPath(path);
        if (!looksEncrypted(leaf.text)) {
          comments.push({ aad, text: leaf.text, encrypted: false });
          return leaf;
        }
        let opened;
        try {
          opened = decryptValue(leaf.text, dataKey, aad);
        } catch (err) {
          throw failure(file, aad, "comment", err);
        }
        if (opened.kind !== "comment") throw failure(file, aad, "comment", new Error(`it is an encrypted ${opened.kind} value, not a comment`));
        comments.push({ aad, text: opened.text, encrypted: true });
        return opened;
      },
    }),
  );
  return { branches: decrypted, mac: hasher.digestHex(), comments };
}
