import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

import {
  CompactRange,
  EMPTY_ROOT,
  HASH_SIZE,
  consistencyProof,
  inclusionProof,
  leafHash,
  merkleRoot,
  nodeHash,
  verifyConsistency,
  verifyInclusion,
} from "../../src/audit/merkle.ts";

// ---------------------------------------------------------------------------
// Independent reference, straight from the recursive definitions in RFC 6962
// section 2.1 (slices and recursion, createHash rather than the module's hashing).
// ---------------------------------------------------------------------------

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}
const refLeaf = (d: Uint8Array): Buffer => sha256(Uint8Array.of(0), d);
const refNode = (l: Uint8Array, r: Uint8Array): Buffer => sha256(Uint8Array.of(1), l, r);

/** Largest power of two strictly less than n, by doubling (no bit tricks to share bugs with). */
function refSplit(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) over already leaf-hashed entries. */
function refMTH(d: readonly Uint8Array[]): Buffer {
  if (d.length === 0) return sha256();
  if (d.length === 1) return Buffer.from(d[0] as Uint8Array);
  const k = refSplit(d.length);
  return refNode(refMTH(d.slice(0, k)), refMTH(d.slice(k)));
}

/** PATH(m, D[n]). */
function refPATH(m: number, d: readonly Uint8Array[]): Buffer[] {
  if (d.length === 1) return [];
  const k = refSplit(d.length);
  if (m < k) return [...refPATH(m, d.slice(0, k)), refMTH(d.slice(k))];
  return [...refPATH(m - k, d.slice(k)), refMTH(d.slice(0, k))];
}

/** PROOF(m, D[n]) = SUBPROOF(m, D[n], true). */
function refPROOF(m: number, d: readonly Uint8Array[]): Buffer[] {
  const sub = (mm: number, dd: readonly Uint8Array[], b: boolean): Buffer[] => {
    if (mm === dd.length) return b ? [] : [refMTH(dd)];
    const k = refSplit(dd.length);
    if (mm <= k) return [...sub(mm, dd.slice(0, k), b), refMTH(dd.slice(k))];
    return [...sub(mm - k, dd.slice(k), false), refMTH(dd.slice(0, k))];
  };
  return sub(m, d, true);
}

/**
 * Root implied by an audit path, by undoing PATH's recursion (its last element is
 * the top-level sibling); null when the path has the wrong length for (m, n).
 */
function refRootFromPath(m: number, n: number, leaf: Uint8Array, proof: readonly Uint8Array[]): Buffer | null {
  if (n === 1) return proof.length === 0 ? Buffer.from(leaf) : null;
  if (proof.length === 0) return null;
  const k = refSplit(n);
  const sibling = proof[proof.length - 1] as Uint8Array;
  const rest = proof.slice(0, -1);
  if (m < k) {
    const left = refRootFromPath(m, k, leaf, rest);
    return left && refNode(left, sibling);
  }
  const right = refRootFromPath(m - k, n - k, leaf, rest);
  return right && refNode(sibling, right);
}

function refVerifyInclusion(m: number, n: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!(n >= 1 && m >= 0 && m < n)) return false;
  const r = refRootFromPath(m, n, leaf, proof);
  return r !== null && r.equals(root);
}

/** (old root, new root) implied by a consistency proof, by undoing SUBPROOF's recursion; null on a wrong length. */
function refRootsFromConsistency(
  m: number,
  n: number,
  oldRoot: Uint8Array,
  proof: readonly Uint8Array[],
): [Buffer, Buffer] | null {
  const sub = (mm: number, nn: number, b: boolean, p: readonly Uint8Array[]): [Buffer, Buffer] | null => {
    if (mm === nn) {
      if (b) return p.length === 0 ? [Buffer.from(oldRoot), Buffer.from(oldRoot)] : null;
      return p.length === 1 ? [Buffer.from(p[0] as Uint8Array), Buffer.from(p[0] as Uint8Array)] : null;
    }
    if (p.length === 0) return null;
    const k = refSplit(nn);
    const x = p[p.length - 1] as Uint8Array;
    const rest = p.slice(0, -1);
    if (mm <= k) {
      const r = sub(mm, k, b, rest);
      return r && [r[0], refNode(r[1], x)];
    }
    const r = sub(mm - k, nn - k, false, rest);
    return r && [refNode(x, r[0]), refNode(x, r[1])];
  };
  return sub(m, n, true, proof);
}

