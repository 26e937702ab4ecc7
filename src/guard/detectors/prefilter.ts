/**
 * The prefilter: one pass over the text that reports every position where a
 * detector *might* match, so that detectors run their regexes only there.
 *
 * Why not a regex or a JavaScript loop. On the machines we measure on, a
 * JavaScript loop costs about 4 ns per character and one pass of a regex
 * alternation of a hundred literals about 10 ns: 40–100 ms for 10 MB, most of
 * the redaction budget, before any detector runs. A WebAssembly SIMD loop
 * looks at 16 characters per step. So the pass is a small WebAssembly
 * function, generated here from declarative filters; a plain JavaScript
 * implementation of exactly the same filters takes over where WebAssembly is
 * unavailable (`--jitless`) and is the reference the kernel is tested
 * against.
 *
 * What it reports is a superset: a filter may fire where nothing matches
 * (the detector's own regex decides), never the other way round. Two kinds of
 * filter, evaluated at every position `p`:
 *
 * - The literal filter: the registered trigger literals (case-insensitive),
 *   fingerprinted by their first four characters in sixteen buckets, the
 *   "Teddy" scheme of Hyperscan: per bucket and offset, a set of bytes kept as
 *   two 16-entry tables (low and high nibble), looked up with a byte shuffle.
 *   A bucket's set is the closure of its literals' characters, so it may admit
 *   more than they do (false positives, checked afterwards in JavaScript).
 * - Anchors: conditions such as "the character at `p + offset` is in this
 *   set" (a digit, a separator, not a word character…), evaluated exactly.
 *
 * Characters as bytes. The kernel sees one byte per character: ASCII as
 * itself; U+0080–U+7FFF as 0x7f and U+8000–U+FFFF as 0x80 (WebAssembly's
 * signed saturating narrowing of UTF-16 code units). A set that contains
 * non-ASCII characters therefore contains 0x7f and 0x80, and 0x7f (DEL) then
 * stands for both; since filters only need to be supersets, that is safe.
 * Positions before the start and after the end of the text read as 0x00.
 *
 * Memory stays bounded: the text goes through WebAssembly memory in chunks of
 * 64 Ki characters, each with the characters before and after it that filters
 * look at.
 */

// ---------------------------------------------------------------------------
// Character sets and anchors

/** A set of characters as the kernel sees them: `bytes[b]` is 1 when byte `b` may stand for a member. */
export interface CharSet {
  readonly bytes: Uint8Array;
  /** For error messages and tests. */
  readonly label: string;
}

/** The byte the kernel sees for a UTF-16 code unit (see the module comment). */
export function kernelByte(code: number): number {
  return code <= 0x7f ? code : code < 0x8000 ? 0x7f : 0x80;
}

/**
 * The characters matched by a one-character regex class, e.g. `/[0-9]/` or
 * `/[^\w.+-]/`. `nonAscii` says whether non-ASCII characters belong to it
 * (true for negated classes, `\W`, `\s`): it cannot be read off the regex.
 */
export function charSet(re: RegExp, nonAscii: boolean): CharSet {
  if (re.global || re.sticky) throw new Error(`charSet needs a plain regex: /${re.source}/${re.flags}`);
  const bytes = new Uint8Array(256);
  for (let c = 0; c < 0x80; c += 1) if (re.test(String.fromCharCode(c))) bytes[c] = 1;
  if (nonAscii) bytes.fill(1, 0x7f);
  return { bytes, label: `/${re.source}/${nonAscii ? " + non-ASCII" : ""}` };
}

/** Exactly the given ASCII characters. */
export function oneOf(chars: string): CharSet {
  const bytes = new Uint8Array(256);
  for (let i = 0; i < chars.length; i += 1) {
    const c = chars.charCodeAt(i);
    if (c >= 0x7f) throw new Error(`oneOf takes ASCII characters: ${JSON.stringify(chars)}`);
    bytes[c] = 1;
  }
  return { bytes, label: JSON.stringify(chars) };
}

/** The character at `p + offset` is in `set`. */
export type AtOffset = readonly [offset: number, set: CharSet];

/** Some character (`some`), or every character (`every`), at offsets `from` to `to` is in `set`. At most RANGE_WIDTH offsets. */
export interface OverRange {
  readonly quantifier: "some" | "every";
  readonly from: number;
  readonly to: number;
  readonly set: CharSet;
}

export type AnchorTest = AtOffset | OverRange;

/** A test, or `anyOf`: at least one of several alternatives, each a test or a list of tests that must all hold. */
export type AnchorCondition = AnchorTest | { readonly anyOf: readonly (AnchorTest | readonly AnchorTest[])[] };

/**
 * A structural filter: fires at `p` when every condition holds. Conditions
 * are tested in order and the kernel stops at the first that no position of
 * a 16-character block passes, so the most selective come first. Offsets
 * range from MIN_OFFSET to MAX_OFFSET.
 */
export interface Anchor {
  readonly id: string;
  readonly at: readonly AnchorCondition[];
}

export function some(from: number, to: number, set: CharSet): OverRange {
  return { quantifier: "some", from, to, set };
}

export function every(from: number, to: number, set: CharSet): OverRange {
  return { quantifier: "every", from, to, set };
}

export const MIN_OFFSET = -8;
export const MAX_OFFSET = 64;
/** The widest OverRange: 16 positions of a block and their ranges fit in 64 bits. */
export const RANGE_WIDTH = 48;
/** One bit of the per-position result for the literal filter, one for each anchor. */
export const MAX_ANCHORS = 7;
const LITERAL_FINGERPRINT = 4;
/** Literal buckets: eight per group of tables (one byte of bucket bits per lane); more buckets, fewer false candidates, a little more work per block. */
const BUCKET_GROUPS = 2;
const BUCKETS = 8 * BUCKET_GROUPS;

// ---------------------------------------------------------------------------
// Compiled filters: the tables both implementations evaluate

/** How a byte is tested: equal to one or two values, in a range of values, or by nibble tables. Exact, except nibble tables merged beyond eight groups (a superset). */
type ByteTest =
  | { readonly kind: "eq"; readonly a: number; readonly b: number }
  | { readonly kind: "range"; readonly from: number; readonly size: number }
  | { readonly kind: "nibbles"; readonly lo: Uint8Array; readonly hi: Uint8Array };

