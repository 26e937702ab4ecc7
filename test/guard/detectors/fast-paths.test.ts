/**
 * The validators that run for every candidate value were rewritten as
 * character-code loops (no per-character regex tests, no splitting of the
 * whole value before the first check fails). These tests hold each rewrite to
 * the straightforward implementation it replaced, kept here as the
 * reference, on many generated inputs.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assignmentKey, madeOfWords } from "../../../src/guard/detectors/credentials.ts";
import { charClasses, identifierWords, isPlaceholder, shannonEntropy, stepRatio, textStats } from "../../../src/guard/detectors/validators.ts";
import { Rng } from "./corpus.ts";

const SHORT_WORDS = new Set(
  "is on to of in by at id no up ok db io ui os as an or if it be do go my me we us vs rt js ts py rs md fs vm gc src bin usr tmp pkg cmd cfg dst std lldb llvm gcc npm ssh ssl tls http https www xml html css sql rpc grpc crt dns tcp udp cpp hpp mysql pgsql".split(" "),
);

/** madeOfWords as it was: split into parts, then into pieces with a global regex, then check each piece. */
function madeOfWordsReference(v: string, mostlyLong = true): boolean {
  const parts = v.split(/[_.\-/|,;:+~*?]+/);
  if (/^[A-Z_]+$/.test(v) && parts.length > 1) return true;
  let long = 0;
  for (const part of parts) {
    if (part.length === 0) continue;
    if (parts.length > 1 && /^[A-Z]+$/.test(part)) {
      if (part.length >= 4) long += part.length;
      continue;
    }
    const pieces = part.match(/[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+|[^A-Za-z0-9]+/g) ?? [];
    for (let i = 0; i < pieces.length; i += 1) {
      const piece = pieces[i] ?? "";
      if (/^[0-9]{1,4}$/.test(piece) || /^[A-Z]{2,5}$/.test(piece)) continue;
      if (/^[A-Z]$/.test(piece) && (pieces.length === 1 || /^[0-9]/.test(pieces[i + 1] ?? ""))) continue;
      if (!/^[A-Za-z]+$/.test(piece)) return false;
      if (!SHORT_WORDS.has(piece.toLowerCase()) && (piece.length < 3 || !/[aeiouy]/i.test(piece))) return false;
      if (piece.length >= 4) long += piece.length;
    }
  }
  return !mostlyLong || long * 2 >= v.replace(/[^A-Za-z0-9]/g, "").length;
}

function identifierWordsReference(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

function stepRatioReference(value: string): number {
  if (value.length < 2) return 0;
  let steps = 0;
  const lower = value.toLowerCase();
  for (let i = 1; i < lower.length; i += 1) {
    const d = lower.charCodeAt(i) - lower.charCodeAt(i - 1);
    if (d === 1 || d === -1) steps += 1;
  }
  return steps / (lower.length - 1);
}

function assignmentKeyReference(text: string, matchStart: number, valueStart: number): string {
  let s = matchStart;
  while (s > 0 && s > matchStart - 64 && /[A-Za-z0-9_.-]/.test(text.charAt(s - 1))) s -= 1;
  return /^[A-Za-z0-9_.-]*/.exec(text.slice(s, valueStart))?.[0] ?? "";
}

/** Values built from random characters of an alphabet, or from words and numbers joined by separators. */
function* values(r: Rng, count: number): Generator<string> {
  const alphabets = ["aeiouAEIOUbcdBCD0123_-./ ", "ABCDEFGHIJ_-.", "abcAB12.-_é@ ", "etaoinsrhldcuETAOIN0123456789-_./|,;:+~*?", "xyzXYZ", "AaEeSsTtUu", "aİKkıß\u212Aé"];
  const words = ["Read", "Write", "Once", "com", "example", "Handler", "Impl", "GPL", "autoconf", "GITHUB", "TOKEN", "is", "src", "lib", "v1", "V", "D", "Aaron", "ABCDEF", "HTTPServer", "xml", "2", "2024", "12345", "apiKey"];
  for (let i = 0; i < count; i += 1) {
    let v = "";
    if (i % 2 === 0) {
      const alphabet = alphabets[i % alphabets.length] ?? "";
      const n = r.int(0, 20);
      for (let j = 0; j < n; j += 1) v += alphabet.charAt(r.int(0, alphabet.length - 1));
    } else {
      const n = r.int(1, 5);
      for (let j = 0; j < n; j += 1) v += r.pick(words) + (r.int(0, 9) < 4 ? r.pick(["_", "-", ".", "/"]) : "");
    }
    yield v;
  }
}

describe("fast paths give what the straightforward code gives", () => {
  test("madeOfWords, with and without the share of long words", () => {
    let words = 0;
    for (const v of values(new Rng(1), 60_000)) {
      for (const mostlyLong of [true, false]) {
        const expected = madeOfWordsReference(v, mostlyLong);
        if (expected) words += 1;
        assert.equal(madeOfWords(v, mostlyLong), expected, `${JSON.stringify(v)} mostlyLong=${mostlyLong}`);
      }
    }
    // Both outcomes are well represented.
    assert.ok(words > 20_000 && words < 100_000, String(words));
  });

  test("madeOfWords on the examples of its documentation", () => {
    for (const v of ["ReadWriteOnce2", "com.example.Handler2Impl", "GPL-3+-autoconf-exception", "GITHUB_TOKEN", "Aaron-D-Gifford", "SchemaV1"]) assert.equal(madeOfWords(v), true, v);
    for (const v of ["aB3dE5fG7hJ9kL1mN3pQ5rS7", "ONA4Wcbm9c3rCQ+qtavxLNpn", "x9Kq2Lm8Np4Rs6Tv"]) assert.equal(madeOfWords(v), false, v);
  });

  test("identifierWords, including non-ASCII keys (which keep the regex path)", () => {
    for (const v of values(new Rng(2), 60_000)) assert.deepEqual(identifierWords(v), identifierWordsReference(v), JSON.stringify(v));
    assert.deepEqual(identifierWords("HTTPServerAPIKey_v2"), ["http", "server", "api", "key", "v2"]);
  });

  test("stepRatio, including letters whose lower case is longer or not ASCII", () => {
    for (const v of values(new Rng(3), 60_000)) assert.equal(stepRatio(v), stepRatioReference(v), JSON.stringify(v));
  });

  test("assignmentKey", () => {
    const r = new Rng(4);
    const alphabet = "abAB09_.-= :\"'é\n";
    for (let i = 0; i < 20_000; i += 1) {
      let text = "";
      const n = r.int(0, 90);
      for (let j = 0; j < n; j += 1) text += alphabet.charAt(r.int(0, alphabet.length - 1));
      const valueStart = r.int(0, text.length);
      const matchStart = r.int(0, valueStart);
      assert.equal(assignmentKey(text, matchStart, valueStart), assignmentKeyReference(text, matchStart, valueStart), JSON.stringify([text, matchStart, valueStart]));
    }
  });

  test("shannonEntropy adds each character's share once, in order of first occurrence", () => {
    const reference = (s: string): number => {
      const counts = new Map<string, number>();
      for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
      let h = 0;
      for (const k of counts.values()) h -= (k / s.length) * Math.log2(k / s.length);
      return h;
    };
    for (const v of values(new Rng(5), 20_000)) {
      // The reference counts code points; keep to strings without surrogate pairs.
      if (/[\uD800-\uDFFF]/.test(v)) continue;
      assert.ok(Math.abs(shannonEntropy(v) - reference(v)) < 1e-12, JSON.stringify(v));
    }
  });

  test("textStats gives exactly the numbers of charClasses, shannonEntropy and stepRatio", () => {
    for (const v of values(new Rng(6), 40_000)) {
      assert.deepEqual(textStats(v), { ...charClasses(v), entropy: shannonEntropy(v), stepRatio: stepRatio(v) }, JSON.stringify(v));
    }
  });

  test("isPlaceholder answers the same when asked twice in a row, or about another value in between", () => {
    for (const [v, expected] of [
      ["changeme", true],
      ["aB3dE5fG7hJ9kL1m", false],
      ["${API_KEY}", true],
      ["aB3dE5fG7hJ9kL1m", false],
      ["aB3dE5fG7hJ9kL1m", false],
      ["your-api-key-here", true],
    ] as const) {
      assert.equal(isPlaceholder(v), expected, v);
    }
  });
});
