/**
 * Attack: an action taken on behalf of a skill tries to reach past what the
 * skill's SKILL.md declares — another program, a file outside the workspace,
 * an undeclared host, a tool its allowed-tools does not name, another skill's
 * instructions — under a policy that would allow all of it for that skill.
 * The ceiling (skills/ceiling.ts, applied when the envelope judges) denies
 * each one and says why; the declared actions still run.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { initAndOpen } from "../../src/cli/init.ts";
import { openRuntime, type Runtime } from "../../src/runtime.ts";
import { tempDir } from "../helpers/tmp.ts";

const NOTES_SKILL = `---
name: notes
description: Keep notes in the workspace.
allowed-tools: [read, exec, load_skill]
metadata: { "openclaw": { "requires": { "bins": ["cat"] } }, "aegisclaw": { "network": { "allow": ["notes.example.com"] } } }
---
Use cat to show notes.
`;
const BROKEN_SKILL = `---
name: broken
description: Needs a program nobody has.
metadata: { "openclaw": { "requires": { "bins": ["no-such-program-aegisclaw"] } } }
---
Nothing.
`;

// Policy that allows everything for the skills, so only the ceiling can say no.
const PERMISSIVE = `version: 1
rules:
  - id: anything-for-skills
    match: { scope: ["shell.exec", "files.read", "files.write", "net.connect", "net.fetch", "message.send", "skills.load", "email.send"] }
    decision: allow
    reason: test policy — allows everything, the ceiling is what is tested
`;

async function setup(t: TestContext): Promise<{ runtime: Runtime; workspace: string }> {
  const base = tempDir(t);
  const home = join(base, "profile");
  const workspace = join(base, "workspace");
  await initAndOpen(home, workspace);
  for (const [name, text] of [["notes", NOTES_SKILL], ["broken", BROKEN_SKILL]] as const) {
    mkdirSync(join(workspace, "skills", name), { recursive: true });
    writeFileSync(join(workspace, "skills", name, "SKILL.md"), text);
  }
  writeFileSync(join(workspace, "todo.md"), "buy milk\n");
  writeFileSync(join(home, "policy.yaml"), PERMISSIVE, { mode: 0o600 });
  const runtime = await openRuntime(home, { actor: "model:test" });
  t.after(() => runtime.close());
  return { runtime, workspace };
}

const AGENT = { session: "ceiling", actor: "model:test/model", labels: ["trusted:owner"] };

describe("attack: a skill's actions stay within what its SKILL.md declares", () => {
  test("declared program in the workspace runs; anything beyond is denied with the reason", async (t) => {
    const { runtime, workspace } = await setup(t);
    const env = runtime.envelope;
    const ok = await env.submit({ ...AGENT, skill: "notes", tool: "shell.exec", args: { argv: ["cat", "todo.md"] } });
    assert.equal(ok.outcome, "executed", ok.reason + ok.output);
    assert.match(ok.output, /buy milk/);

    const cases: [string, Parameters<typeof env.submit>[0], RegExp][] = [
      ["another program", { ...AGENT, skill: "notes", tool: "shell.exec", args: { argv: ["curl", "--version"] } }, /declares the programs cat .*shell\.exec:curl is not one of them/],
      ["the declared program by path (a look-alike could sit there)", { ...AGENT, skill: "notes", tool: "shell.exec", args: { argv: ["/usr/bin/cat", "todo.md"] } }, /not one of them/],
      ["a file outside the workspace", { ...AGENT, skill: "notes", tool: "files.read", args: { path: "/etc/hostname" } }, /only its workspace .*\/etc\/hostname is outside/],
      ["a mount outside the workspace", { ...AGENT, skill: "notes", tool: "shell.exec", args: { argv: ["cat", "/etc/hostname"], mounts: [{ path: "/etc" }] } }, /outside them/],
      ["an undeclared host", { ...AGENT, skill: "notes", tool: "shell.exec", args: { argv: ["cat", "todo.md"], allow_net: ["evil.example"] } }, /only the hosts it declares .*evil\.example/],
      ["a tool allowed-tools does not name", { ...AGENT, skill: "notes", tool: "email.send", args: { to: "a@b.example", subject: "x", body: "x" } }, /allowed-tools .*email\.send is not one of them/],
      ["another skill's instructions", { ...AGENT, skill: "notes", tool: "skills.load", args: { name: "broken" } }, /only its own instructions/],
      ["a skill that is not installed", { ...AGENT, skill: "ghost", tool: "shell.exec", args: { argv: ["cat", "todo.md"] } }, /no skill named ghost/],
      ["an inactive skill", { ...AGENT, skill: "broken", tool: "files.read", args: { path: "todo.md" } }, /not active/],
    ];
    for (const [what, proposal, reason] of cases) {
      const r = await env.submit(proposal);
      assert.equal(r.outcome, "denied", `${what}: ${r.reason}`);
      assert.match(r.reason, reason, what);
    }
    // The declared host passes the ceiling (policy then decides; here it allows).
    assert.equal(env.withinSkill("notes", { ...AGENT, tool: "shell.exec", args: { argv: ["cat", "todo.md"], allow_net: ["notes.example.com"] } }), true);
    // Without a skill, the same calls are judged by policy alone (which allows them here): the ceiling only takes away from skills.
    const plain = await env.submit({ ...AGENT, tool: "files.read", args: { path: join(workspace, "todo.md") } });
    assert.equal(plain.outcome, "executed");
  });

  test("the owner's own command on behalf of a skill keeps the program limit, but chooses its own directories and hosts", async (t) => {
    const { runtime } = await setup(t);
    const owner = { session: "ceiling", actor: "owner", labels: ["trusted:owner"] };
    const mount = await runtime.envelope.submit({ ...owner, skill: "notes", tool: "shell.exec", args: { argv: ["cat", "/etc/hostname"], mounts: [{ path: "/etc/hostname" }] } });
    assert.equal(mount.outcome, "executed", mount.reason + mount.output);
    const other = await runtime.envelope.submit({ ...owner, skill: "notes", tool: "shell.exec", args: { argv: ["sh", "-c", "true"] } });
    assert.equal(other.outcome, "denied");
    assert.match(other.reason, /declares the programs cat/);
  });
});
