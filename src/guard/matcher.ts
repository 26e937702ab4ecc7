/**
 * A multi-pattern matcher for known secret values: finds every occurrence of
 * thousands of literal patterns in one pass whose cost does not grow with the
 * number of patterns.
 *
 * How: sampled q-grams. Patterns are grouped in tiers by length; in a tier
 * every pattern is at least `m` characters long, so any occurrence covers an
 * 8-character window (`q`) starting at one of its first `step = m - q + 1`
 * positions. The text is sampled only at every `step`-th position: the hash
 * of the window there selects a bucket, a bit set (small enough to stay in
 * cache) says whether any pattern has that window at one of its first `step`
 * offsets, and only then are the bucket's candidates compared with the text.
 * Each occurrence contains exactly one sampled window at such an offset, so
 * it is reported once. For 16- to 40-character secrets the text is read
 * about once per character in total, whatever the number of secrets — the
 * idea of Rabin–Karp and Wu–Manber; Aho–Corasick gives the same bound but
 * needs a transition table per state, too large to be fast in JavaScript
 * for 20,000 forms × 40 characters.
 *
 * Two refinements for secrets:
 *  - `foldHex` patterns (hex dumps, percent-encodings) match with the letters
 *    A–F in either case, so `%2f%2F` and mixed-case hex are found.
 *  - `skeleton` patterns match with separators interleaved: only ASCII
 *    letters and digits of the text count, anything between them (spaces,
 *    newlines of wrapped base64, `:` of a hex dump, zero-width characters,
 *    dashes a tool put between the characters) is skipped. The match spans
 *    from the first to the last letter or digit of the pattern. They are
 *    sampled the same way over the text's letters and digits.
 */

export interface MatcherPattern {
  readonly text: string;
  /** Treat A–F and a–f as the same character (hex digits, percent-escapes). */
  readonly foldHex?: boolean;
  /** Match the pattern's ASCII letters and digits with anything else in between (see the module comment). */
  readonly skeleton?: boolean;
}

/** Called for every occurrence: `text.slice(start, end)` is the match; `index` the pattern's position in the list. */
export type MatchCallback = (start: number, end: number, index: number) => void;

/** Shortest pattern the matcher takes; shorter ones never match (a chance hit in ordinary text is too likely). */
export const MIN_PATTERN_LENGTH = 4;

/** Tier thresholds: a pattern joins the highest tier whose threshold its length reaches. */
const TIERS = [32, 16, 8, MIN_PATTERN_LENGTH] as const;

function fold(c: number): number {
  return c >= 65 && c <= 70 ? c + 32 : c;
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** 1 for ASCII letters and digits, else 0, for every UTF-16 code unit: a load instead of a branch in the hot loop. */
const ALNUM = new Uint8Array(65536);
for (let c = 0; c < 128; c += 1) ALNUM[c] = isAlnum(c) ? 1 : 0;
/** The same for bytes: 256 entries stay in the first-level cache. */
const ALNUM_BYTE = ALNUM.slice(0, 256);

// Any character above U+00FF (control characters are fine: they are below).
const BEYOND_LATIN1 = /[^\u0000-\u00ff]/u; // eslint-disable-line no-control-regex

function alnumOnly(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i += 1) if (isAlnum(text.charCodeAt(i))) out += text[i] ?? "";
  return out;
}

/**
 * The hash of the window of `q` (4 or 8) bytes at `at`. The text is hashed
 * as Latin-1 bytes (one byte per UTF-16 code unit, its low byte), read four
 * at a time; each byte has bit 5 set first, which lower-cases ASCII letters
 * (so A–F and a–f hash alike for `foldHex` patterns) and leaves digits
 * alone. Other characters may collide (`@` and a backtick, U+0161 and `a`):
 * the comparison after a hit, on the real text, is exact.
 */
function windowHash(view: DataView, at: number, q: number): number {
  const low = view.getUint32(at, true) | 0x20202020;
  const h = q === 8 ? low ^ Math.imul(view.getUint32(at + 4, true) | 0x20202020, 0x01000193) : low;
  return Math.imul(h, GOLDEN);
}

/** 0x9e3779b1 as a signed 32-bit integer: a small integer constant keeps `Math.imul` on the fast path. */
const GOLDEN = -1640531535;

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** One tier: patterns of at least `m` characters (letters/digits for skeleton ones), sampled every `step`. */
class Tier {
  readonly q: number;
  readonly step: number;
  readonly shift: number;
  readonly bits: Uint32Array;
  /** Bucket → flat pairs (pattern id, offset of the window in the pattern). */
  readonly buckets = new Map<number, number[]>();

