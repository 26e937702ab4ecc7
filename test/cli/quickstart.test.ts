import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { runCli } from "../helpers/cli.ts";

test("quickstart runs the scenario end to end: allow, deny, tainted ask, allow; log intact; tamper detected; profile removed", async () => {
  const r = await runCli(["quickstart", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { ok: boolean; home: string; steps: { decision: string; outcome: string; rule: string | null }[]; verify: { ok: boolean }; tamperDetected: boolean };
  assert.equal(out.ok, true);
  assert.deepEqual(out.steps.map((s) => [s.decision, s.outcome]), [["allow", "executed"], ["deny", "denied"], ["ask", "denied"], ["allow", "executed"]]);
  assert.equal(out.steps[1]?.rule, "credentials-never");
  assert.equal(out.verify.ok, true);
  assert.equal(out.tamperDetected, true);
  assert.equal(existsSync(out.home), false, "the throw-away profile is removed");
});

test("quickstart's human output explains each step and what to do next", async () => {
  const r = await runCli(["quickstart"]);
  assert.equal(r.code, 0, r.stderr);
  for (const text of ["prompt injection", "untrusted:email", "not approved", "✔ intact", "detected", "What next"]) assert.ok(r.stdout.includes(text), text);
});
