/**
 * The prefilter (src/guard/detectors/prefilter.ts) and the scanning built on
 * it: the WebAssembly kernel must report exactly what its JavaScript
 * reference reports, trigger positions must be exactly those of a plain
 * search, and every detector must find the same spans with the prefilter as
 * without it (whole-text regexes, "reference" mode) — at chunk boundaries,
 * with upper- and lower-case triggers, at the very start and end of the text,
 * and next to non-ASCII characters.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { ALL_DETECTORS, scanText, type Finding } from "../../../src/guard/detectors/index.ts";
import { activeScanMode, anchorHits, registeredAnchors, registeredTriggers, setScanMode, triggerHits, type ScanMode } from "../../../src/guard/detectors/pattern.ts";
import {
  CHUNK,
  MAX_OFFSET,
  MIN_OFFSET,
  Prefilter,
  charSet,
  every,
  kernelByte,
  oneOf,
  some,
  type Anchor,
  type AnchorCondition,
  type AnchorTest,
  type CharSet,
} from "../../../src/guard/detectors/prefilter.ts";
import { ALNUM, Rng, buildCorpus, mixedText } from "./corpus.ts";

after(() => setScanMode("wasm"));

/** Runs `fn` with the index in `mode`, restoring the previous mode. */
function inMode<T>(mode: ScanMode, fn: () => T): T {
  const previous = setScanMode(mode);
  try {
    return fn();
  } finally {
    setScanMode(previous);
  }
}

function rawCandidates(pf: Prefilter, text: string, backend: "wasm" | "js", filters?: number): number[] {
  const out: number[] = [];
  pf.candidates(text, (p, kinds) => out.push(p, kinds), backend, filters);
  return out;
}

function hitsOf(pf: Prefilter, text: string, backend: "wasm" | "js", filters?: number): string[] {
  const out: string[] = [];
  pf.scan(text, { literal: (p, id) => out.push(`L${id}@${p}`), anchors: (p, bits) => out.push(`A${bits}@${p}`) }, backend, filters);
  return out;
}

/** Every occurrence of each literal, ignoring ASCII case, the slow way. */
function naiveLiteralHits(text: string, literals: readonly string[]): string[] {
  const out: [number, number][] = [];
  const lower = (c: number): number => (c >= 65 && c <= 90 ? c + 32 : c);
  literals.forEach((literal, id) => {
    for (let p = 0; p + literal.length <= text.length; p += 1) {
      let j = 0;
      while (j < literal.length && lower(text.charCodeAt(p + j)) === literal.toLowerCase().charCodeAt(j)) j += 1;
      if (j === literal.length) out.push([p, id]);
    }
  });
  return out.sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([p, id]) => `L${id}@${p}`);
}

/** Random text over an alphabet that exercises triggers, digits, separators and non-ASCII characters, with `inserts` placed at given offsets. */
function randomText(r: Rng, length: number, alphabet: string, inserts: readonly (readonly [number, string])[] = []): string {
  let text = "";
  while (text.length < length) text += alphabet.charAt(r.int(0, alphabet.length - 1));
  for (const [at, s] of inserts) text = text.slice(0, at) + s + text.slice(at + s.length);
  return text.slice(0, length);
}

const isTest = (x: AnchorTest | readonly AnchorTest[]): x is AnchorTest => !Array.isArray(x) || typeof x[0] === "number";

/** The alternatives of a condition, each a list of tests that must all hold. */
function termsOf(condition: AnchorCondition): (readonly AnchorTest[])[] {
  return "anyOf" in condition ? condition.anyOf.map((t) => (isTest(t) ? [t] : t)) : [[condition]];
}

/** An independent reading of an anchor: does it hold at `p`? */
function anchorHolds(anchor: Anchor, byteAt: (p: number) => number, p: number): boolean {
  const holds = (t: AnchorTest): boolean => {
    if (Array.isArray(t)) {
      const [offset, set] = t as readonly [number, CharSet];
      return set.bytes[byteAt(p + offset)] === 1;
    }
    const range = t as Exclude<AnchorTest, readonly [number, CharSet]>;
    const offsets = Array.from({ length: range.to - range.from + 1 }, (_, i) => range.from + i);
    const inSet = (o: number): boolean => range.set.bytes[byteAt(p + o)] === 1;
    return range.quantifier === "some" ? offsets.some(inSet) : offsets.every(inSet);
  };
  return anchor.at.every((c) => termsOf(c).some((term) => term.every(holds)));
}

const NOISY = "aAbBeEkKsStTyY0123456789 _-.:=/@+()\n\t\"'éß日\u{1F600}ı";