  constructor(keys: readonly string[], members: readonly number[], m: number) {
    this.q = m >= 8 ? 8 : 4;
    this.step = m - this.q + 1;
    const entries = members.length * this.step;
    const tableBits = Math.max(12, Math.min(21, Math.ceil(Math.log2(Math.max(1, entries) * 32))));
    this.shift = 32 - tableBits;
    this.bits = new Uint32Array((1 << tableBits) >>> 5);
    for (const id of members) {
      const view = viewOf(Buffer.from(keys[id] ?? "", "latin1"));
      for (let o = 0; o < this.step; o += 1) {
        const b = windowHash(view, o, this.q) >>> this.shift;
        this.bits[b >>> 5] = (this.bits[b >>> 5] ?? 0) | (1 << (b & 31));
        const list = this.buckets.get(b);
        if (list) list.push(id, o);
        else this.buckets.set(b, [id, o]);
      }
    }
  }

  /** The candidates (pattern id, offset pairs) whose window at their offset hashes like the text's window at `at`. */
  candidates(view: DataView, at: number): number[] | undefined {
    const b = windowHash(view, at, this.q) >>> this.shift;
    return ((this.bits[b >>> 5] ?? 0) >>> (b & 31)) & 1 ? this.buckets.get(b) : undefined;
  }
}

function buildTiers(keys: readonly string[], ids: readonly number[]): Tier[] {
  const tiers: Tier[] = [];
  let rest = [...ids];
  for (const threshold of TIERS) {
    const members = rest.filter((id) => (keys[id] ?? "").length >= threshold);
    rest = rest.filter((id) => (keys[id] ?? "").length < threshold);
    if (members.length === 0) continue;
    const m = Math.min(...members.map((id) => (keys[id] ?? "").length));
    tiers.push(new Tier(keys, members, m));
  }
  return tiers;
}

export class MultiPatternMatcher {
  readonly #patterns: readonly MatcherPattern[];
  /** For exact patterns the pattern itself; for skeleton patterns its letters and digits. */
  readonly #keys: readonly string[];
  readonly #exact: readonly Tier[];
  readonly #skeleton: readonly Tier[];
  /** The longest exact pattern, and the most letters/digits of a skeleton pattern: how far a match can reach back. */
  readonly maxExactLength: number;
  readonly maxSkeletonLength: number;