function refVerifyConsistency(m: number, n: number, oldRoot: Uint8Array, newRoot: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!(m >= 1 && m <= n)) return false;
  const r = refRootsFromConsistency(m, n, oldRoot, proof);
  return r !== null && r[0].equals(oldRoot) && r[1].equals(newRoot);
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const unhex = (s: string): Buffer => Buffer.from(s, "hex");
const hexes = (bs: readonly Uint8Array[]): string[] => bs.map(hex);

/** mulberry32: small deterministic PRNG so property tests are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

function randomLeafHashes(seed: number, n: number): Buffer[] {
  const rand = prng(seed);
  return Array.from({ length: n }, () => refLeaf(randomBytes(rand, Math.floor(rand() * 40))));
}

function flipBit(b: Uint8Array, bit = 3): Buffer {
  const c = Buffer.from(b);
  c[0] = (c[0] as number) ^ (1 << bit);
  return c;
}

function withFlipped(proof: readonly Uint8Array[], i: number): Buffer[] {
  return proof.map((p, j) => (j === i ? flipBit(p) : Buffer.from(p)));
}

const MAX_SIZE = 70;
const LEAVES = randomLeafHashes(6962, MAX_SIZE + 2);
/** Roots of every prefix, from the reference. */
const ROOTS = Array.from({ length: MAX_SIZE + 3 }, (_, n) => refMTH(LEAVES.slice(0, n)));

// ---------------------------------------------------------------------------
// Known answers: the RFC 6962 test tree shared by the Certificate Transparency
// implementations (published with the CT C++ log and transparency-dev/merkle).
// ---------------------------------------------------------------------------

const CT_INPUTS = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
].map(unhex);