describe("prefilter: character sets and anchors", () => {
  test("charSet takes the ASCII members of a regex class, and non-ASCII characters only when told", () => {
    const digits = charSet(/[0-9]/, false);
    assert.deepEqual(["0", "9", "a"].map((c) => digits.bytes[c.charCodeAt(0)]), [1, 1, 0]);
    assert.equal(digits.bytes[kernelByte(0xe9)], 0);
    const boundary = charSet(/[^\w.+-]/, true);
    for (const code of [0xe9, 0x131, 0x65e5, 0xd83d, 0x20, 0x00]) assert.equal(boundary.bytes[kernelByte(code)], 1, code.toString(16));
    for (const c of ["a", "Z", "9", "_", ".", "+", "-"]) assert.equal(boundary.bytes[c.charCodeAt(0)], 0, c);
    assert.throws(() => charSet(/[0-9]/g, false));
  });

  test("kernel bytes: ASCII as itself, other characters as 0x7f or 0x80, never as an ASCII letter or digit", () => {
    assert.equal(kernelByte(0x41), 0x41);
    assert.equal(kernelByte(0x131), 0x7f); // dotless i: its low byte would be "1"
    assert.equal(kernelByte(0x4e61), 0x7f); // its low byte would be "a"
    assert.equal(kernelByte(0xd83d), 0x80);
    assert.equal(kernelByte(0xff), 0x7f);
  });

  test("oneOf is exactly the given characters", () => {
    const s = oneOf(":=");
    assert.deepEqual([...s.bytes.keys()].filter((b) => s.bytes[b] === 1), [0x3a, 0x3d]);
  });

  test("rejects anchors the kernel cannot evaluate", () => {
    const digits = charSet(/[0-9]/, false);
    assert.throws(() => new Prefilter([], [{ id: "x", at: [[MAX_OFFSET + 1, digits]] }]));
    assert.throws(() => new Prefilter([], [{ id: "x", at: [[MIN_OFFSET - 1, digits]] }]));
    assert.throws(() => new Prefilter([], [{ id: "x", at: [some(0, 60, digits)] }]));
    assert.throws(() => new Prefilter([], [{ id: "x", at: [[0, charSet(/[\s\S]/, true)]] }]));
    assert.throws(() => new Prefilter(["x"], []));
    assert.throws(() => new Prefilter(["é!"], []));
  });
});

describe("prefilter: the WebAssembly kernel matches the JavaScript reference", () => {
  const digits = charSet(/[0-9]/, false);
  const word = charSet(/\w/, false);
  const anchors: Anchor[] = [
    { id: "digits after a boundary", at: [[0, digits], [1, digits], [-1, charSet(/[^\w.+-]/, true)]] },
    { id: "separator then a long run", at: [[0, oneOf(":=")], every(1, 20, word), { anyOf: [some(1, 40, charSet(/[A-Z]/, false)), every(21, 48, word)] }] },
    { id: "dot pattern", at: [[0, oneOf(".")], [7, oneOf(".")], [-1, word]] },
    { id: "alternatives", at: [{ anyOf: [[0, oneOf("+")], [[0, oneOf("0")], [1, digits]]] }, [MAX_OFFSET, charSet(/[^\s]/, true)]] },
    { id: "far back", at: [[MIN_OFFSET, oneOf("k")], [0, oneOf("=")]] },
  ];
  const literals = ["key", "token", "ghp_", "-----begin ", ":a", "sk-", "aws", "password", "eyj"];
  const prefilter = new Prefilter(literals, anchors);

  test("the kernel is available here (Node 24 has WebAssembly SIMD)", () => {
    assert.equal(prefilter.backend(), "wasm");
    assert.equal(activeScanMode(), "wasm");
  });

  test("without WebAssembly the JavaScript implementation takes over, with the same hits", () => {
    const text = randomText(new Rng(4), 5_000, NOISY);
    const expected = hitsOf(prefilter, text, "wasm");
    const global = globalThis as { WebAssembly?: unknown };
    const saved = global.WebAssembly;
    try {
      delete global.WebAssembly;
      const fallback = new Prefilter(literals, anchors);
      assert.equal(fallback.backend(), "js");
      assert.deepEqual(hitsOf(fallback, text, "wasm"), expected);
    } finally {
      global.WebAssembly = saved;
    }
  });

  test("same raw candidates on random text, across chunk boundaries", () => {
    const r = new Rng(5);
    for (const length of [0, 1, 15, 16, 17, 100, 4_000, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 37]) {
      const text = randomText(r, length, NOISY);
      assert.deepEqual(rawCandidates(prefilter, text, "wasm"), rawCandidates(prefilter, text, "js"), `length ${length}`);
    }
  });

  test("same raw candidates for every subset of filters", () => {
    const text = randomText(new Rng(6), CHUNK + 500, NOISY);
    for (const filters of [0, 1, 2, 4, 6, 1 | 8, 32, prefilter.allFilters()]) {
      assert.deepEqual(rawCandidates(prefilter, text, "wasm", filters), rawCandidates(prefilter, text, "js", filters), `filters ${filters}`);
    }
  });

  test("each anchor fires exactly where its conditions hold", () => {
    const text = randomText(new Rng(7), 3_000, NOISY);
    const byteAt = (p: number): number => (p < 0 || p >= text.length ? 0 : kernelByte(text.charCodeAt(p)));
    const out = rawCandidates(prefilter, text, "wasm", prefilter.allFilters() & ~1);
    const reported = new Map<number, number>();
    for (let i = 0; i < out.length; i += 2) reported.set(out[i] ?? 0, out[i + 1] ?? 0);
    anchors.forEach((anchor, a) => {
      for (let p = 0; p < text.length; p += 1) assert.equal(((reported.get(p) ?? 0) >> (a + 1)) & 1, anchorHolds(anchor, byteAt, p) ? 1 : 0, `${anchor.id} at ${p}`);
    });
  });
});