  /** Patterns shorter than MIN_PATTERN_LENGTH (for skeleton ones: with fewer letters and digits) never match. */
  constructor(patterns: readonly MatcherPattern[]) {
    this.#patterns = patterns;
    this.#keys = patterns.map((p) => (p.skeleton === true ? alnumOnly(p.text) : p.text));
    const exact: number[] = [];
    const skeleton: number[] = [];
    patterns.forEach((p, i) => {
      if ((this.#keys[i] ?? "").length < MIN_PATTERN_LENGTH) return;
      (p.skeleton === true ? skeleton : exact).push(i);
    });
    this.#exact = buildTiers(this.#keys, exact);
    this.#skeleton = buildTiers(this.#keys, skeleton);
    this.maxExactLength = Math.max(0, ...exact.map((i) => (this.#keys[i] ?? "").length));
    this.maxSkeletonLength = Math.max(0, ...skeleton.map((i) => (this.#keys[i] ?? "").length));
  }

  get size(): number {
    return this.#patterns.length;
  }

  /** Reports every occurrence of every pattern, overlapping ones included, each once, in no particular order. */
  scan(text: string, onMatch: MatchCallback): void {
    if (this.#exact.length === 0 && this.#skeleton.length === 0) return;
    const view = latin1Of(text);
    for (const t of this.#exact) this.#scanExact(t, view, text, onMatch);
    if (this.#skeleton.length > 0) {
      const skeleton = skeletonOf(text, scratch.latin1);
      for (const t of this.#skeleton) this.#scanSkeleton(t, skeleton, text, onMatch);
    }
  }

  #scanExact(t: Tier, view: DataView, text: string, onMatch: MatchCallback): void {
    const { q, step } = t;
    const last = text.length - q;
    for (let w = 0; w <= last; w += step) {
      const candidates = t.candidates(view, w);
      if (candidates === undefined) continue;
      for (let k = 0; k < candidates.length; k += 2) {
        const id = candidates[k] ?? 0;
        const at = w - (candidates[k + 1] ?? 0);
        const key = this.#keys[id] ?? "";
        if (at < 0) continue;
        if (this.#patterns[id]?.foldHex === true ? startsWithFolded(text, key, at) : text.startsWith(key, at)) onMatch(at, at + key.length, id);
      }
    }
  }

  /** Windows over the text's letters and digits. */
  #scanSkeleton(t: Tier, skeleton: Skeleton, text: string, onMatch: MatchCallback): void {
    const { q, step } = t;
    const view = skeleton.view;
    const last = view.byteLength - q;
    for (let w = 0; w <= last; w += step) {
      const candidates = t.candidates(view, w);
      if (candidates === undefined) continue;
      for (let k = 0; k < candidates.length; k += 2) {
        const id = candidates[k] ?? 0;
        const first = w - (candidates[k + 1] ?? 0);
        if (first < 0) continue;
        const at = positionOf(text, skeleton, first);
        const stop = skeletonMatchEnd(text, this.#keys[id] ?? "", at, this.#patterns[id]?.foldHex === true);
        if (stop > 0) onMatch(at, stop, id);
      }
    }
  }
}

/**
 * The text's ASCII letters and digits, as bytes, and where every 64th of them
 * is in the text (`checkpoints`): storing the position of every one would
 * write four bytes per character, more than the scan itself costs; a hit
 * finds its exact position from the nearest checkpoint (`positionOf`).
 * Written without a branch per character: every character is stored at the
 * next free slot, which only a letter or digit advances.
 */
interface Skeleton {
  readonly view: DataView;
  readonly checkpoints: Int32Array;
}

const CHECKPOINT_SHIFT = 6;

function skeletonOf(text: string, latin1: Uint8Array): Skeleton {
  const n = text.length;
  scratch.skeleton = grown(scratch.skeleton, n + 1);
  const need = (n >> CHECKPOINT_SHIFT) + 2;
  if (scratch.checkpoints.length < need) scratch.checkpoints = new Int32Array(Math.max(need, scratch.checkpoints.length * 2));
  const bytes = scratch.skeleton;
  const checkpoints = scratch.checkpoints;
  const mask = (1 << CHECKPOINT_SHIFT) - 1;
  let k = 0;
  // The Latin-1 bytes stand for the text only when no character is above U+00FF (U+0161's low byte is "a").
  if (!BEYOND_LATIN1.test(text)) {
    for (let i = 0; i < n; i += 1) {
      const c = latin1[i] ?? 0;
      bytes[k] = c;
      if ((k & mask) === 0) checkpoints[k >> CHECKPOINT_SHIFT] = i;
      k += ALNUM_BYTE[c] ?? 0;
    }
  } else {
    for (let i = 0; i < n; i += 1) {
      const c = text.charCodeAt(i);
      bytes[k] = c;
      if ((k & mask) === 0) checkpoints[k >> CHECKPOINT_SHIFT] = i;
      k += ALNUM[c] ?? 0;
    }
  }
  return { view: new DataView(bytes.buffer, bytes.byteOffset, k), checkpoints };
}

/** Where the `index`-th letter/digit of the text is. */
function positionOf(text: string, skeleton: Skeleton, index: number): number {
  let at = skeleton.checkpoints[index >> CHECKPOINT_SHIFT] ?? 0;
  for (let left = index & ((1 << CHECKPOINT_SHIFT) - 1); ; at += 1) {
    if (!isAlnum(text.charCodeAt(at))) continue;
    if (left === 0) return at;
    left -= 1;
  }
}

/**
 * Buffers reused from one scan to the next (a scan is synchronous, so one
 * set is enough): a 10 MB text would otherwise allocate 60 MB per scan and
 * spend more time in the garbage collector than in the scan. Shrunk back
 * when a scan of a large text is followed by small ones.
 */
const scratch: { latin1: Buffer; skeleton: Buffer; checkpoints: Int32Array } = { latin1: Buffer.alloc(0), skeleton: Buffer.alloc(0), checkpoints: new Int32Array(0) };
const SCRATCH_KEEP = 1 << 20;

function grown(buffer: Buffer, size: number): Buffer {
  if (buffer.length >= size && (buffer.length <= SCRATCH_KEEP || size * 4 >= buffer.length)) return buffer;
  return Buffer.allocUnsafe(Math.max(size, Math.min(SCRATCH_KEEP, size * 2)));
}

/** The text as Latin-1 bytes (the low byte of each UTF-16 code unit), in the scratch buffer. */
function latin1Of(text: string): DataView {
  scratch.latin1 = grown(scratch.latin1, text.length);
  const written = scratch.latin1.write(text, "latin1");
  return new DataView(scratch.latin1.buffer, scratch.latin1.byteOffset, written);
}

function startsWithFolded(text: string, key: string, at: number): boolean {
  if (at + key.length > text.length) return false;
  for (let j = 0; j < key.length; j += 1) if (fold(text.charCodeAt(at + j)) !== fold(key.charCodeAt(j))) return false;
  return true;
}

/** Where a skeleton match of `key` starting at `at` ends (exclusive), or -1: letters/digits must follow in order, anything else is skipped. */
function skeletonMatchEnd(text: string, key: string, at: number, foldHex: boolean): number {
  let i = at;
  for (let j = 0; j < key.length; j += 1) {
    while (i < text.length && !isAlnum(text.charCodeAt(i))) i += 1;
    if (i >= text.length) return -1;
    const a = text.charCodeAt(i);
    const b = key.charCodeAt(j);
    if (foldHex ? fold(a) !== fold(b) : a !== b) return -1;
    i += 1;
  }
  return i;
}