/** A test over offsets `from` to `to` (equal for a single offset). */
interface CompiledTest {
  readonly quantifier: "some" | "every";
  readonly from: number;
  readonly to: number;
  readonly byte: ByteTest;
  /** What the byte test accepts, by byte: the JavaScript implementation's lookup table. */
  readonly accepts: Uint8Array;
}

/** Holds when all tests of any of its terms do. */
type CompiledCondition = readonly (readonly CompiledTest[])[];

interface CompiledAnchor {
  readonly id: string;
  readonly conditions: readonly CompiledCondition[];
}

interface LiteralTables {
  /** Per group of eight buckets, per offset 0..3: bucket bits by low nibble and by high nibble. */
  readonly lo: readonly (readonly Uint8Array[])[];
  readonly hi: readonly (readonly Uint8Array[])[];
}

function nibbleTables(bytes: Uint8Array): { lo: Uint8Array; hi: Uint8Array } {
  // Group the high nibbles by the set of low nibbles they admit; one bit per group.
  const groups: number[] = [];
  const groupOfHi: number[] = [];
  for (let h = 0; h < 16; h += 1) {
    let set = 0;
    for (let l = 0; l < 16; l += 1) if (bytes[h * 16 + l] === 1) set |= 1 << l;
    let g = -1;
    if (set !== 0) {
      g = groups.indexOf(set);
      if (g < 0) g = groups.push(set) - 1;
    }
    groupOfHi.push(g);
  }
  // More than eight distinct groups: merge the rest into the eighth (admits more bytes; filters may).
  for (let g = 8; g < groups.length; g += 1) groups[7] = (groups[7] ?? 0) | (groups[g] ?? 0);
  groups.length = Math.min(groups.length, 8);
  const lo = new Uint8Array(16);
  const hi = new Uint8Array(16);
  groupOfHi.forEach((g, h) => {
    if (g >= 0) hi[h] = 1 << Math.min(g, 7);
  });
  groups.forEach((set, g) => {
    for (let l = 0; l < 16; l += 1) if ((set >> l) & 1) lo[l] = (lo[l] ?? 0) | (1 << g);
  });
  return { lo, hi };
}

function isAtOffset(test: AnchorTest): test is AtOffset {
  return Array.isArray(test);
}

function compileTest(test: AnchorTest): CompiledTest {
  const { quantifier, from, to, set }: OverRange = isAtOffset(test) ? { quantifier: "every", from: test[0], to: test[0], set: test[1] } : test;
  for (const offset of [from, to]) if (!Number.isInteger(offset) || offset < MIN_OFFSET || offset > MAX_OFFSET) throw new Error(`Anchor offset out of range: ${offset}`);
  if (to < from || to - from + 1 > RANGE_WIDTH) throw new Error(`An anchor range spans 1 to ${RANGE_WIDTH} offsets: ${from}..${to}`);
  const members: number[] = [];
  for (let b = 0; b < 256; b += 1) if (set.bytes[b] === 1) members.push(b);
  if (members.length === 0 || members.length === 256) throw new Error(`An anchor test must admit some bytes and not all: ${set.label}`);
  let byte: ByteTest;
  const first = members[0] ?? 0;
  const last = members[members.length - 1] ?? 0;
  if (members.length <= 2) byte = { kind: "eq", a: first, b: last };
  else if (last - first + 1 === members.length) byte = { kind: "range", from: first, size: members.length };
  else byte = { kind: "nibbles", ...nibbleTables(set.bytes) };
  const accepts = new Uint8Array(256);
  for (let b = 0; b < 256; b += 1) {
    if (byte.kind === "nibbles") accepts[b] = ((byte.lo[b & 15] ?? 0) & (byte.hi[b >> 4] ?? 0)) !== 0 ? 1 : 0;
    else accepts[b] = set.bytes[b] ?? 0;
  }
  return { quantifier, from, to, byte, accepts };
}

function compileAnchor(anchor: Anchor): CompiledAnchor {
  const isTest = (x: AnchorTest | readonly AnchorTest[]): x is AnchorTest => !Array.isArray(x) || typeof x[0] === "number";
  return {
    id: anchor.id,
    conditions: anchor.at.map((c) => {
      const terms: (readonly AnchorTest[])[] = "anyOf" in c ? c.anyOf.map((t) => (isTest(t) ? [t] : t)) : [[c]];
      return terms.map((term) => term.map(compileTest));
    }),
  };
}

/** The bytes a literal's character at `offset` may be (both cases of a letter), or every byte past its end. */
function literalBytes(literal: string, offset: number): number[] {
  if (offset >= literal.length) return Array.from({ length: 256 }, (_, b) => b);
  const c = literal.charCodeAt(offset);
  return c >= 97 && c <= 122 ? [c, c - 32] : [c];
}

/**
 * A little of the text agents read and write (prose, JSON, logs, code,
 * configuration), on which the bucket assignment below counts how often a
 * bucket would fire. Letter frequencies alone are not enough: "ation",
 * "tion_", "check" and the like make some combinations of common letters far
 * more frequent than the letters suggest.
 */
