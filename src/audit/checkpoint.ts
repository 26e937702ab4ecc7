/**
 * Signed checkpoints: an Ed25519 signature over (tree size, Merkle root, time,
 * previous checkpoint size). They turn the hash chain from "internally
 * consistent" into "the same log the key holder saw": a rewritten history or a
 * truncated tail no longer matches a signed root. Chaining each checkpoint to
 * the previous one makes a deleted intermediate checkpoint visible too.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, hash, sign, verify, type KeyObject } from "node:crypto";
import { AegisError } from "../errors.ts";

export interface Checkpoint {
  readonly treeSize: number;
  /** Hex RFC 6962 root over the first `treeSize` entries. */
  readonly rootHash: string;
  readonly ts: string;
  /** Tree size of the checkpoint before this one (0 for the first). */
  readonly prevSize: number;
  readonly keyId: string;
  /** Base64 Ed25519 signature over `checkpointMessage`. */
  readonly signature: string;
}

export function checkpointMessage(c: Pick<Checkpoint, "treeSize" | "rootHash" | "ts" | "prevSize">): Buffer {
  return Buffer.from(`aegisclaw.audit.checkpoint.v1\n${c.treeSize}\n${c.rootHash}\n${c.ts}\n${c.prevSize}\n`, "utf8");
}

export interface CheckpointSigner {
  readonly keyId: string;
  readonly publicKeyPem: string;
  sign(c: Pick<Checkpoint, "treeSize" | "rootHash" | "ts" | "prevSize">): Checkpoint;
}

/** Key id: the first 16 hex digits of SHA-256 over the SubjectPublicKeyInfo DER. */
export function keyIdOf(publicKey: KeyObject): string {
  return hash("sha256", publicKey.export({ type: "spki", format: "der" }), "hex").slice(0, 16);
}

export function generateCheckpointKey(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

export function createCheckpointSigner(privateKeyPem: string, where = "the checkpoint key"): CheckpointSigner {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(privateKeyPem);
  } catch (err) {
    throw new AegisError("KEY_INVALID", `${where} is not a readable PEM private key. Restore it from backup; without it new checkpoints cannot be signed.`, { cause: err });
  }
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw new AegisError("KEY_INVALID", `${where} is a ${privateKey.asymmetricKeyType ?? "unknown"} key; audit checkpoints need an Ed25519 key.`);
  }
  const publicKey = createPublicKey(privateKey);
  const keyId = keyIdOf(publicKey);
  return {
    keyId,
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    sign(c) {
      const signature = sign(null, checkpointMessage(c), privateKey).toString("base64");
      return { ...c, keyId, signature };
    },
  };
}

export function parsePublicKey(publicKeyPem: string, where = "the checkpoint public key"): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(publicKeyPem);
  } catch (err) {
    throw new AegisError("KEY_INVALID", `${where} is not a readable PEM public key.`, { cause: err });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new AegisError("KEY_INVALID", `${where} is a ${key.asymmetricKeyType ?? "unknown"} key; audit checkpoints use Ed25519.`);
  }
  return key;
}

export function verifyCheckpointSignature(c: Checkpoint, publicKey: KeyObject): boolean {
  try {
    // Node's base64 decoder is lenient (it skips stray characters and ignores the unused bits of the last digit),
    // so many different strings decode to the same signature. Accept only the canonical encoding, so that any
    // change to the stored text is detected, not just changes that survive decoding.
    const signature = Buffer.from(c.signature, "base64");
    if (signature.length !== 64 || signature.toString("base64") !== c.signature) return false;
    return verify(null, checkpointMessage(c), publicKey, signature);
  } catch {
    return false;
  }
}
