/**
 * Attack test (invariant 8), checkpoints: random forgeries of the signed checkpoints of a real audit database —
 * bit flips in the root, time, key id and signature (base64 padding included), changed tree and previous sizes,
 * checkpoints signed with another key, replayed signatures, inserted and deleted checkpoints, and histories
 * rewritten and re-signed with another key — must all be detected. See audit-tamper.test.ts for the set-up.
 */
import { test } from "node:test";

import { CHECKPOINT_CORRUPTIONS, ENTRY_CORRUPTIONS, runCampaign } from "../audit/tamper-harness.ts";
import { tempDir } from "../helpers/tmp.ts";

const CASES = Number(process.env.AUDIT_TAMPER_CASES ?? "5000");

test(`${CASES.toLocaleString("en-US")} random forgeries of the checkpoints of a real audit database are all detected`, async (t) => {
  await runCampaign(tempDir(t), {
    title: "audit tamper, checkpoints",
    seed: 0xc4ec_4b01,
    cases: CASES,
    singles: CHECKPOINT_CORRUPTIONS,
    stackedShare: 0.15,
    stackFrom: { ...ENTRY_CORRUPTIONS, ...CHECKPOINT_CORRUPTIONS },
    replayEvery: 40,
  });
});