const SAMPLE_TEXT = [
  "The deployment finished at 14:32 and the report was sent to the whole team. Please review the configuration before",
  "the next release: the database migration adds three columns to the orders table, and the notification service now",
  "retries failed deliveries with exponential backoff. Thanks for checking the documentation and updating the changelog.",
  "I created a new branch, fixed the failing integration tests, and opened a pull request for the authentication module.",
  "Could you summarize the customer feedback from last quarter? Most of the questions were about pricing, shipping times,",
  "invoices and account settings; a few asked how to export their data or change the language of the interface.",
  '{"id":"3f2b9c1e-7a4d-4b8e-9c2f-1d5e6a7b8c9d","status":"active","created_at":"2024-06-01T12:00:00Z","updated_at":null,',
  '"items":[{"name":"Widget","price":12.5,"quantity":3,"tags":["hardware","sale"]}],"description":"Customer asked for a',
  ' refund for the damaged shipment.","links":{"self":"https://api.example.com/v2/orders/1842?expand=items&page=2"}}',
  "2024-06-12T08:15:23.412Z INFO  http request_id=7c9e6679-7425-40de-944b-e07fc1f90ae7 method=GET path=/api/v1/users/42 status=200 duration_ms=35",
  "2024-06-12T08:15:24.003Z WARN  db   slow query table=sessions rows=1288 elapsed=1.84s host=10.0.3.17 pid=4121",
  "2024-06-12T08:15:24.950Z ERROR worker job=thumbnail-render attempt=3 error=\"connection reset by peer\" retry_in=30s",
  "export async function loadConfiguration(path: string): Promise<Config> {",
  '  const content = await readFile(path, "utf8");',
  "  if (!content.trim()) throw new Error(`empty configuration file: ${path}`);",
  "  return validateSchema(parse(content), { strict: true, allowUnknownKeys: false });",
  "}",
  "def handle_request(self, request, *args, **kwargs):",
  "    user = self.get_object(request.user.id)",
  "    return JsonResponse({'name': user.name, 'email_verified': user.is_verified})",
  "server:",
  "  port: 8080",
  "  read_timeout: 30s",
  "logging:",
  "  level: info",
  "  format: json",
  "image: registry.example.com/platform/checkout-service@sha256:9b2c0ad1e4f3a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1",
  "## Installation",
  "Run `npm install` and then `npm run build`; the output goes to ./dist. See CONTRIBUTING.md for the coding guidelines.",
].join("\n");

/** The sample as kernel bytes, and its positions by the byte found there. */
const SAMPLE = ((): { readonly bytes: Uint8Array; readonly at: ReadonlyMap<number, readonly number[]> } => {
  const bytes = new Uint8Array(SAMPLE_TEXT.length + LITERAL_FINGERPRINT);
  const at = new Map<number, number[]>();
  for (let p = 0; p < SAMPLE_TEXT.length; p += 1) {
    const b = kernelByte(SAMPLE_TEXT.charCodeAt(p));
    bytes[p] = b;
    const list = at.get(b);
    if (list === undefined) at.set(b, [p]);
    else list.push(p);
  }
  return { bytes, at };
})();

function popcount16(x: number): number {
  let n = 0;
  for (let v = x & 0xffff; v !== 0; v &= v - 1) n += 1;
  return n;
}

/**
 * How often a bucket with these nibble masks (low, high, per offset) fires on
 * the sample; plus, to order buckets the sample never sees fire, the share of
 * printable characters the four offsets admit together (below 1).
 */
function sampleFirings(masks: readonly number[]): number {
  const lo1 = masks[2] ?? 0;
  const hi1 = masks[3] ?? 0;
  const lo2 = masks[4] ?? 0;
  const hi2 = masks[5] ?? 0;
  const lo3 = masks[6] ?? 0;
  const hi3 = masks[7] ?? 0;
  const { bytes } = SAMPLE;
  let firings = 0;
  for (const [b, positions] of SAMPLE.at) {
    if ((((masks[0] ?? 0) >> (b & 15)) & ((masks[1] ?? 0) >> (b >> 4)) & 1) === 0) continue;
    for (const p of positions) {
      const b1 = bytes[p + 1] ?? 0;
      const b2 = bytes[p + 2] ?? 0;
      const b3 = bytes[p + 3] ?? 0;
      if ((lo1 >> (b1 & 15)) & (hi1 >> (b1 >> 4)) & (lo2 >> (b2 & 15)) & (hi2 >> (b2 >> 4)) & (lo3 >> (b3 & 15)) & (hi3 >> (b3 >> 4)) & 1) firings += 1;
    }
  }
  let share = 1;
  for (let o = 0; o < LITERAL_FINGERPRINT; o += 1) {
    // Printable ASCII: high nibbles 2 to 7, without DEL.
    const lo = masks[2 * o] ?? 0;
    const hi = (masks[2 * o + 1] ?? 0) & 0xfc;
    const admitted = popcount16(lo) * popcount16(hi) - ((hi >> 7) & (lo >> 15) & 1);
    share *= admitted / 95;
  }
  return firings + share;
}

/**
 * Assigns literals to the buckets so that the buckets rarely fire on
 * ordinary text (as counted on the sample): greedily, likeliest literals
 * first, then single moves between buckets while they lower the total.
 * Deterministic: the result depends only on the set of literals.
 */
function literalTables(literals: readonly string[]): LiteralTables {
  const masks = (literal: string): number[] => {
    const out: number[] = [];
    for (let o = 0; o < LITERAL_FINGERPRINT; o += 1) {
      let lo = 0;
      let hi = 0;
      for (const b of literalBytes(literal, o)) {
        lo |= 1 << (b & 15);
        hi |= 1 << (b >> 4);
      }
      out.push(lo, hi);
    }
    return out;
  };
  const costOf = sampleFirings;
  const sorted = [...new Set(literals)].sort();
  const literalMasks = sorted.map(masks);
  const union = (list: readonly number[]): number[] => {
    const m = new Array<number>(2 * LITERAL_FINGERPRINT).fill(0);
    for (const i of list) literalMasks[i]?.forEach((x, j) => (m[j] = (m[j] ?? 0) | x));
    return m;
  };
  const order = sorted.map((_, i) => i).sort((a, b) => costOf(literalMasks[b] ?? []) - costOf(literalMasks[a] ?? []) || a - b);
  const members: number[][] = Array.from({ length: BUCKETS }, () => []);
  const costs = new Array<number>(BUCKETS).fill(0);
  const costWith = (list: readonly number[]): number => (list.length === 0 ? 0 : costOf(union(list)));
  for (const i of order) {
    let best = 0;
    let bestDelta = Infinity;
    for (let b = 0; b < BUCKETS; b += 1) {
      const delta = costWith([...(members[b] ?? []), i]) - (costs[b] ?? 0);
      if (delta < bestDelta) {
        bestDelta = delta;
        best = b;
      }
    }
    members[best]?.push(i);
    costs[best] = costWith(members[best] ?? []);
  }
  // Two rounds of moves: more fit the sample better and ordinary text no better.
  for (let round = 0; round < 2; round += 1) {
    let moved = false;
    for (let from = 0; from < BUCKETS; from += 1) {
      for (const i of [...(members[from] ?? [])]) {
        const rest = (members[from] ?? []).filter((x) => x !== i);
        const saving = (costs[from] ?? 0) - costWith(rest);
        let best = -1;
        let bestGain = 1e-9;
        for (let to = 0; to < BUCKETS; to += 1) {
          if (to === from) continue;
          const gain = saving - (costWith([...(members[to] ?? []), i]) - (costs[to] ?? 0));
          if (gain > bestGain) {
            bestGain = gain;
            best = to;
          }
        }
        if (best >= 0) {
          members[from] = rest;
          members[best]?.push(i);
          costs[from] = costWith(rest);
          costs[best] = costWith(members[best] ?? []);
          moved = true;
        }
      }
    }
    if (!moved) break;
  }
  const tables = (): Uint8Array[][] => Array.from({ length: BUCKET_GROUPS }, () => Array.from({ length: LITERAL_FINGERPRINT }, () => new Uint8Array(16)));
  const lo = tables();
  const hi = tables();
  members.forEach((list, b) => {
    const m = union(list);
    const bit = 1 << (b % 8);
    for (let o = 0; o < LITERAL_FINGERPRINT; o += 1) {
      const loTable = lo[b >> 3]?.[o];
      const hiTable = hi[b >> 3]?.[o];
      if (loTable === undefined || hiTable === undefined) continue;
      for (let n = 0; n < 16; n += 1) {
        if (((m[2 * o] ?? 0) >> n) & 1) loTable[n] = (loTable[n] ?? 0) | bit;
        if (((m[2 * o + 1] ?? 0) >> n) & 1) hiTable[n] = (hiTable[n] ?? 0) | bit;
      }
    }
  });
  return { lo, hi };
}