describe("prefilter: literal hits are exactly those of a plain search", () => {
  const literals = ["key", "token", "ghp_", "-----begin ", ":a", "sk-", "sk-ant-", "aws", "password", "https://canary.discord"];
  const prefilter = new Prefilter(literals, []);
  const check = (text: string, label: string): void => {
    const expected = naiveLiteralHits(text, literals);
    assert.deepEqual(hitsOf(prefilter, text, "wasm"), expected, `${label} (wasm)`);
    assert.deepEqual(hitsOf(prefilter, text, "js"), expected, `${label} (js)`);
  };

  test("upper, lower and mixed case", () => {
    check("KEY key Key kEy TOKEN Token GHP_x ghp_x SK-ANT-x sk-ant-x Sk-x PassWord", "cases");
  });

  test("at the very start and the very end of the text", () => {
    check("key", "only a trigger");
    check("token and then a key", "start and end");
    check("xx:a", "two-character trigger at the end");
    check("ke", "a cut-off trigger");
  });

  test("next to non-ASCII characters, which never stand in for ASCII ones", () => {
    check("ékeyé 日token日 \u{1F600}ghp_\u{1F600} ıkey k\u0131y \u212Aey sk\u2010ant", "non-ASCII");
    // U+0131 and U+4E61 have ASCII low bytes ("1", "a"); they must not complete a trigger.
    check(":\u4e61 :a \u0161ws aws", "low bytes");
  });

  test("overlapping triggers are all reported", () => {
    check("sk-ant-sk-ant-keykeytokentoken", "overlaps");
  });

  test("triggers cut by a chunk boundary, at every offset", () => {
    for (const literal of ["key", "-----begin ", "https://canary.discord", ":a"]) {
      for (let shift = -literal.length - 1; shift <= 1; shift += 1) {
        const text = randomText(new Rng(shift + 100), 2 * CHUNK + 10, "abc xyz 123\n", [
          [CHUNK + shift, literal.toUpperCase()],
          [2 * CHUNK + shift, literal],
        ]);
        check(text, `${literal} at chunk boundary ${shift}`);
      }
    }
  });

  test("random text dense in triggers", () => {
    const r = new Rng(9);
    const parts = [...literals, ...literals.map((l) => l.toUpperCase()), "é", "日", " ", "k", "e", "y", "\u{1F600}"];
    let text = "";
    while (text.length < CHUNK + 3_000) text += r.pick(parts);
    check(text, "dense");
  });
});

