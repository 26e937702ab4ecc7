/**
 * Recall and false-positive rate of every detector over the synthetic corpus
 * (corpus.ts): positives must be found (recall ≥ 99 %) and disappear from the
 * redacted text; look-alike negatives must not be flagged (FP ≤ 1 %) and must
 * come out of redaction unchanged, even with every default detector on.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ALL_DETECTORS, defaultDetectors, redactText, type Detector } from "../../../src/guard/detectors/index.ts";
import { buildCorpus, corpusDigest, type DetectorCorpus } from "./corpus.ts";

interface Row {
  readonly id: string;
  readonly kind: string;
  readonly positives: number;
  readonly found: number;
  readonly negatives: number;
  readonly falsePositives: number;
  readonly leaked: string[];
  readonly missed: string[];
  readonly flagged: string[];
  readonly changed: string[];
}

const corpus = buildCorpus();

/** The default set plus the detector under test (e-mail and phone are off by default), in ALL_DETECTORS order. */
function redactionSet(d: Detector): Detector[] {
  const set = new Set([...defaultDetectors(), d]);
  return ALL_DETECTORS.filter((x) => set.has(x));
}

function measure(entry: DetectorCorpus): Row {
  const detector = ALL_DETECTORS.find((d) => d.id === entry.id);
  if (detector === undefined) throw new Error(`corpus names an unknown detector ${entry.id}`);
  const set = redactionSet(detector);
  let positives = 0;
  let found = 0;
  const missed: string[] = [];
  const leaked: string[] = [];
  for (const p of entry.positives) {
    const findings = detector.find(p.text);
    for (const value of p.values) {
      positives += 1;
      const at = p.text.indexOf(value);
      if (findings.some((f) => f.start <= at && f.end >= at + value.length)) found += 1;
      else missed.push(p.text);
    }
    const redacted = redactText(p.text, set).text;
    for (const value of p.values) if (redacted.includes(value)) leaked.push(redacted);
  }
  let falsePositives = 0;
  const flagged: string[] = [];
  const changed: string[] = [];
  for (const n of entry.negatives) {
    if (detector.find(n).length > 0) {
      falsePositives += 1;
      flagged.push(n);
    }
    const out = redactText(n, set);
    if (out.text !== n) changed.push(`${n}\n  => ${out.text} ${JSON.stringify(out.counts)}`);
  }
  return { id: entry.id, kind: detector.kind, positives, found, negatives: entry.negatives.length, falsePositives, missed, leaked, flagged, changed };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

describe("detector corpus", () => {
  const rows = corpus.map(measure);

  test("prints recall and false-positive rate per detector and overall", () => {
    const lines = [
      `corpus ${corpusDigest(corpus)}: ${corpus.length} detectors`,
      `${"detector".padEnd(34)} ${"kind".padEnd(10)} ${"pos".padStart(4)} ${"recall".padStart(7)} ${"neg".padStart(4)} ${"FP".padStart(6)}`,
    ];
    for (const r of rows) {
      lines.push(
        `${r.id.padEnd(34)} ${r.kind.padEnd(10)} ${String(r.positives).padStart(4)} ${pct(r.found / r.positives).padStart(7)} ${String(r.negatives).padStart(4)} ${pct(r.falsePositives / r.negatives).padStart(6)}`,
      );
    }
    const pos = rows.reduce((n, r) => n + r.positives, 0);
    const found = rows.reduce((n, r) => n + r.found, 0);
    const neg = rows.reduce((n, r) => n + r.negatives, 0);
    const fp = rows.reduce((n, r) => n + r.falsePositives, 0);
    lines.push(`${"overall".padEnd(34)} ${"".padEnd(10)} ${String(pos).padStart(4)} ${pct(found / pos).padStart(7)} ${String(neg).padStart(4)} ${pct(fp / neg).padStart(6)}`);
    console.log(lines.join("\n"));
    assert.ok(found / pos >= 0.99);
    assert.ok(fp / neg <= 0.01);
  });

  test("every detector has a corpus of at least 10 positives and 10 look-alike negatives", () => {
    const covered = new Set(corpus.map((c) => c.id));
    assert.deepEqual(
      ALL_DETECTORS.map((d) => d.id).filter((id) => !covered.has(id)),
      [],
    );
    for (const r of rows) {
      assert.ok(r.positives >= 10, `${r.id}: ${r.positives} positives`);
      assert.ok(r.negatives >= 10, `${r.id}: ${r.negatives} negatives`);
    }
  });

  for (const r of rows) {
    test(`${r.id}: recall ≥ 99 % and false positives ≤ 1 %`, () => {
      assert.ok(r.found / r.positives >= 0.99, `${r.id} missed ${r.missed.length}:\n${r.missed.slice(0, 3).join("\n---\n")}`);
      assert.ok(r.falsePositives / r.negatives <= 0.01, `${r.id} flagged:\n${r.flagged.join("\n---\n")}`);
    });
    test(`${r.id}: redaction removes every positive value and leaves negatives unchanged`, () => {
      assert.deepEqual(r.leaked, [], `${r.id} leaked`);
      assert.deepEqual(r.changed, [], `${r.id} changed negatives`);
    });
  }
});