// ---------------------------------------------------------------------------
// The WebAssembly kernel, generated from the filters

/** WebAssembly opcodes used below (core and the 0xfd SIMD prefix). */
const OP = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load8U: 0x2d,
  i32Store: 0x36,
  i32Store8: 0x3a,
  i32Const: 0x41,
  i64Const: 0x42,
  i32Eqz: 0x45,
  i32GeU: 0x4f,
  i32Ctz: 0x68,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32And: 0x71,
  i32Xor: 0x73,
  i32Shl: 0x74,
  i64Or: 0x84,
  i64Xor: 0x85,
  i64Shl: 0x86,
  i64ShrU: 0x88,
  i32WrapI64: 0xa7,
  i64ExtendI32U: 0xad,
} as const;
const SIMD = {
  load: 0x00,
  store: 0x0b,
  const: 0x0c,
  swizzle: 0x0e,
  i16x8Splat: 0x10,
  eq: 0x23,
  ne: 0x24,
  ltU: 0x26,
  and: 0x4e,
  or: 0x50,
  anyTrue: 0x53,
  bitmask: 0x64,
  narrowI16x8S: 0x65,
  shrU: 0x6d,
  sub: 0x71,
} as const;
const I32 = 0x7f;
const I64 = 0x7e;
const V128 = 0x7b;
const EMPTY_BLOCK = 0x40;

