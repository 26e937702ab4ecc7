/**
 * RFC 6962 (Certificate Transparency) Merkle tree hashing, section 2.1, with the
 * proof verification algorithms of RFC 9162 section 2.1.3.2 and 2.1.4.2.
 *
 * Performance note: `crypto.hash(..., 'buffer')` is several times slower than
 * asking for a 'latin1' string (the Buffer result costs a fresh ArrayBuffer with
 * an external backing store per call), so digests are taken as latin1 strings
 * and written back into reusable scratch buffers. latin1 maps bytes 0..255 to
 * code points 0..255 one to one, so the round trip is lossless. The scratch
 * buffers are safe to share because `crypto.hash` is synchronous and copies its
 * input before returning.
 */
import { hash, timingSafeEqual } from "node:crypto";

/** Bytes in a SHA-256 digest; every leaf hash, node hash and root has this size. */
export const HASH_SIZE = 32;

/** Past this an entry is hashed from a one-off buffer, so the shared scratch stays small. */
const LEAF_SCRATCH_MAX = 64 * 1024;
/** A safe integer has at most 53 bits, so a compact range never holds more nodes. */
const MAX_LEVELS = 53;
/** Offset of the stored subtree hashes in a CompactRange's buffer, just past the 0x01||left||right slot. */
const NODES_AT = 1 + 2 * HASH_SIZE;

let leafScratch = Buffer.alloc(1024);
const nodeScratch = Buffer.alloc(NODES_AT);
nodeScratch[0] = 0x01;

function sha256Latin1(data: Uint8Array): string {
  // "binary" is Node's alias for latin1, and the spelling @types/node accepts here.
  return hash("sha256", data, "binary");
}

function fromLatin1(digest: string): Buffer {
  return Buffer.from(digest, "latin1");
}

/** Leaf hash of an entry: the 0x00 prefix keeps a leaf from ever being mistaken for an interior node. */
export function leafHash(data: Uint8Array): Buffer {
  const n = data.length + 1;
  if (n > LEAF_SCRATCH_MAX) {
    const buf = Buffer.allocUnsafe(n);
    buf[0] = 0x00;
    buf.set(data, 1);
    return fromLatin1(sha256Latin1(buf));
  }
  if (n > leafScratch.length) leafScratch = Buffer.alloc(Math.min(LEAF_SCRATCH_MAX, Math.max(n, leafScratch.length * 2)));
  leafScratch[0] = 0x00;
  leafScratch.set(data, 1);
  return fromLatin1(sha256Latin1(leafScratch.subarray(0, n)));
}

/** Interior node hash: the 0x01 prefix gives second-preimage resistance against leaf/node confusion. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length === HASH_SIZE && right.length === HASH_SIZE) {
    nodeScratch.set(left, 1);
    nodeScratch.set(right, 1 + HASH_SIZE);
    return fromLatin1(sha256Latin1(nodeScratch));
  }
  // Only odd-sized inputs land here; the RFC defines the hash for any byte strings.
  return fromLatin1(sha256Latin1(Buffer.concat([nodeScratch.subarray(0, 1), left, right])));
}

/** Root of the empty tree (RFC 6962: MTH({}) = SHA-256()); treat as read-only, functions hand out copies. */
export const EMPTY_ROOT: Buffer = hash("sha256", new Uint8Array(0), "buffer");

/** Largest power of two strictly below n (n >= 2): where RFC 6962 splits a tree of n leaves. */
function splitPoint(n: number): number {
  // Only proof generation uses this, over a JS array, whose length (< 2^32) keeps clz32 exact.
  return 2 ** (31 - Math.clz32(n - 1));
}

/**
 * Incremental tree: O(log n) memory; root() at any size equals merkleRoot of the leaves pushed so far.
 *
 * It keeps the roots of the perfect subtrees that the binary digits of `size`
 * describe, largest (leftmost) first. One buffer holds the 0x01||left||right
 * hashing slot followed by those roots, so merging moves bytes with copyWithin
 * and allocates nothing but the digest string.
 */
