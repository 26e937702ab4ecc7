/**
 * Micro-benchmark of the secret/PII detectors (not wired into `npm run bench`):
 * throughput of `scanText` / `redactText` over mixed agent-like text (prose,
 * logs, JSON, code, config, with the detector corpus sprinkled in), beside a
 * single `indexOf` pass over the same text as the floor, and the whole
 * redaction step (known secrets, then detectors) for the DESIGN.md §5 goal.
 *
 * The "prefilter" rows time the shared index alone (src/guard/detectors/
 * prefilter.ts): the literal triggers only, then everything the default
 * detectors look up (triggers and anchors). Fresh strings are concatenations,
 * so every row but the per-detector ones includes V8 flattening that string
 * (a copy, about as long as the indexOf floor); `--detectors-only` skips the
 * known-secret rows (seconds per run until that matcher is rewritten).
 *
 *   scripts/node bench/detectors.ts [--mb 10] [--runs 5] [--per-detector] [--detectors-only]
 */
import { parseArgs } from "node:util";
import { KnownSecretRedactor } from "../src/guard/redact.ts";
import { ALL_DETECTORS, defaultDetectors, redactText, scanText } from "../src/guard/detectors/index.ts";
import { prepareIndex, triggerHits } from "../src/guard/detectors/pattern.ts";
import { ALNUM, Rng, mixedText } from "../test/guard/detectors/corpus.ts";

const { values: args } = parseArgs({
  options: {
    mb: { type: "string", default: "10" },
    runs: { type: "string", default: "5" },
    "per-detector": { type: "boolean", default: false },
    "detectors-only": { type: "boolean", default: false },
  },
});
const megabytes = Number(args.mb);
const runs = Number(args.runs);

const { text } = mixedText(megabytes * 1e6);
const mb = text.length / 1e6;
let salt = 0;
/** A fresh copy each run: the trigger index is cached per text, and a benchmark must not measure the cache. */
const fresh = (): string => `${text}${String(salt++)}`;

/** The fastest of `runs` timed runs, after one untimed run (JIT warm-up; the first scan also builds the prefilter's tables). */
function best(fn: () => void): number {
  fn();
  let min = Infinity;
  for (let i = 0; i < runs; i += 1) {
    const t0 = performance.now();
    fn();
    min = Math.min(min, performance.now() - t0);
  }
  return min;
}

const rows: [string, number][] = [];
const add = (what: string, ms: number): void => {
  rows.push([what, ms]);
};

add("baseline: one indexOf pass", best(() => fresh().indexOf("\u0000absent\u0000")));
add("trigger index (one pass for all literal triggers)", best(() => triggerHits(fresh())));
const defaults = defaultDetectors();
add(
  "prefilter index for the default detectors",
  best(() => {
    prepareIndex(fresh(), defaults);
  }),
);
add(`scanText, all ${ALL_DETECTORS.length} detectors`, best(() => scanText(fresh(), ALL_DETECTORS)));
add(`redactText, ${defaults.length} default detectors`, best(() => redactText(fresh(), defaults)));

if (!args["detectors-only"]) {
  const r = new Rng(9);
  const known = Array.from({ length: 1000 }, () => r.str(ALNUM, r.int(16, 40)));
  const knownRedactor = new KnownSecretRedactor();
  add("known secrets only (1,000 values, all encodings)", best(() => knownRedactor.redact(fresh(), known)));
  add("whole step: known secrets, then default detectors", best(() => redactText(knownRedactor.redact(fresh(), known).text, defaults)));
}

const floor = rows[0]?.[1] ?? 1;
console.log(`mixed text: ${mb.toFixed(1)} MB, best of ${runs} runs`);
for (const [what, ms] of rows) {
  console.log(`${what.padEnd(52)} ${ms.toFixed(1).padStart(8)} ms ${(mb / (ms / 1000)).toFixed(1).padStart(8)} MB/s ${(ms / floor).toFixed(1).padStart(6)}x floor`);
}

if (args["per-detector"]) {
  const t = fresh();
  prepareIndex(t, ALL_DETECTORS);
  const per = ALL_DETECTORS.map((d) => [d.id, best(() => d.find(t))] as const).sort((a, b) => b[1] - a[1]);
  console.log("\nper detector (index of triggers and anchors already built):");
  for (const [id, ms] of per) console.log(`  ${id.padEnd(34)} ${ms.toFixed(2).padStart(8)} ms`);
}