function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const vector = (items: readonly (readonly number[])[]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: readonly number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

/**
 * A function body under construction: `op`s are appended in order. Vector
 * constants live in locals set once before the loop (`constantLocals`): a
 * 16-byte immediate inside the loop would be rebuilt on every iteration.
 */
class Code {
  readonly bytes: number[] = [];
  readonly #constants = new Map<string, { local: number; bytes: number[] }>();
  readonly #firstConstantLocal: number;

  constructor(firstConstantLocal: number) {
    this.#firstConstantLocal = firstConstantLocal;
  }
  op(...codes: number[]): this {
    this.bytes.push(...codes);
    return this;
  }
  simd(code: number): this {
    return this.op(0xfd, ...uleb(code));
  }
  get(local: number): this {
    return this.op(OP.localGet, local);
  }
  set(local: number): this {
    return this.op(OP.localSet, local);
  }
  i32(n: number): this {
    return this.op(OP.i32Const, ...sleb(n));
  }
  /** An i64 constant that fits in 32 bits (shift counts, -1). */
  i64(n: number): this {
    return this.op(OP.i64Const, ...sleb(n));
  }
  /** v128.load from the address on the stack plus `offset` (alignment hint 0: loads are unaligned). */
  load(offset: number): this {
    return this.simd(SIMD.load).op(0, ...uleb(offset));
  }
  v128(bytes: ArrayLike<number>): this {
    const value = Array.from({ length: 16 }, (_, i) => (bytes[i] ?? 0) & 0xff);
    const key = value.join(",");
    let constant = this.#constants.get(key);
    if (constant === undefined) {
      constant = { local: this.#firstConstantLocal + this.#constants.size, bytes: value };
      this.#constants.set(key, constant);
    }
    return this.get(constant.local);
  }
  splat(byte: number): this {
    return this.v128(new Array<number>(16).fill(byte & 0xff));
  }
  /** How many constant locals the body uses, and the code that sets them. */
  constantLocals(): { count: number; init: number[] } {
    const init: number[] = [];
    for (const { local, bytes } of this.#constants.values()) init.push(0xfd, ...uleb(SIMD.const), ...bytes, OP.localSet, local);
    return { count: this.#constants.size, init };
  }
}

// Parameters and locals of the filter functions (`literals`, `anchorN`); vector constants follow them.
const L = { base: 0, count: 1, kinds: 2, i: 3, q: 4, acc: 5, v: 6, bits: 7, window: 8 } as const;
const FILTER_LOCALS = [
  [2, I32],
  [2, V128],
  [2, I64],
] as const;
const FIRST_CONSTANT = 9;
/** The literal function also keeps the nibbles of its four offsets. */
const NIBBLE_LOCALS = FIRST_CONSTANT;
const FIRST_LITERAL_CONSTANT = NIBBLE_LOCALS + 2 * LITERAL_FINGERPRINT;
const LITERAL_LOCALS = [...FILTER_LOCALS, [2 * LITERAL_FINGERPRINT, V128]] as const;

/** Pushes the lane mask (0xff where the byte test holds) for the 16 bytes at `offset` from the block's positions. */
function emitByteTest(code: Code, offset: number, test: ByteTest): void {
  // q = base + i + MIN_OFFSET, so that every memarg offset is non-negative; the chunk's lead-in covers MIN_OFFSET.
  code.get(L.q).load(offset - MIN_OFFSET);
  if (test.kind === "eq") {
    if (test.a === test.b) code.splat(test.a).simd(SIMD.eq);
    else code.op(OP.localTee, L.v).splat(test.a).simd(SIMD.eq).get(L.v).splat(test.b).simd(SIMD.eq).simd(SIMD.or);
  } else if (test.kind === "range") {
    code.splat(test.from).simd(SIMD.sub).splat(test.size).simd(SIMD.ltU);
  } else {
    code.set(L.v);
    code.v128(test.lo).get(L.v).splat(0x0f).simd(SIMD.and).simd(SIMD.swizzle);
    code.v128(test.hi).get(L.v).i32(4).simd(SIMD.shrU).simd(SIMD.swizzle);
    code.simd(SIMD.and).splat(0).simd(SIMD.ne);
  }
}

/**
 * Pushes the lane mask of a test over a range of offsets. Per block: the byte
 * test over the 16 + width - 1 bytes involved, as a 64-bit mask (one
 * `bitmask` per 16 bytes); then "some bit among `width` from bit j" for every
 * lane j at once, by ORing shifted copies (widths doubling, then the binary
 * digits of `width`); "every" is "not some" of the complement. Back to a lane
 * mask: each lane picks its bit of the 16-bit result.
 */
function emitRangeTest(code: Code, test: CompiledTest): void {
  const width = test.to - test.from + 1;
  const every = test.quantifier === "every";
  for (let k = 0; k * 16 < 15 + width; k += 1) {
    emitByteTest(code, test.from + 16 * k, test.byte);
    code.simd(SIMD.bitmask).op(OP.i64ExtendI32U);
    if (k > 0) code.i64(16 * k).op(OP.i64Shl, OP.i64Or);
  }
  if (every) code.i64(-1).op(OP.i64Xor);
  code.set(L.bits);
  code.i64(0).set(L.window);
  let shift = 0;
  for (let level = 0; 1 << level <= width; level += 1) {
    const span = 1 << level;
    if ((width & span) !== 0) {
      code.get(L.window).get(L.bits).i64(shift).op(OP.i64ShrU, OP.i64Or).set(L.window);
      shift += span;
    }
    if (span * 2 <= width) code.get(L.bits).get(L.bits).i64(span).op(OP.i64ShrU, OP.i64Or).set(L.bits);
  }
  code.get(L.window).op(OP.i32WrapI64);
  if (every) code.i32(-1).op(OP.i32Xor);
  code.simd(SIMD.i16x8Splat).v128([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]).simd(SIMD.swizzle);
  const bit = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
  code.v128(bit).simd(SIMD.and).v128(bit).simd(SIMD.eq);
}

function emitTest(code: Code, test: CompiledTest): void {
  if (test.from === test.to) emitByteTest(code, test.from, test.byte);
  else emitRangeTest(code, test);
}

/** Pushes the lane mask of a condition: OR over its terms of the AND of each term's tests. */
function emitCondition(code: Code, condition: CompiledCondition): void {
  condition.forEach((term, i) => {
    term.forEach((test, j) => {
      emitTest(code, test);
      if (j > 0) code.simd(SIMD.and);
    });
    if (i > 0) code.simd(SIMD.or);
  });
}

/** Opens the loop over the blocks of a filter function: `q` is set for block `i`; close with closeBlockLoop. */
function openBlockLoop(code: Code): void {
  code.op(OP.block, EMPTY_BLOCK, OP.loop, EMPTY_BLOCK);
  code.get(L.i).get(L.count).op(OP.i32GeU, OP.brIf, 1);
  code.get(L.base).get(L.i).op(OP.i32Add).i32(-MIN_OFFSET).op(OP.i32Sub).set(L.q);
}

function closeBlockLoop(code: Code): void {
  code.get(L.i).i32(16).op(OP.i32Add).set(L.i);
  code.op(OP.br, 0, OP.end, OP.end);
}

/** `literals(base, count, kinds)`: stores, per position, 1 where the literal filter fires and 0 elsewhere. */
function literalFunction(literals: LiteralTables | undefined): Code {
  const code = new Code(FIRST_LITERAL_CONSTANT);
  openBlockLoop(code);
  code.get(L.kinds).get(L.i).op(OP.i32Add);
  if (literals === undefined) code.splat(0);
  else {
    // The low and high nibbles at each offset, shared by the groups of buckets.
    for (let o = 0; o < LITERAL_FINGERPRINT; o += 1) {
      code.get(L.q).load(o - MIN_OFFSET).op(OP.localTee, L.v).splat(0x0f).simd(SIMD.and).set(NIBBLE_LOCALS + 2 * o);
      code.get(L.v).i32(4).simd(SIMD.shrU).set(NIBBLE_LOCALS + 2 * o + 1);
    }
    // Per group of buckets, AND of the bucket bits at offsets 0..3; any bucket left fires.
    literals.lo.forEach((loTables, g) => {
      for (let o = 0; o < LITERAL_FINGERPRINT; o += 1) {
        code.v128(loTables[o] ?? []).get(NIBBLE_LOCALS + 2 * o).simd(SIMD.swizzle);
        code.v128(literals.hi[g]?.[o] ?? []).get(NIBBLE_LOCALS + 2 * o + 1).simd(SIMD.swizzle);
        code.simd(SIMD.and);
        if (o > 0) code.simd(SIMD.and);
      }
      if (g > 0) code.simd(SIMD.or);
    });
    code.splat(0).simd(SIMD.ne).splat(1).simd(SIMD.and);
  }
  code.simd(SIMD.store).op(0, 0);
  closeBlockLoop(code);
  return code.op(OP.end);
}

/**
 * `anchorN(base, count, kinds)`: ORs `bit` into the positions where the
 * anchor holds. Conditions in order, leaving the block as soon as none of its
 * positions is left; most blocks fail the first condition, so that path is
 * the shortest.
 */
function anchorFunction(anchor: CompiledAnchor, bit: number): Code {
  const code = new Code(FIRST_CONSTANT);
  openBlockLoop(code);
  code.op(OP.block, EMPTY_BLOCK);
  anchor.conditions.forEach((condition, c) => {
    if (c > 0) code.get(L.acc);
    emitCondition(code, condition);
    if (c > 0) code.simd(SIMD.and);
    code.op(OP.localTee, L.acc).simd(SIMD.anyTrue).op(OP.i32Eqz, OP.brIf, 0);
  });
  code.get(L.kinds).get(L.i).op(OP.i32Add);
  code.get(L.kinds).get(L.i).op(OP.i32Add).load(0).get(L.acc).splat(bit).simd(SIMD.and).simd(SIMD.or);
  code.simd(SIMD.store).op(0, 0);
  code.op(OP.end);
  closeBlockLoop(code);
  return code.op(OP.end);
}

/** `emit(count, kinds, outPos, outKind) -> n`: writes each position with a non-zero byte in `kinds` to `outPos` (i32) and the byte to `outKind` (u8). */
function emitFunction(): Code {
  const E = { count: 0, kinds: 1, outPos: 2, outKind: 3, i: 4, k: 5, mask: 6, lane: 7, v: 8 } as const;
  const code = new Code(9);
  code.op(OP.block, EMPTY_BLOCK, OP.loop, EMPTY_BLOCK);
  code.get(E.i).get(E.count).op(OP.i32GeU, OP.brIf, 1);
  code.get(E.kinds).get(E.i).op(OP.i32Add).load(0).op(OP.localTee, E.v).simd(SIMD.anyTrue).op(OP.if, EMPTY_BLOCK);
  code.get(E.v).splat(0).simd(SIMD.ne).simd(SIMD.bitmask).set(E.mask);
  code.op(OP.block, EMPTY_BLOCK, OP.loop, EMPTY_BLOCK);
  code.get(E.mask).op(OP.i32Eqz, OP.brIf, 1);
  code.get(E.mask).op(OP.i32Ctz).get(E.i).op(OP.i32Add).set(E.lane);
  code.get(E.outPos).get(E.k).i32(2).op(OP.i32Shl, OP.i32Add).get(E.lane).op(OP.i32Store, 2, 0);
  code.get(E.outKind).get(E.k).op(OP.i32Add).get(E.kinds).get(E.lane).op(OP.i32Add, OP.i32Load8U, 0, 0, OP.i32Store8, 0, 0);
  code.get(E.k).i32(1).op(OP.i32Add).set(E.k);
  code.get(E.mask).get(E.mask).i32(1).op(OP.i32Sub, OP.i32And).set(E.mask);
  code.op(OP.br, 0, OP.end, OP.end);
  code.op(OP.end);
  code.get(E.i).i32(16).op(OP.i32Add).set(E.i);
  code.op(OP.br, 0, OP.end, OP.end);
  return code.get(E.k).op(OP.end);
}

/** `narrow(src, dst, count)`: UTF-16 code units to kernel bytes, 16 per step. */
function narrowFunction(): Code {
  const N = { src: 0, dst: 1, count: 2, i: 3 } as const;
  const code = new Code(4);
  code.op(OP.block, EMPTY_BLOCK, OP.loop, EMPTY_BLOCK);
  code.get(N.i).get(N.count).op(OP.i32GeU, OP.brIf, 1);
  code.get(N.dst).get(N.i).op(OP.i32Add);
  code.get(N.src).get(N.i).i32(1).op(OP.i32Shl, OP.i32Add).load(0);
  code.get(N.src).get(N.i).i32(1).op(OP.i32Shl, OP.i32Add).load(16);
  code.simd(SIMD.narrowI16x8S);
  code.simd(SIMD.store).op(0, 0);
  code.get(N.i).i32(16).op(OP.i32Add).set(N.i);
  code.op(OP.br, 0, OP.end, OP.end);
  return code.op(OP.end);
}

/**
 * The module. Per chunk, JavaScript calls `narrow` (UTF-16 to kernel bytes),
 * `literals` (which sets a byte per position: bit 0 for the literal filter),
 * `anchor0`… (each ORs its bit into those bytes), and `emit` (which lists
 * the positions with a byte set). One small function per filter, each a pass
 * over the chunk (which stays in cache), rather than one function doing it
 * all: a function with many live vector values is compiled to much slower
 * code (measured: the seven anchors together cost 2.5 times the sum of each
 * alone).
 */
function kernelModule(literals: LiteralTables | undefined, anchors: readonly CompiledAnchor[]): Uint8Array {
  const functions: { name: string; type: number; code: Code; locals: readonly (readonly number[])[] }[] = [
    { name: "narrow", type: 0, code: narrowFunction(), locals: [[1, I32]] },
    { name: "literals", type: 0, code: literalFunction(literals), locals: LITERAL_LOCALS },
    ...anchors.map((anchor, a) => ({ name: `anchor${a}`, type: 0, code: anchorFunction(anchor, 2 << a), locals: FILTER_LOCALS })),
    { name: "emit", type: 1, code: emitFunction(), locals: [[4, I32], [1, V128]] },
  ];
  const body = (code: Code, locals: readonly (readonly number[])[]): number[] => {
    const constants = code.constantLocals();
    const bytes = [...vector([...locals, [constants.count, V128]]), ...constants.init, ...code.bytes];
    return [...uleb(bytes.length), ...bytes];
  };
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(
      1,
      vector([
        [0x60, ...vector([[I32], [I32], [I32]]), ...vector([])],
        [0x60, ...vector([[I32], [I32], [I32], [I32]]), ...vector([[I32]])],
      ]),
    ),
    ...section(3, vector(functions.map((f) => [f.type]))),
    ...section(5, vector([[0x00, ...uleb(MEMORY_PAGES)]])),
    ...section(7, vector([...functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]), [...name("memory"), 0x02, 0]])),
    ...section(10, vector(functions.map((f) => body(f.code, f.locals)))),
  ]);
}