export class CompactRange {
  #size = 0;
  #count = 0;
  readonly #buf: Buffer;
  readonly #input: Buffer;

  /** Starts an empty range (size 0, root EMPTY_ROOT). */
  constructor() {
    this.#buf = Buffer.alloc(NODES_AT + MAX_LEVELS * HASH_SIZE);
    this.#buf[0] = 0x01;
    this.#input = this.#buf.subarray(0, NODES_AT);
  }

  /** Number of leaves pushed so far. */
  get size(): number {
    return this.#size;
  }

  /** Appends one leaf hash (a 32-byte leafHash output, not raw entry data); throws RangeError on a wrong size. */
  push(leafHash: Uint8Array): void {
    if (!(leafHash instanceof Uint8Array) || leafHash.length !== HASH_SIZE) {
      throw new RangeError(`CompactRange.push: a leaf hash is ${HASH_SIZE} bytes`);
    }
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw new RangeError("CompactRange.push: tree is full");
    const buf = this.#buf;
    let top = this.#count;
    // Every trailing 1 bit of the old size is a completed subtree of the new leaf's size to merge with.
    // `& 1` is exact for any safe integer: ToInt32 keeps the low bits.
    let s = this.#size;
    if ((s & 1) === 0) {
      buf.set(leafHash, NODES_AT + top * HASH_SIZE);
    } else {
      buf.set(leafHash, 1 + HASH_SIZE);
      while ((s & 1) === 1) {
        top--;
        const at = NODES_AT + top * HASH_SIZE;
        buf.copyWithin(1, at, at + HASH_SIZE);
        buf.write(sha256Latin1(this.#input), 1 + HASH_SIZE, HASH_SIZE, "latin1");
        s = (s - 1) / 2;
      }
      buf.copyWithin(NODES_AT + top * HASH_SIZE, 1 + HASH_SIZE, NODES_AT);
    }
    this.#count = top + 1;
    this.#size++;
  }

  /** Tree head over all leaves pushed so far; folds the subtree roots right to left as MTH does. */
  root(): Buffer {
    const count = this.#count;
    const buf = this.#buf;
    if (count === 0) return Buffer.from(EMPTY_ROOT);
    const last = NODES_AT + (count - 1) * HASH_SIZE;
    if (count === 1) return Buffer.from(buf.subarray(last, last + HASH_SIZE));
    // Work in a copy of the hashing slot so root() leaves the range untouched even mid-fold.
    nodeScratch.set(buf.subarray(last, last + HASH_SIZE), 1 + HASH_SIZE);
    let digest = "";
    for (let i = count - 2; i >= 0; i--) {
      const at = NODES_AT + i * HASH_SIZE;
      nodeScratch.set(buf.subarray(at, at + HASH_SIZE), 1);
      digest = sha256Latin1(nodeScratch);
      if (i > 0) nodeScratch.write(digest, 1 + HASH_SIZE, HASH_SIZE, "latin1");
    }
    return fromLatin1(digest);
  }

  /** Independent copy, so a verifier can checkpoint a size and keep appending. */
  clone(): CompactRange {
    const copy = new CompactRange();
    this.#buf.copy(copy.#buf, NODES_AT, NODES_AT, NODES_AT + this.#count * HASH_SIZE);
    copy.#size = this.#size;
    copy.#count = this.#count;
    return copy;
  }
}

/** Tree head (RFC 6962 MTH) over entries that are already leaf-hashed; throws RangeError on a wrong-size hash. */
export function merkleRoot(leafHashes: readonly Uint8Array[]): Buffer {
  return rangeRoot(leafHashes, 0, leafHashes.length);
}

function rangeRoot(leafHashes: readonly Uint8Array[], lo: number, hi: number): Buffer {
  const range = new CompactRange();
  for (let i = lo; i < hi; i++) range.push(leafHashes[i] as Uint8Array);
  return range.root();
}

/** Audit path (RFC 6962 PATH(m, D[n])) for leaf `index`, deepest sibling first; throws RangeError on a bad index. */
export function inclusionProof(index: number, leafHashes: readonly Uint8Array[]): Buffer[] {
  const n = leafHashes.length;
  if (!Number.isSafeInteger(index) || index < 0 || index >= n) {
    throw new RangeError(`inclusionProof: index ${String(index)} is outside a tree of ${n} leaves`);
  }
  // Walk the recursion top-down; the RFC appends each level's sibling after the deeper path, hence the reverse.
  const proof: Buffer[] = [];
  let lo = 0;
  let hi = n;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      proof.push(rangeRoot(leafHashes, lo + k, hi));
      hi = lo + k;
    } else {
      proof.push(rangeRoot(leafHashes, lo, lo + k));
      lo += k;
    }
  }
  return proof.reverse();
}

