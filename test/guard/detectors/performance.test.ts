/**
 * Throughput and worst-case behaviour. Timing is measured and printed, not
 * asserted (a shared CI machine makes a hard bound flaky), except for a
 * generous bound on adversarial input: a regex that backtracks
 * catastrophically takes minutes there, not seconds.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ALL_DETECTORS, defaultDetectors, redactText, scanText } from "../../../src/guard/detectors/index.ts";
import { mixedText } from "./corpus.ts";

function bestOf(runs: number, fn: () => void): number {
  let best = Infinity;
  for (let i = 0; i < runs; i += 1) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

describe("throughput", () => {
  test("scans and redacts 1 MB of mixed text with all detectors, removing every planted value", () => {
    const { text, values } = mixedText(1_000_000);
    const mb = text.length / 1e6;
    // Fresh strings each run, so the shared trigger index is rebuilt every time (no caching across runs).
    let run = 0;
    const scanAll = bestOf(5, () => scanText(`${text}${String(run++)}`, ALL_DETECTORS));
    const redactDefault = bestOf(5, () => redactText(`${text}${String(run++)}`, defaultDetectors()));
    const baseline = bestOf(5, () => `${text}${String(run++)}`.indexOf("\u0000no such needle\u0000"));
    console.log(
      [
        `mixed text ${mb.toFixed(2)} MB, ${values.length} planted values`,
        `scanText, all ${ALL_DETECTORS.length} detectors: ${scanAll.toFixed(1)} ms = ${(mb / (scanAll / 1000)).toFixed(1)} MB/s`,
        `redactText, ${defaultDetectors().length} default detectors: ${redactDefault.toFixed(1)} ms = ${(mb / (redactDefault / 1000)).toFixed(1)} MB/s`,
        `baseline, one indexOf pass: ${baseline.toFixed(2)} ms (detectors cost ${(redactDefault / Math.max(baseline, 0.001)).toFixed(0)}x)`,
      ].join("\n"),
    );
    const out = redactText(text, ALL_DETECTORS);
    const leaked = values.filter((v) => out.text.includes(v));
    assert.deepEqual(leaked, []);
    assert.ok(Object.values(out.counts).reduce((a, b) => a + b, 0) >= values.length / 2);
  });
});

describe("adversarial input stays linear", () => {
  const size = 100_000;
  const repeat = (unit: string): string => unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
  const inputs: Record<string, string> = {
    "run of a": repeat("a"),
    "run of =": repeat("="),
    "run of digits": repeat("1234567890"),
    "digits and dashes": repeat("1-"),
    "digits and spaces": repeat("4111 "),
    "run of spaces": repeat(" "),
    "base64 soup": repeat("aB3+/xY9="),
    "eyJ repeated": repeat("eyJ"),
    "eyJ parts without end": repeat("eyJhbGciOiJIUzI1NiJ9."),
    "@ repeated": repeat("@"),
    "a@ repeated": repeat("a@"),
    "a@b. repeated": repeat("a@b."),
    "PEM BEGIN without END": repeat("-----BEGIN PRIVATE KEY-----\n"),
    "PEM BEGIN then body forever": `-----BEGIN RSA PRIVATE KEY-----\n${repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n")}`,
    "password= repeated": repeat("password="),
    "password: with long value": `password: ${repeat("x")}`,
    "password is repeated": repeat("password is "),
    "<password> unclosed": repeat("<password>"),
    ":// repeated": repeat("://"),
    "://user: repeated": repeat("://user:"),
    "key: value separators": repeat("a:a="),
    "colons": repeat(":"),
    "AKIA repeated": repeat("AKIA"),
    "ghp_ repeated": repeat("ghp_"),
    "sk- repeated": repeat("sk-"),
    "xoxb- digits": repeat("xoxb-1234567890-"),
    "Bearer long": `Bearer ${repeat("a")}`,
    "Basic long": `Basic ${repeat("QUJD")}`,
    "token= long": `token=${repeat("Ab1")}`,
    "IBAN-like": repeat("DE89 3704 "),
    "account digits": repeat("account 1234 "),
    "phone-ish": repeat("+1 (415) "),
    "escaped newlines": repeat("\\n"),
    "unicode": repeat("é日本\u{1F600}"),
  };

  test("every detector handles 100 KB adversarial inputs in well under 2 s", () => {
    const rows: string[] = [];
    let worst = 0;
    for (const [name, text] of Object.entries(inputs)) {
      const t0 = performance.now();
      redactText(text, ALL_DETECTORS);
      const ms = performance.now() - t0;
      worst = Math.max(worst, ms);
      rows.push(`${name.padEnd(30)} ${ms.toFixed(1).padStart(8)} ms`);
      assert.ok(ms < 2000, `${name}: ${ms.toFixed(0)} ms`);
    }
    console.log(`adversarial 100 KB inputs, all detectors (worst ${worst.toFixed(1)} ms):\n${rows.join("\n")}`);
  });
});