// ---------------------------------------------------------------------------
// Memory layout of one chunk

/** Characters per chunk. */
export const CHUNK = 1 << 16;
/** Characters before a chunk that filters look at (offsets down to MIN_OFFSET), rounded to 16. */
const LEAD_IN = 16;
/** Characters after a chunk: the last block of 16, MAX_OFFSET, and the loads of a range test, rounded up. */
const LEAD_OUT = 16 * Math.ceil((MAX_OFFSET + 48) / 16);
const WINDOW = LEAD_IN + CHUNK + LEAD_OUT;
const U16_AT = 64;
const BYTES_AT = U16_AT + 2 * (WINDOW + 16);
const KINDS_AT = BYTES_AT + WINDOW + 32;
const OUT_POS_AT = KINDS_AT + CHUNK + 16;
const OUT_KIND_AT = OUT_POS_AT + 4 * (CHUNK + 16);
const MEMORY_END = OUT_KIND_AT + CHUNK + 16;
const MEMORY_PAGES = Math.ceil(MEMORY_END / 65536);

interface Kernel {
  readonly narrow: (src: number, dst: number, count: number) => void;
  /** `literals` first (it initialises the filter bytes), then the anchors. */
  readonly filters: readonly ((base: number, count: number, kinds: number) => void)[];
  readonly emit: (count: number, kinds: number, outPos: number, outKind: number) => number;
  readonly memory: Buffer;
  /** The same memory as plain bytes, for reading in JavaScript. */
  readonly bytes: Uint8Array;
  readonly outPos: Int32Array;
  readonly outKind: Uint8Array;
}