/** Consistency proof (RFC 6962 PROOF(m, D[n])) from the tree's first oldSize leaves to all of them; throws RangeError unless 0 < oldSize <= n. */
export function consistencyProof(oldSize: number, leafHashes: readonly Uint8Array[]): Buffer[] {
  const n = leafHashes.length;
  if (!Number.isSafeInteger(oldSize) || oldSize < 1 || oldSize > n) {
    throw new RangeError(`consistencyProof: old size ${String(oldSize)} must be in 1..${n}`);
  }
  // SUBPROOF walked top-down (reversed at the end, as for PATH); `m` is relative to [lo, hi).
  const proof: Buffer[] = [];
  let m = oldSize;
  let lo = 0;
  let hi = n;
  let whole = true; // RFC's `b`: the old tree is exactly this subtree, so the verifier already has its hash.
  for (;;) {
    if (m === hi - lo) {
      if (!whole) proof.push(rangeRoot(leafHashes, lo, hi));
      break;
    }
    const k = splitPoint(hi - lo);
    if (m <= k) {
      proof.push(rangeRoot(leafHashes, lo + k, hi));
      hi = lo + k;
    } else {
      proof.push(rangeRoot(leafHashes, lo, lo + k));
      m -= k;
      lo += k;
      whole = false;
    }
  }
  return proof.reverse();
}

function isHash(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array && x.length === HASH_SIZE;
}

function isCount(x: unknown): x is number {
  return Number.isSafeInteger(x) && (x as number) >= 0;
}

/** Constant time so a verifier's answer leaks nothing about how close a forged root came. */
function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Checks an audit path (RFC 9162 2.1.3.2); false, never an exception, on any malformed input. */
export function verifyInclusion(
  index: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isCount(treeSize) || treeSize < 1 || !isCount(index) || index >= treeSize) return false;
  if (!isHash(leafHash) || !isHash(root) || !Array.isArray(proof)) return false;
  // Division rather than bit shifts: sizes may exceed 32 bits.
  let fn = index;
  let sn = treeSize - 1;
  let r: Uint8Array = leafHash;
  for (const p of proof) {
    if (!isHash(p) || sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn /= 2;
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && sameHash(r, root);
}

/** Checks that the tree of oldSize leaves is a prefix of the tree of newSize (RFC 9162 2.1.4.2); false, never an exception, on any malformed input. */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  // oldSize 0 is rejected: consistencyProof never produces such a proof, so accepting one would only hide a caller bug.
  if (!isCount(oldSize) || !isCount(newSize) || oldSize < 1 || oldSize > newSize) return false;
  if (!isHash(oldRoot) || !isHash(newRoot) || !Array.isArray(proof)) return false;
  if (oldSize === newSize) return proof.length === 0 && sameHash(oldRoot, newRoot);
  if (proof.length === 0) return false;
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  // A power-of-two old tree is a complete subtree of the new one, so its root starts the path instead of proof[0].
  let i = 0;
  let first: unknown = oldRoot;
  if (fn !== 0) {
    first = proof[0];
    i = 1;
  }
  if (!isHash(first)) return false;
  let fr: Uint8Array = first;
  let sr: Uint8Array = first;
  for (; i < proof.length; i++) {
    const c: unknown = proof[i];
    if (!isHash(c) || sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn /= 2;
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && sameHash(fr, oldRoot) && sameHash(sr, newRoot);
}
