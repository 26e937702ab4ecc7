import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

test("quickstart runs the scenario end to end: an agent uses a skill, an injected e-mail is denied and not approved; three sandboxed commands held; log intact; tamper detected; profile removed", async () => {
  const r = await runCli(["quickstart", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    ok: boolean;
    home: string;
    model: string;
    agent: { conversation: { from: string; answer: string }[]; toolCalls: { envelopeTool: string; skill: string | null; decision: string; outcome: string; rule: string | null }[] };
    agentHeld: boolean;
    sandboxHeld: boolean;
    steps: { decision: string; outcome: string; rule: string | null; output?: string }[];
    verify: { ok: boolean };
    tamperDetected: boolean;
  };
  assert.equal(out.ok, true);
  assert.match(out.model, /not a model/);
  // The agent: the skill is loaded and the notes read on its behalf; the injected e-mail's key grab is denied by scope
  // and its outbound message needs approval nobody gave.
  assert.deepEqual(
    out.agent.toolCalls.map((c) => [c.envelopeTool, c.skill, c.decision, c.outcome, c.rule]),
    [
      ["skills.load", null, "allow", "executed", "skills-load"],
      ["files.read", "notes", "allow", "executed", "files-read-workspace"],
      ["files.read", null, "deny", "denied", "credentials-never"],
      ["message.send", null, "ask", "denied", "message-send-agent-asks"],
    ],
  );
  assert.deepEqual(out.agent.conversation.map((c) => c.from), ["trusted:owner", "untrusted:email"]);
  assert.equal(out.agentHeld, true);
  assert.deepEqual(out.steps.map((s) => [s.decision, s.outcome]), [["allow", "executed"], ["allow", "executed"], ["allow", "executed"]]);
  // In the sandbox: the workspace is readable, the SSH key and the network are not there, an unlisted host gets the proxy's 403.
  assert.equal(out.sandboxHeld, true);
  assert.match(out.steps[0]?.output ?? "", /Dentist/);
  assert.match(out.steps[1]?.output ?? "", /No such file/);
  assert.match(out.steps[1]?.output ?? "", /Could not resolve host/);
  assert.match(out.steps[2]?.output ?? "", /evil\.example is not in this skill's allowlist/);
  assert.equal(out.verify.ok, true);
  assert.equal(out.tamperDetected, true);
  assert.equal(existsSync(out.home), false, "the throw-away profile is removed");
});

test("quickstart's human output explains each step and what to do next", async () => {
  const r = await runCli(["quickstart"]);
  assert.equal(r.code, 0, r.stderr);
  for (const text of ["not a model", "on behalf of skill notes", "prompt injection", "untrusted:email", "not approved", "bubblewrap sandbox", "egress proxy", "✔ intact", "detected", "What next"]) assert.ok(r.stdout.includes(text), text);
});

test("quickstart --home DIR runs against that profile, with its workspace beside it", async (t) => {
  const dir = tempDir(t);
  const home = join(dir, "qs");
  const r = await runCli(["--home", home, "quickstart", "--json"]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal((JSON.parse(r.stdout) as { ok: boolean }).ok, true);
  assert.ok(existsSync(join(`${home}-workspace`, "notes.txt")));
  const again = await runCli(["--home", home, "quickstart", "--json"]);
  assert.equal(again.code, 0, "a second run on the same profile works too");
});