const CT_EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** CT_ROOTS[n - 1] is the root of the first n leaves. */
const CT_ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/** Published audit paths; `index` is 0-based here (the published tables count leaves from 1). */
const CT_INCLUSION = [
  {
    index: 0,
    size: 8,
    proof: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  { index: 2, size: 3, proof: ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"] },
  {
    index: 1,
    size: 5,
    proof: [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
  { index: 0, size: 1, proof: [] },
];

const CT_CONSISTENCY = [
  { oldSize: 1, newSize: 1, proof: [] },
  {
    oldSize: 1,
    newSize: 8,
    proof: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    oldSize: 6,
    newSize: 8,
    proof: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  {
    oldSize: 2,
    newSize: 5,
    proof: [
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
  {
    oldSize: 6,
    newSize: 7,
    proof: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
];

describe("RFC 6962 known answers (Certificate Transparency test tree)", () => {
  const ctLeaves = CT_INPUTS.map(leafHash);

  test("the empty tree's root is SHA-256 of the empty string", () => {
    assert.equal(hex(EMPTY_ROOT), CT_EMPTY_ROOT);
    assert.equal(hex(merkleRoot([])), CT_EMPTY_ROOT);
    assert.equal(hex(new CompactRange().root()), CT_EMPTY_ROOT);
    assert.equal(HASH_SIZE, 32);
  });

  test("merkleRoot matches the published root for every size 1..8", () => {
    for (let n = 1; n <= 8; n++) assert.equal(hex(merkleRoot(ctLeaves.slice(0, n))), CT_ROOTS[n - 1], `size ${n}`);
  });

  test("CompactRange matches the published root after each push", () => {
    const range = new CompactRange();
    for (let n = 1; n <= 8; n++) {
      range.push(ctLeaves[n - 1] as Buffer);
      assert.equal(range.size, n);
      assert.equal(hex(range.root()), CT_ROOTS[n - 1], `size ${n}`);
    }
  });

  test("the leaf hash of the empty entry is the published one-leaf root", () => {
    assert.equal(hex(leafHash(new Uint8Array(0))), CT_ROOTS[0]);
  });

  for (const v of CT_INCLUSION) {
    test(`inclusionProof reproduces and verifies the published path for leaf ${v.index} of ${v.size}`, () => {
      const leaves = ctLeaves.slice(0, v.size);
      assert.deepEqual(hexes(inclusionProof(v.index, leaves)), v.proof);
      const root = unhex(CT_ROOTS[v.size - 1] as string);
      assert.equal(verifyInclusion(v.index, v.size, ctLeaves[v.index] as Buffer, v.proof.map(unhex), root), true);
      // The Go reference's corruptions of a published path: index, size, leaf, root, garbage.
      const proof = v.proof.map(unhex);
      const leaf = ctLeaves[v.index] as Buffer;
      assert.equal(verifyInclusion(v.index - 1, v.size, leaf, proof, root), false);
      assert.equal(verifyInclusion(v.index + 1, v.size, leaf, proof, root), false);
      assert.equal(verifyInclusion(v.index ^ 2, v.size, leaf, proof, root), false);
      assert.equal(verifyInclusion(v.index, v.size * 2, leaf, proof, root), false);
      assert.equal(verifyInclusion(v.index, Math.floor(v.size / 2), leaf, proof, root), false);
      assert.equal(verifyInclusion(v.index, v.size, leafHash(Buffer.from("WrongLeaf")), proof, root), false);
      assert.equal(verifyInclusion(v.index, v.size, leaf, proof, EMPTY_ROOT), false);
      assert.equal(verifyInclusion(v.index, v.size, leaf, [...proof, root], root), false);
      assert.equal(verifyInclusion(v.index, v.size, leaf, [root, ...proof], root), false);
    });
  }

  for (const v of CT_CONSISTENCY) {
    test(`consistencyProof reproduces and verifies the published proof from ${v.oldSize} to ${v.newSize}`, () => {
      assert.deepEqual(hexes(consistencyProof(v.oldSize, ctLeaves.slice(0, v.newSize))), v.proof);
      const oldRoot = unhex(CT_ROOTS[v.oldSize - 1] as string);
      const newRoot = unhex(CT_ROOTS[v.newSize - 1] as string);
      const proof = v.proof.map(unhex);
      assert.equal(verifyConsistency(v.oldSize, v.newSize, oldRoot, newRoot, proof), true);
      if (proof.length === 0) return;
      assert.equal(verifyConsistency(v.oldSize, v.newSize, newRoot, oldRoot, proof), false);
      assert.equal(verifyConsistency(v.oldSize, v.newSize * 2, oldRoot, newRoot, proof), false);
      assert.equal(verifyConsistency(v.oldSize, Math.floor(v.newSize / 2), oldRoot, newRoot, proof), false);
      assert.equal(verifyConsistency(v.oldSize + 1, v.newSize, oldRoot, newRoot, proof), false);
      assert.equal(verifyConsistency(v.oldSize ^ 2, v.newSize, oldRoot, newRoot, proof), false);
      assert.equal(verifyConsistency(v.oldSize, v.newSize, oldRoot, newRoot, []), false);
      assert.equal(verifyConsistency(v.oldSize, v.newSize, oldRoot, newRoot, [proof[0] as Buffer, ...proof]), false);
    });
  }
});

// ---------------------------------------------------------------------------
// Hash primitives
// ---------------------------------------------------------------------------

describe("hash primitives", () => {
  test("leafHash is SHA-256(0x00 || data) for sizes around every internal buffer boundary", () => {
    const rand = prng(1);
    for (const n of [0, 1, 31, 32, 33, 1022, 1023, 1024, 2047, 2048, 5000, 65534, 65535, 65536, 70000, 200000]) {
      const data = randomBytes(rand, n);
      assert.equal(hex(leafHash(data)), hex(refLeaf(data)), `length ${n}`);
    }
  });

  test("leafHash hashes only the bytes a view covers, not its whole backing buffer", () => {
    const backing = randomBytes(prng(2), 100);
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 10, 20);
    assert.equal(hex(leafHash(view)), hex(refLeaf(view)));
  });

  test("returned hashes are independent: later calls do not change earlier results", () => {
    const a = leafHash(Buffer.from("a"));
    const aHex = hex(a);
    const n = nodeHash(a, a);
    const nHex = hex(n);
    for (let i = 0; i < 1000; i++) {
      leafHash(Buffer.from(`x${i}`));
      nodeHash(n, a);
    }
    assert.equal(hex(a), aHex);
    assert.equal(hex(n), nHex);
    const r = merkleRoot([]);
    r.fill(0);
    assert.equal(hex(EMPTY_ROOT), CT_EMPTY_ROOT);
  });

  test("nodeHash is SHA-256(0x01 || left || right), for 32-byte and other-sized inputs", () => {
    const rand = prng(3);
    for (const [l, r] of [
      [32, 32],
      [0, 0],
      [31, 32],
      [32, 33],
      [5, 100],
    ] as const) {
      const left = randomBytes(rand, l);
      const right = randomBytes(rand, r);
      assert.equal(hex(nodeHash(left, right)), hex(refNode(left, right)), `${l}+${r}`);
    }
  });

  test("the leaf and node prefixes keep a leaf from colliding with the node over the same bytes", () => {
    const l = leafHash(Buffer.from("l"));
    const r = leafHash(Buffer.from("r"));
    assert.notEqual(hex(leafHash(Buffer.concat([l, r]))), hex(nodeHash(l, r)));
  });
});

// ---------------------------------------------------------------------------
// Properties over every tree size 1..70
// ---------------------------------------------------------------------------

describe("trees of every size 1..70", () => {
  test("merkleRoot equals the recursive RFC definition", () => {
    for (let n = 0; n <= MAX_SIZE; n++) assert.equal(hex(merkleRoot(LEAVES.slice(0, n))), hex(ROOTS[n] as Buffer), `size ${n}`);
  });

  test("CompactRange.root equals merkleRoot at every size, and reading the root does not disturb the range", () => {
    const range = new CompactRange();
    assert.equal(range.size, 0);
    for (let n = 1; n <= MAX_SIZE; n++) {
      range.push(LEAVES[n - 1] as Buffer);
      assert.equal(range.size, n);
      assert.equal(hex(range.root()), hex(ROOTS[n] as Buffer), `size ${n}`);
      assert.equal(hex(range.root()), hex(ROOTS[n] as Buffer), `size ${n}, second read`);
    }
  });

  test("a CompactRange clone evolves independently of its original", () => {
    const range = new CompactRange();
    for (let n = 0; n < 37; n++) range.push(LEAVES[n] as Buffer);
    const copy = range.clone();
    assert.equal(copy.size, 37);
    assert.equal(hex(copy.root()), hex(ROOTS[37] as Buffer));
    for (let n = 37; n < MAX_SIZE; n++) copy.push(LEAVES[n] as Buffer);
    assert.equal(hex(copy.root()), hex(ROOTS[MAX_SIZE] as Buffer));
    assert.equal(range.size, 37);
    assert.equal(hex(range.root()), hex(ROOTS[37] as Buffer));
    range.push(LEAVES[37] as Buffer);
    assert.equal(hex(range.root()), hex(ROOTS[38] as Buffer));
  });

  test("a CompactRange keeps its own copy of pushed hashes", () => {
    const range = new CompactRange();
    const leaf = Buffer.from(LEAVES[0] as Buffer);
    range.push(leaf);
    leaf.fill(0);
    assert.equal(hex(range.root()), hex(ROOTS[1] as Buffer));
  });

  test("CompactRange.push rejects anything but a 32-byte hash", () => {
    const range = new CompactRange();
    assert.throws(() => {
      range.push(new Uint8Array(31));
    }, RangeError);
    assert.throws(() => {
      range.push(new Uint8Array(33));
    }, RangeError);
    assert.throws(() => {
      range.push(undefined as unknown as Uint8Array);
    }, RangeError);
    assert.equal(range.size, 0);
  });

  test("every inclusion proof equals the RFC's PATH and verifies", () => {
    for (let n = 1; n <= MAX_SIZE; n++) {
      const leaves = LEAVES.slice(0, n);
      const root = ROOTS[n] as Buffer;
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(m, leaves);
        assert.deepEqual(hexes(proof), hexes(refPATH(m, leaves)), `PATH(${m}, D[${n}])`);
        assert.equal(verifyInclusion(m, n, leaves[m] as Buffer, proof, root), true, `verify ${m} in ${n}`);
      }
    }
  });

  test("every consistency proof equals the RFC's PROOF and verifies", () => {
    for (let n = 1; n <= MAX_SIZE; n++) {
      const leaves = LEAVES.slice(0, n);
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(m, leaves);
        assert.deepEqual(hexes(proof), hexes(refPROOF(m, leaves)), `PROOF(${m}, D[${n}])`);
        assert.equal(verifyConsistency(m, n, ROOTS[m] as Buffer, ROOTS[n] as Buffer, proof), true, `verify ${m} -> ${n}`);
      }
    }
  });

  test("inclusion: a flipped bit in any proof element, the leaf or the root is rejected", () => {
    for (let n = 1; n <= MAX_SIZE; n++) {
      const leaves = LEAVES.slice(0, n);
      const root = ROOTS[n] as Buffer;
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(m, leaves);
        const leaf = leaves[m] as Buffer;
        for (let i = 0; i < proof.length; i++) {
          assert.equal(verifyInclusion(m, n, leaf, withFlipped(proof, i), root), false, `${m}/${n} proof[${i}]`);
        }
        assert.equal(verifyInclusion(m, n, flipBit(leaf), proof, root), false, `${m}/${n} leaf`);
        assert.equal(verifyInclusion(m, n, leaf, proof, flipBit(root, 7)), false, `${m}/${n} root`);
      }
    }
  });

  test("inclusion: a truncated, extended or reordered proof is rejected", () => {
    for (let n = 1; n <= MAX_SIZE; n++) {
      const leaves = LEAVES.slice(0, n);
      const root = ROOTS[n] as Buffer;
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(m, leaves);
        const leaf = leaves[m] as Buffer;
        const tag = `${m}/${n}`;
        if (proof.length > 0) {
          assert.equal(verifyInclusion(m, n, leaf, proof.slice(0, -1), root), false, `${tag} truncated`);
          assert.equal(verifyInclusion(m, n, leaf, proof.slice(1), root), false, `${tag} first dropped`);
        }
        assert.equal(verifyInclusion(m, n, leaf, [...proof, root], root), false, `${tag} trailing root`);
        assert.equal(verifyInclusion(m, n, leaf, [...proof, leaf], root), false, `${tag} trailing leaf`);
        assert.equal(verifyInclusion(m, n, leaf, [root, ...proof], root), false, `${tag} preceding root`);
        if (proof.length > 1) {
          const swapped = [proof[1] as Buffer, proof[0] as Buffer, ...proof.slice(2)];
          assert.equal(verifyInclusion(m, n, leaf, swapped, root), false, `${tag} swapped`);
        }
      }
    }
  });

  test("inclusion: the proof for one leaf does not verify at any other index of the same tree", () => {
    for (let n = 1; n <= MAX_SIZE; n++) {
      const leaves = LEAVES.slice(0, n);
      const root = ROOTS[n] as Buffer;
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(m, leaves);
        const leaf = leaves[m] as Buffer;
        for (const other of [m - 1, m + 1, m ^ 1, m ^ 2, n, n + 1, -1]) {
          if (other === m) continue;
          assert.equal(verifyInclusion(other, n, leaf, proof, root), false, `${m}/${n} as index ${other}`);
        }
      }
    }
  });

  test("inclusion: a wrong tree size is rejected unless the path is also a valid RFC path for that size", () => {
    // A path only fixes the tree's shape along one branch, so e.g. leaf 0's path in a 3-leaf
    // tree is also a well-formed path for size 4 under the same root; the signed tree head is
    // what binds the size. So the verifier must agree exactly with the RFC recursion, and a
    // size that changes the tree's height (doubled, halved) must always be rejected.
    for (let n = 1; n <= MAX_SIZE; n++) {
      const leaves = LEAVES.slice(0, n);
      const root = ROOTS[n] as Buffer;
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(m, leaves);
        const leaf = leaves[m] as Buffer;
        for (const size of [n - 1, n + 1, n + 2]) {
          const got = verifyInclusion(m, size, leaf, proof, root);
          assert.equal(got, refVerifyInclusion(m, size, leaf, proof, root), `${m}/${n} as size ${size}`);
        }
        for (const size of [n * 2, 2 * n + 1, Math.floor(n / 2)]) {
          assert.equal(verifyInclusion(m, size, leaf, proof, root), false, `${m}/${n} as size ${size}`);
        }
      }
    }
    // The documented coincidence, so the allowance above is not hiding something broader.
    assert.equal(verifyInclusion(0, 4, LEAVES[0] as Buffer, inclusionProof(0, LEAVES.slice(0, 3)), ROOTS[3] as Buffer), true);
    assert.equal(refVerifyInclusion(0, 4, LEAVES[0] as Buffer, inclusionProof(0, LEAVES.slice(0, 3)), ROOTS[3] as Buffer), true);
  });

  test("consistency: a flipped bit in any proof element or either root, or swapped roots, is rejected", () => {
    for (let n = 2; n <= MAX_SIZE; n++) {
      const leaves = LEAVES.slice(0, n);
      const newRoot = ROOTS[n] as Buffer;
      for (let m = 1; m < n; m++) {
        const oldRoot = ROOTS[m] as Buffer;
        const proof = consistencyProof(m, leaves);
        const tag = `${m} -> ${n}`;
        for (let i = 0; i < proof.length; i++) {
          assert.equal(verifyConsistency(m, n, oldRoot, newRoot, withFlipped(proof, i)), false, `${tag} proof[${i}]`);
        }
        assert.equal(verifyConsistency(m, n, flipBit(oldRoot), newRoot, proof), false, `${tag} old root`);
        assert.equal(verifyConsistency(m, n, oldRoot, flipBit(newRoot), proof), false, `${tag} new root`);
        assert.equal(verifyConsistency(m, n, newRoot, oldRoot, proof), false, `${tag} swapped roots`);
      }
    }
  });

  test("consistency: a truncated, extended, emptied or reordered proof is rejected", () => {
    for (let n = 2; n <= MAX_SIZE; n++) {
      const leaves = LEAVES.slice(0, n);
      const newRoot = ROOTS[n] as Buffer;
      for (let m = 1; m < n; m++) {
        const oldRoot = ROOTS[m] as Buffer;
        const proof = consistencyProof(m, leaves);
        const tag = `${m} -> ${n}`;
        assert.equal(verifyConsistency(m, n, oldRoot, newRoot, []), false, `${tag} empty`);
        assert.equal(verifyConsistency(m, n, oldRoot, newRoot, proof.slice(0, -1)), false, `${tag} truncated`);
        assert.equal(verifyConsistency(m, n, oldRoot, newRoot, proof.slice(1)), false, `${tag} first dropped`);
        for (const extra of [oldRoot, newRoot, proof[0] as Buffer]) {
          assert.equal(verifyConsistency(m, n, oldRoot, newRoot, [...proof, extra]), false, `${tag} trailing`);
          assert.equal(verifyConsistency(m, n, oldRoot, newRoot, [extra, ...proof]), false, `${tag} preceding`);
        }
        if (proof.length > 1) {
          const swapped = [proof[1] as Buffer, proof[0] as Buffer, ...proof.slice(2)];
          assert.equal(verifyConsistency(m, n, oldRoot, newRoot, swapped), false, `${tag} swapped`);
        }
      }
    }
  });

  test("consistency: a wrong old size is rejected, and a wrong new size unless the proof is also valid for it", () => {
    // As with inclusion, the new size is bound by the signed tree head, not by the proof:
    // where n±1 gives the same proof shape the verifier must agree with the RFC recursion.
    for (let n = 2; n <= MAX_SIZE; n++) {
      const leaves = LEAVES.slice(0, n);
      const newRoot = ROOTS[n] as Buffer;
      for (let m = 1; m < n; m++) {
        const oldRoot = ROOTS[m] as Buffer;
        const proof = consistencyProof(m, leaves);
        const tag = `${m} -> ${n}`;
        for (const a of [m - 1, m + 1, m ^ 2, 0, n]) {
          if (a === m) continue;
          assert.equal(verifyConsistency(a, n, oldRoot, newRoot, proof), false, `${tag} as old size ${a}`);
        }
        for (const b of [n * 2, Math.floor(n / 2), m, m - 1]) {
          assert.equal(verifyConsistency(m, b, oldRoot, newRoot, proof), false, `${tag} as new size ${b}`);
        }
        for (const b of [n - 1, n + 1]) {
          const got = verifyConsistency(m, b, oldRoot, newRoot, proof);
          assert.equal(got, refVerifyConsistency(m, b, oldRoot, newRoot, proof), `${tag} as new size ${b}`);
        }
      }
    }
  });

  test("equal-size consistency holds with an empty proof exactly when the roots are equal", () => {
    for (let n = 1; n <= MAX_SIZE; n++) {
      const root = ROOTS[n] as Buffer;
      assert.deepEqual(consistencyProof(n, LEAVES.slice(0, n)), []);
      assert.equal(verifyConsistency(n, n, root, Buffer.from(root), []), true);
      assert.equal(verifyConsistency(n, n, root, ROOTS[n + 1] as Buffer, []), false);
      assert.equal(verifyConsistency(n, n, root, root, [root]), false);
    }
  });
});

// ---------------------------------------------------------------------------
// Sizes beyond 32 bits, where bit-shift arithmetic would silently wrap
// ---------------------------------------------------------------------------

describe("sizes beyond 2^32", () => {
  /** Proof length the RFC recursion expects for (m, n): build a proof of junk hashes of that shape. */
  function pathLength(m: number, n: number): number {
    let len = 0;
    while (n > 1) {
      const k = refSplit(n);
      if (m < k) n = k;
      else {
        m -= k;
        n -= k;
      }
      len++;
    }
    return len;
  }
  function consistencyLength(m: number, n: number): number {
    let len = 0;
    let b = true;
    while (m !== n) {
      const k = refSplit(n);
      if (m <= k) n = k;
      else {
        m -= k;
        n -= k;
        b = false;
      }
      len++;
    }
    return b ? len : len + 1;
  }

  const cases: [number, number][] = [
    [2 ** 32, 2 ** 32 + 1],
    [2 ** 32 + 7, 2 ** 33 + 3],
    [2 ** 40 - 1, 2 ** 40],
    [123_456_789_012, 2 ** 45 + 12_345],
    [2 ** 52 + 1, Number.MAX_SAFE_INTEGER],
    [Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER],
    [0, Number.MAX_SAFE_INTEGER],
  ];

  test("verifyInclusion agrees with the RFC recursion for huge trees", () => {
    const rand = prng(7);
    for (const [m, n] of cases) {
      const leaf = randomBytes(rand, 32);
      const proof = Array.from({ length: pathLength(m, n) }, () => randomBytes(rand, 32));
      const root = refRootFromPath(m, n, leaf, proof);
      assert.ok(root);
      assert.equal(verifyInclusion(m, n, leaf, proof, root), true, `${m}/${n}`);
      assert.equal(verifyInclusion(m, n, leaf, proof.slice(0, -1), root), false);
      assert.equal(verifyInclusion(m, n, leaf, withFlipped(proof, 0), root), false);
    }
  });

  test("verifyConsistency agrees with the RFC recursion for huge trees", () => {
    const rand = prng(8);
    for (const [m0, n] of cases) {
      const m = Math.max(1, m0);
      const proof = Array.from({ length: consistencyLength(m, n) }, () => randomBytes(rand, 32));
      // A power-of-two old tree's root is not in its proof; any hash then plays that role.
      const seedOld = randomBytes(rand, 32);
      const roots = refRootsFromConsistency(m, n, seedOld, proof);
      assert.ok(roots);
      assert.equal(verifyConsistency(m, n, roots[0], roots[1], proof), true, `${m} -> ${n}`);
      assert.equal(verifyConsistency(m, n, roots[0], roots[1], proof.slice(0, -1)), false);
      assert.equal(verifyConsistency(m, n, roots[0], flipBit(roots[1]), proof), false);
    }
  });
});

// ---------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------

describe("malformed input", () => {
  const leaves = LEAVES.slice(0, 11);
  const root = ROOTS[11] as Buffer;
  const leaf = leaves[5] as Buffer;
  const proof = inclusionProof(5, leaves);
  const cproof = consistencyProof(6, leaves);
  const oldRoot = ROOTS[6] as Buffer;
  const junk = [
    undefined,
    null,
    0,
    "00".repeat(32),
    {},
    [],
    new Uint8Array(0),
    new Uint8Array(31),
    new Uint8Array(33),
    new Uint16Array(32),
    new DataView(new ArrayBuffer(32)),
  ] as unknown as Uint8Array[];
  const badNumbers = [-1, 0.5, NaN, Infinity, -Infinity, 2 ** 53, Number.MAX_VALUE, "3", undefined, null] as unknown as number[];

  test("proof generators throw RangeError for an out-of-range index or old size", () => {
    for (const i of [-1, 11, 12, 0.5, NaN, Infinity]) assert.throws(() => inclusionProof(i, leaves), RangeError, `index ${i}`);
    assert.throws(() => inclusionProof(0, []), RangeError);
    for (const m of [0, -1, 12, 1.5, NaN]) assert.throws(() => consistencyProof(m, leaves), RangeError, `old size ${m}`);
    assert.throws(() => consistencyProof(1, []), RangeError);
  });

  test("verifyInclusion returns false, never throws, on malformed sizes, hashes and proofs", () => {
    const results: boolean[] = [];
    for (const x of badNumbers) {
      results.push(verifyInclusion(x, 11, leaf, proof, root));
      results.push(verifyInclusion(5, x, leaf, proof, root));
    }
    results.push(verifyInclusion(0, 0, leaf, [], root));
    results.push(verifyInclusion(11, 11, leaf, proof, root));
    results.push(verifyInclusion(2 ** 52, Number.MAX_SAFE_INTEGER, leaf, proof, root));
    for (const j of junk) {
      results.push(verifyInclusion(5, 11, j, proof, root));
      results.push(verifyInclusion(5, 11, leaf, proof, j));
      results.push(verifyInclusion(5, 11, leaf, [j, ...proof.slice(1)], root));
      results.push(verifyInclusion(5, 11, leaf, [...proof, j], root));
      results.push(verifyInclusion(5, 11, leaf, j as unknown as Uint8Array[], root));
      results.push(verifyInclusion(0, 1, j, [], j));
    }
    results.push(verifyInclusion(5, 11, leaf, new Array<Uint8Array>(10_000).fill(leaf), root));
    results.push(verifyInclusion(5, 11, leaf, new Array<Uint8Array>(proof.length), root));
    assert.ok(results.every((r) => !r));
    // The well-formed call still succeeds, so the rejections above are about the malformation.
    assert.equal(verifyInclusion(5, 11, leaf, proof, root), true);
  });

  test("verifyConsistency returns false, never throws, on malformed sizes, hashes and proofs", () => {
    const results: boolean[] = [];
    for (const x of badNumbers) {
      results.push(verifyConsistency(x, 11, oldRoot, root, cproof));
      results.push(verifyConsistency(6, x, oldRoot, root, cproof));
    }
    results.push(verifyConsistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, []));
    results.push(verifyConsistency(0, 11, EMPTY_ROOT, root, []));
    results.push(verifyConsistency(11, 6, root, oldRoot, cproof));
    results.push(verifyConsistency(6, 11, oldRoot, root, []));
    results.push(verifyConsistency(1, Number.MAX_SAFE_INTEGER, oldRoot, root, cproof));
    for (const j of junk) {
      results.push(verifyConsistency(6, 11, j, root, cproof));
      results.push(verifyConsistency(6, 11, oldRoot, j, cproof));
      results.push(verifyConsistency(6, 11, oldRoot, root, [j, ...cproof.slice(1)]));
      results.push(verifyConsistency(6, 11, oldRoot, root, [...cproof.slice(0, -1), j]));
      results.push(verifyConsistency(6, 11, oldRoot, root, [...cproof, j]));
      results.push(verifyConsistency(6, 11, oldRoot, root, j as unknown as Uint8Array[]));
      results.push(verifyConsistency(4, 11, j, root, [j]));
      results.push(verifyConsistency(3, 3, j, j, []));
      if (!Array.isArray(j)) results.push(verifyConsistency(3, 3, oldRoot, oldRoot, j as unknown as Uint8Array[]));
    }
    results.push(verifyConsistency(6, 11, oldRoot, root, new Array<Uint8Array>(10_000).fill(oldRoot)));
    results.push(verifyConsistency(6, 11, oldRoot, root, new Array<Uint8Array>(cproof.length)));
    assert.ok(results.every((r) => !r));
    assert.equal(verifyConsistency(6, 11, oldRoot, root, cproof), true);
  });
});