describe("scanning with the prefilter finds what scanning without it finds", () => {
  /** Findings of every detector, each run on its own (so that overlapping findings of different detectors all show). */
  const findAll = (text: string): string[] => ALL_DETECTORS.flatMap((d) => d.find(text).map((f) => `${f.detector}:${f.start}-${f.end}`)).sort();
  const compare = (text: string, label: string): void => {
    const reference = inMode("reference", () => findAll(text));
    assert.deepEqual(inMode("wasm", () => findAll(text)), reference, `${label}: wasm`);
    assert.deepEqual(inMode("js", () => findAll(text)), reference, `${label}: js`);
  };

  test("on every corpus positive and negative", () => {
    const corpus = buildCorpus();
    const texts = corpus.flatMap((c) => [...c.positives.map((p) => p.text), ...c.negatives]);
    // Joined in batches, so that one scan covers many samples (and their neighbours).
    for (let i = 0; i < texts.length; i += 200) compare(texts.slice(i, i + 200).join("\n\n"), `corpus batch ${i / 200}`);
  });

  test("on mixed agent traffic longer than several chunks", () => {
    compare(mixedText(3 * CHUNK + 1_234, 7).text, "mixed text");
  });

  test("with corpus samples straddling chunk boundaries", () => {
    const corpus = buildCorpus();
    const r = new Rng(11);
    const samples = corpus.flatMap((c) => c.positives.slice(0, 3).map((p) => p.text));
    for (let round = 0; round < 4; round += 1) {
      let text = "";
      const boundary = CHUNK * (round + 1);
      while (text.length < boundary - 200) text += `${r.pick(samples)}\n`;
      // Start samples at every offset within the last few characters before the boundary.
      for (let k = 0; k < 12; k += 1) text = `${text.slice(0, boundary - 30 + k * 5)}${r.pick(samples)}\n`;
      compare(text, `boundary round ${round}`);
    }
  });

  test("on noisy text in upper and lower case, with non-ASCII characters around values", () => {
    const corpus = buildCorpus();
    const r = new Rng(13);
    const pieces = corpus.flatMap((c) => c.positives.slice(0, 2).map((p) => p.text));
    let text = "";
    while (text.length < CHUNK + 20_000) {
      const piece = r.pick(pieces);
      text += r.int(0, 3) === 0 ? piece.toUpperCase() : piece;
      text += r.pick(["é", "日本", "\u{1F600}", " ", "\n", "ı", "\u00a0"]);
    }
    compare(text, "noisy");
  });

  test("at the very start and end of the text", () => {
    const corpus = buildCorpus();
    for (const c of corpus) {
      const p = c.positives[0];
      if (p === undefined) continue;
      for (const v of p.values) {
        compare(v, `${c.id} value alone`);
        compare(`${v}é`, `${c.id} value then non-ASCII`);
      }
    }
  });

  test("scanText gives the same merged findings in every mode", () => {
    const { text } = mixedText(200_000, 3);
    const reference: Finding[] = inMode("reference", () => scanText(text, ALL_DETECTORS));
    assert.deepEqual(
      inMode("wasm", () => scanText(text, ALL_DETECTORS)),
      reference,
    );
    assert.ok(reference.length > 20);
  });
});

describe("the shared index", () => {
  test("trigger positions match a plain search for every registered trigger", () => {
    const { text } = mixedText(CHUNK + 10_000, 5);
    const wasm = inMode("wasm", () => new Map(triggerHits(text)));
    const reference = inMode("reference", () => new Map(triggerHits(text)));
    assert.deepEqual([...wasm.entries()].sort(), [...reference.entries()].sort());
    assert.ok(registeredTriggers().length > 100);
  });

  test("anchors asked for after the triggers are added to the same text's index", () => {
    const { text } = mixedText(50_000, 6);
    inMode("wasm", () => {
      triggerHits(text);
      const late = registeredAnchors().map((a) => [...(anchorHits(text, a) ?? [])]);
      setScanMode("wasm");
      const fresh = registeredAnchors().map((a) => [...(anchorHits(text, a) ?? [])]);
      assert.deepEqual(late, fresh);
      assert.ok(fresh.some((list) => list.length > 0));
    });
  });

  test("every registered anchor's character sets are tested exactly by the kernel", () => {
    // A set needing more than eight groups of high nibbles would be widened; none of ours does.
    const pf = new Prefilter([], registeredAnchors());
    const text = Array.from({ length: 0x7f }, (_, c) => String.fromCharCode(c)).join("") + "é日\u{1F600}";
    assert.deepEqual(rawCandidates(pf, text, "wasm"), rawCandidates(pf, text, "js"));
    for (const anchor of registeredAnchors()) {
      for (const test1 of anchor.at.flatMap((c) => termsOf(c).flat())) {
        const set = Array.isArray(test1) ? (test1 as readonly [number, CharSet])[1] : (test1 as { readonly set: CharSet }).set;
        const single = new Prefilter([], [{ id: "one", at: [[0, set]] }]);
        const fired = new Set<number>();
        single.candidates(text, (p) => fired.add(p), "wasm");
        for (let p = 0; p < text.length; p += 1) assert.equal(fired.has(p), set.bytes[kernelByte(text.charCodeAt(p))] === 1, `${anchor.id}, ${set.label}, at ${p}`);
      }
    }
  });

  test("findings do not depend on the chunk a value falls in", () => {
    const value = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5";
    const r = new Rng(17);
    for (const at of [0, CHUNK - 20, CHUNK - 1, CHUNK, CHUNK + 5]) {
      const filler = randomText(r, at, `${ALNUM}  \n`);
      const text = `${filler} ${value} tail`;
      const found = scanText(text, ALL_DETECTORS).filter((f) => f.detector === "github-pat");
      assert.deepEqual(found, [{ detector: "github-pat", start: at + 1, end: at + 1 + value.length }], `at ${at}`);
    }
  });
});