/** The part of the WebAssembly JavaScript API used here (the project's TypeScript lib settings do not declare it). */
interface WebAssemblyApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
}

function instantiate(bytes: Uint8Array, anchors: number): Kernel | undefined {
  const api = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  if (api === undefined) return undefined;
  try {
    const exports = new api.Instance(new api.Module(bytes), {}).exports;
    const memory = exports.memory as { buffer: ArrayBuffer };
    type Filter = Kernel["filters"][number];
    return {
      narrow: exports.narrow as Kernel["narrow"],
      filters: [exports.literals as Filter, ...Array.from({ length: anchors }, (_, a) => exports[`anchor${a}`] as Filter)],
      emit: exports.emit as Kernel["emit"],
      memory: Buffer.from(memory.buffer),
      bytes: new Uint8Array(memory.buffer),
      outPos: new Int32Array(memory.buffer, OUT_POS_AT, CHUNK + 16),
      outKind: new Uint8Array(memory.buffer, OUT_KIND_AT, CHUNK + 16),
    };
  } catch {
    // No WebAssembly SIMD here: the JavaScript implementation takes over.
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// The prefilter

/** Receives each position where some filter fired, with the filter bits (bit 0: literal, bit 1 + i: anchor i), in increasing order. */
export type CandidateSink = (position: number, kinds: number) => void;

/** Receives what a scan found, in increasing order of position. */
export interface HitSink {
  /** The literal with index `literal` (in the constructor's list) occurs at `position`, ignoring ASCII case. */
  literal(position: number, literal: number): void;
  /** The anchors in `bits` (bit i: anchor i) hold at `position`. */
  anchors(position: number, bits: number): void;
}

export type PrefilterBackend = "wasm" | "js";

/** One chunk of filter output: `count` positions from `start`; kernel bytes of position `start + i` at `bytes[base + i]`. */
type ChunkSink = (start: number, count: number, bytes: Uint8Array, base: number, positions: ArrayLike<number>, kinds: ArrayLike<number>, found: number) => void;

/** ASCII case folding on kernel bytes; bytes that stand for no ASCII literal character (DEL, non-ASCII) become 0. */
const FOLD: Uint8Array = (() => {
  const fold = new Uint8Array(256);
  for (let b = 0; b < 0x7f; b += 1) fold[b] = b >= 65 && b <= 90 ? b + 32 : b;
  return fold;
})();

export class Prefilter {
  readonly #literalTables: LiteralTables | undefined;
  /** The literals' codes (lower case) by index, and the indexes of the literals by their first two codes (`c0 * 128 + c1`). */
  readonly #literals: readonly Uint8Array[];
  readonly #byPrefix: readonly (readonly number[] | undefined)[];
  readonly #anchors: readonly CompiledAnchor[];
  #kernel: Kernel | undefined | null = null;

  /** `literals`: printable ASCII, two to LEAD_OUT characters, matched ignoring ASCII case. */
  constructor(literals: readonly string[], anchors: readonly Anchor[]) {
    if (anchors.length > MAX_ANCHORS) throw new Error(`At most ${MAX_ANCHORS} anchors: ${anchors.map((a) => a.id).join(", ")}`);
    for (const literal of literals) {
      if (!/^[\x20-\x7e]+$/.test(literal) || literal.length < 2 || literal.length > LEAD_OUT) throw new Error(`Prefilter literals are printable ASCII, 2 to ${LEAD_OUT} characters: ${JSON.stringify(literal)}`);
    }
    this.#literalTables = literals.length > 0 ? literalTables(literals.map((l) => l.toLowerCase())) : undefined;
    this.#literals = literals.map((l) => Uint8Array.from(l.toLowerCase(), (c) => c.charCodeAt(0)));
    // Filled, not sparse: a sparse array would be a dictionary, slow to index for every candidate.
    const byPrefix = Array.from({ length: 128 * 128 }, (): number[] | undefined => undefined);
    this.#literals.forEach((codes, id) => {
      const key = (codes[0] ?? 0) * 128 + (codes[1] ?? 0);
      (byPrefix[key] ??= []).push(id);
    });
    this.#byPrefix = byPrefix;
    this.#anchors = anchors.map(compileAnchor);
  }

  /** Which implementation `scan` uses by default: WebAssembly unless it is unavailable. */
  backend(): PrefilterBackend {
    return this.#kernelOrUndefined() === undefined ? "js" : "wasm";
  }

  #kernelOrUndefined(): Kernel | undefined {
    if (this.#kernel === null) this.#kernel = instantiate(kernelModule(this.#literalTables, this.#anchors), this.#anchors.length);
    return this.#kernel;
  }

  /** Bit 0 for the literal filter, bit 1 + i for anchor i: the `filters` of `scan`. */
  allFilters(): number {
    return (2 << this.#anchors.length) - 1;
  }

  /** Reports every occurrence of a literal and every position where an anchor holds, for the `filters` asked for (a bit mask, see allFilters). */
  scan(text: string, sink: HitSink, backend: PrefilterBackend = "wasm", filters = this.allFilters()): void {
    const byPrefix = this.#byPrefix;
    const literals = this.#literals;
    this.#run(text, backend, filters, (start, count, bytes, base, positions, kinds, found) => {
      for (let k = 0; k < found; k += 1) {
        const i = positions[k] ?? count;
        // Positions past the chunk's end belong to the next chunk.
        if (i >= count) continue;
        const bits = kinds[k] ?? 0;
        if ((bits & 1) !== 0) {
          // The filter admits more than the literals: check each literal sharing the first two characters, on the kernel bytes
          // (ASCII as itself, anything else as a byte that folds to 0 and so matches no literal character).
          const at = base + i;
          const group = byPrefix[(FOLD[bytes[at] ?? 0] ?? 0) * 128 + (FOLD[bytes[at + 1] ?? 0] ?? 0)];
          if (group !== undefined) {
            for (const id of group) {
              const codes = literals[id] ?? EMPTY;
              let j = 2;
              while (j < codes.length && FOLD[bytes[at + j] ?? 0] === codes[j]) j += 1;
              if (j === codes.length) sink.literal(start + i, id);
            }
          }
        }
        if (bits > 1) sink.anchors(start + i, bits >> 1);
      }
    });
  }

  /** The raw output of the filters, before literals are checked: for tests of the kernel against the JavaScript implementation. */
  candidates(text: string, sink: CandidateSink, backend: PrefilterBackend = "wasm", filters = this.allFilters()): void {
    this.#run(text, backend, filters, (start, count, _bytes, _base, positions, kinds, found) => {
      for (let k = 0; k < found; k += 1) {
        const i = positions[k] ?? count;
        if (i < count) sink(start + i, kinds[k] ?? 0);
      }
    });
  }

  #run(text: string, backend: PrefilterBackend, filters: number, onChunk: ChunkSink): void {
    const kernel = backend === "wasm" ? this.#kernelOrUndefined() : undefined;
    if (kernel === undefined) this.#runJs(text, filters, onChunk);
    else this.#runWasm(kernel, text, filters, onChunk);
  }

  #runWasm(kernel: Kernel, text: string, filters: number, onChunk: ChunkSink): void {
    const { memory, outPos, outKind } = kernel;
    const passes = kernel.filters.filter((_, f) => f > 0 && ((filters >> f) & 1) === 1);
    const literals = (filters & 1) === 1 ? kernel.filters[0] : undefined;
    const n = text.length;
    for (let start = 0; start < n; start += CHUNK) {
      const end = Math.min(n, start + CHUNK);
      // The window [start - LEAD_IN, end + LEAD_OUT) in text coordinates; what lies outside the text reads as 0.
      const windowStart = start - LEAD_IN;
      const windowEnd = end + LEAD_OUT;
      const from = Math.max(0, windowStart);
      const to = Math.min(n, windowEnd);
      if (from > windowStart) memory.fill(0, U16_AT, U16_AT + 2 * (from - windowStart));
      memory.write(text.slice(from, to), U16_AT + 2 * (from - windowStart), "utf16le");
      if (to < windowEnd) memory.fill(0, U16_AT + 2 * (to - windowStart), U16_AT + 2 * (windowEnd - windowStart));
      kernel.narrow(U16_AT, BYTES_AT, windowEnd - windowStart);
      const count = end - start;
      // The literal pass sets every position's filter byte; without it, clear them.
      if (literals !== undefined) literals(BYTES_AT + LEAD_IN, count, KINDS_AT);
      else memory.fill(0, KINDS_AT, KINDS_AT + count + 16);
      for (const pass of passes) pass(BYTES_AT + LEAD_IN, count, KINDS_AT);
      const found = kernel.emit(count, KINDS_AT, OUT_POS_AT, OUT_KIND_AT);
      onChunk(start, count, kernel.bytes, BYTES_AT + LEAD_IN, outPos, outKind, found);
    }
  }

  /** The same filters, one position at a time: the fallback and the kernel's reference. One chunk: the whole text. */
  #runJs(text: string, filters: number, onChunk: ChunkSink): void {
    const n = text.length;
    const bytes = new Uint8Array(LEAD_IN + n + LEAD_OUT);
    for (let p = 0; p < n; p += 1) bytes[LEAD_IN + p] = kernelByte(text.charCodeAt(p));
    const byteAt = (p: number): number => bytes[LEAD_IN + p] ?? 0;
    const holds = (t: CompiledTest, p: number): boolean => {
      for (let o = t.from; o <= t.to; o += 1) {
        const accepted = t.accepts[byteAt(p + o)] === 1;
        if (accepted === (t.quantifier === "some")) return accepted;
      }
      return t.quantifier === "every";
    };
    const literals = (filters & 1) === 1 ? this.#literalTables : undefined;
    const anchors = this.#anchors.filter((_, a) => ((filters >> (a + 1)) & 1) === 1);
    const bits = this.#anchors.map((_, a) => 2 << a).filter((bit) => (filters & bit) !== 0);
    const positions: number[] = [];
    const kinds: number[] = [];
    for (let p = 0; p < n; p += 1) {
      let found = 0;
      if (literals !== undefined) {
        for (let g = 0; g < literals.lo.length && found === 0; g += 1) {
          let buckets = 0xff;
          for (let o = 0; o < LITERAL_FINGERPRINT && buckets !== 0; o += 1) {
            const b = byteAt(p + o);
            buckets &= (literals.lo[g]?.[o]?.[b & 15] ?? 0) & (literals.hi[g]?.[o]?.[b >> 4] ?? 0);
          }
          if (buckets !== 0) found = 1;
        }
      }
      anchors.forEach((anchor, a) => {
        if (anchor.conditions.every((condition) => condition.some((term) => term.every((t) => holds(t, p))))) found |= bits[a] ?? 0;
      });
      if (found !== 0) {
        positions.push(p);
        kinds.push(found);
      }
    }
    onChunk(0, n, bytes, LEAD_IN, positions, kinds, positions.length);
  }
}

const EMPTY = new Uint8Array(0);
