/**
 * The multi-pattern matcher against a naive search: every occurrence of every
 * pattern is reported exactly once, across all length tiers, with hex folding
 * and with separators skipped — and characters outside Latin-1 whose low byte
 * looks like a letter are not mistaken for one.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MIN_PATTERN_LENGTH, MultiPatternMatcher, type MatcherPattern } from "../../src/guard/matcher.ts";

class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 1;
  }
  next(): number {
    this.#s ^= this.#s << 13;
    this.#s ^= this.#s >>> 17;
    this.#s ^= this.#s << 5;
    return (this.#s >>> 0) / 2 ** 32;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    const x = xs[Math.floor(this.next() * xs.length)];
    if (x === undefined) throw new Error("empty");
    return x;
  }
  str(alphabet: string, n: number): string {
    let out = "";
    for (let i = 0; i < n; i += 1) out += alphabet[Math.floor(this.next() * alphabet.length)] ?? "";
    return out;
  }
}

const isAlnum = (c: string): boolean => /^[0-9A-Za-z]$/.test(c);
const foldHex = (s: string): string => s.replace(/[A-F]/g, (c) => c.toLowerCase());

/** Every [start, end, index] the matcher should report, computed the slow, obvious way. */
function naive(patterns: readonly MatcherPattern[], text: string): string[] {
  const out: string[] = [];
  const alnumPositions: number[] = [];
  let stripped = "";
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i] ?? "";
    if (isAlnum(c)) {
      stripped += c;
      alnumPositions.push(i);
    }
  }
  patterns.forEach((p, index) => {
    if (p.skeleton === true) {
      const key = Array.from(p.text).filter(isAlnum).join("");
      if (key.length < MIN_PATTERN_LENGTH) return;
      const hay = p.foldHex === true ? foldHex(stripped) : stripped;
      const needle = p.foldHex === true ? foldHex(key) : key;
      for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + 1)) {
        out.push(`${String(alnumPositions[at])},${String((alnumPositions[at + key.length - 1] ?? 0) + 1)},${String(index)}`);
      }
      return;
    }
    if (p.text.length < MIN_PATTERN_LENGTH) return;
    const hay = p.foldHex === true ? foldHex(text) : text;
    const needle = p.foldHex === true ? foldHex(p.text) : p.text;
    for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + 1)) out.push(`${String(at)},${String(at + p.text.length)},${String(index)}`);
  });
  return out.sort();
}

function fast(patterns: readonly MatcherPattern[], text: string): string[] {
  const out: string[] = [];
  new MultiPatternMatcher(patterns).scan(text, (s, e, i) => out.push(`${String(s)},${String(e)},${String(i)}`));
  return out.sort();
}

describe("multi-pattern matcher", () => {
  test("finds exactly what a naive search finds, each occurrence once, for random patterns of every length tier", () => {
    const rng = new Rng(7);
    for (let round = 0; round < 60; round += 1) {
      // A small alphabet makes overlaps and repeated occurrences common.
      const alphabet = rng.pick(["abAB01", "abcdefABCDEF0123456789", "xyz -_:\n", "ab\u0161\u0100 ;"]);
      const patterns: MatcherPattern[] = Array.from({ length: rng.int(1, 12) }, () => ({
        text: rng.str(alphabet, rng.pick([1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 60])),
        foldHex: rng.next() < 0.3,
        skeleton: rng.next() < 0.3,
      }));
      let text = rng.str(alphabet, rng.int(0, 400));
      // Plant some occurrences, some with separators between characters.
      for (const p of patterns) {
        if (rng.next() < 0.7) {
          const at = rng.int(0, text.length);
          const planted = p.skeleton === true && rng.next() < 0.5 ? Array.from(p.text).join(rng.pick([" ", "\n", "-", "\u200b", "::"])) : p.text;
          text = text.slice(0, at) + planted + text.slice(at);
        }
      }
      assert.deepEqual(fast(patterns, text), naive(patterns, text), `round ${String(round)}: ${JSON.stringify({ patterns, text })}`);
    }
  });

  test("a long text with thousands of patterns: every planted occurrence is found", () => {
    const rng = new Rng(99);
    const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const patterns: MatcherPattern[] = Array.from({ length: 3000 }, () => ({ text: rng.str(alnum, rng.int(16, 48)) }));
    const parts: string[] = [];
    const planted: number[] = [];
    for (let i = 0; i < 500; i += 1) {
      parts.push(rng.str("the quick brown fox 0123456789 {}\":,\n", rng.int(0, 300)));
      const id = rng.int(0, patterns.length - 1);
      planted.push(id);
      parts.push(patterns[id]?.text ?? "");
    }
    const text = parts.join("");
    const found = new Set<number>();
    new MultiPatternMatcher(patterns).scan(text, (s, e, i) => {
      assert.equal(text.slice(s, e), patterns[i]?.text);
      found.add(i);
    });
    for (const id of planted) assert.ok(found.has(id), `pattern ${String(id)} planted but not found`);
  });

  test("foldHex matches A–F in either case, and only A–F", () => {
    const m = new MultiPatternMatcher([{ text: "%2Fab%3Fcd", foldHex: true }, { text: "DEADbeefXY", foldHex: true }]);
    const hits: string[] = [];
    const text = "%2fab%3Fcd %2FAB%3fCD deadBEEFXY deadbeefxy";
    m.scan(text, (s, e) => hits.push(text.slice(s, e)));
    // "AB"/"CD" are hex letters, so they fold too; "xy" is not a hex letter and must match case.
    assert.deepEqual(hits.sort(), ["%2FAB%3fCD", "%2fab%3Fcd", "deadBEEFXY"].sort());
  });

  test("skeleton patterns skip separators, including zero-width and non-Latin-1 characters, and span first to last letter", () => {
    const secret = "Qm9vN2tLrZ8xWp";
    const m = new MultiPatternMatcher([{ text: secret, skeleton: true }]);
    const text = `a: ${Array.from(secret).join("\u200b")} | b: ${secret.slice(0, 7)}\n${secret.slice(7)} | c: ${Array.from(secret).join("\u0161")}.`;
    const hits: string[] = [];
    m.scan(text, (s, e) => hits.push(text.slice(s, e)));
    assert.equal(hits.length, 3, JSON.stringify(hits));
    for (const h of hits) assert.equal(Array.from(h).filter(isAlnum).join(""), secret);
    // U+0161's low byte is 0x61 ("a"): it must not be read as a letter that breaks the sequence apart.
    const tricky = Array.from(secret).join("\u0161");
    assert.equal(hits.filter((h) => h === tricky).length, 1);
  });

  test("patterns too short, or without letters and digits for a skeleton, never match", () => {
    const m = new MultiPatternMatcher([{ text: "abc" }, { text: "-- : --", skeleton: true }, { text: "" }]);
    let n = 0;
    m.scan("abc abc -- : -- ", () => (n += 1));
    assert.equal(n, 0);
  });
});
