/**
 * End to end, as a user runs it: `aegisclaw run` (the real daemon process and
 * HTTP API), the real Anthropic and OpenAI SDKs talking to local servers that
 * speak each protocol (the only fake: what the "model" answers), an
 * OpenClaw skill, the default policy, the sandbox, the audit log. A
 * conversation uses the skill, hits the policy, and `audit verify` is clean.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runCli } from "../helpers/cli.ts";
import { api, auditEntries, auditVerifies, makeProfile, startDaemon, stop, streamMessage } from "../helpers/daemon.ts";
import { startAnthropicServer, startOpenAIServer, type ModelServer, type ServerStep } from "../helpers/model-servers.ts";

const NOTES_SKILL = `---
name: notes
description: Read and summarise the owner's notes.
allowed-tools: [read, load_skill]
metadata: { "openclaw": { "emoji": "🗒️" } }
---
Read notes.txt and summarise it in one sentence.
`;

const CONVERSATION: ServerStep[] = [
  // A transient overload first: the SDK retries it.
  { fail: "status", status: 429, retryAfterMs: "10" },
  { text: "I'll use the notes skill.", tool_calls: [{ name: "load_skill", input: { name: "notes" } }] },
  { tool_calls: [{ name: "read", input: { path: "notes.txt" } }, { name: "read", input: { path: "../profile/keys/age-identity.txt" } }] },
  { text: "You have the dentist on Tuesday." },
];

const PROTOCOLS: { name: string; start: typeof startAnthropicServer; provider: string; api: string; secret: string; base: (s: ModelServer) => string }[] = [
  { name: "Anthropic Messages", start: startAnthropicServer, provider: "anthropic", api: "anthropic", secret: "ANTHROPIC_API_KEY", base: (s) => s.url },
  { name: "OpenAI Chat Completions", start: startOpenAIServer, provider: "openai", api: "openai", secret: "OPENAI_API_KEY", base: (s) => s.url },
];

describe("end to end: HTTP API → agent → real SDK → envelope → audit", () => {
  for (const proto of PROTOCOLS) {
    test(`a skill-using conversation over ${proto.name}: decisions audited, key from the store, audit verify clean`, async (t) => {
      const server = await proto.start({ steps: CONVERSATION });
      t.after(() => server.close());
      const key = `${proto.provider === "anthropic" ? "sk-ant-api03" : "sk-proj"}-E2eKey${"Q7wZ".repeat(8)}`;
      const p = await makeProfile(t, { agentConfig: `  providers:\n    ${proto.provider}:\n      api: ${proto.api}\n      base_url: ${proto.base(server)}\n      max_retries: 2\n` });
      mkdirSync(join(p.workspace, "skills", "notes"), { recursive: true, mode: 0o700 });
      writeFileSync(join(p.workspace, "skills", "notes", "SKILL.md"), NOTES_SKILL);
      const set = await runCli(["--home", p.home, "secrets", "set", proto.secret], { stdin: `${key}\n` });
      assert.equal(set.code, 0, set.stderr);

      const d = await startDaemon(t, p.home, ["--model", `${proto.provider}/e2e-model`]);
      const events = [];
      for await (const e of streamMessage(d, p, "e2e", "Summarise my notes")) events.push(e);
      assert.equal(events[0]?.event, "accepted");
      assert.equal(events.at(-1)?.event, "done");
      const text = events.filter((e) => e.event === "text").map((e) => String(e.data.delta)).join("");
      assert.match(text, /I'll use the notes skill\..*You have the dentist on Tuesday\./s);
      const results = events.filter((e) => e.event === "tool_result").map((e) => [e.data.envelopeTool, e.data.skill ?? null, e.data.decision, e.data.outcome]);
      assert.deepEqual(results, [
        ["skills.load", null, "allow", "executed"],
        ["files.read", "notes", "allow", "executed"],
        ["files.read", null, "deny", "denied"],
      ]);

      // The SDK sent the key from the store, the tool results went back to the model, and the 429 was retried.
      const answered = server.requests.filter((r) => r.answeredWith !== "status 429");
      assert.equal(server.requests.length, 4, JSON.stringify(server.requests.map((r) => r.answeredWith)));
      assert.ok(server.requests.every((r) => r.headers.authorization === `Bearer ${key}` || r.headers["x-api-key"] === key), "the key from the store");
      const lastBody = JSON.stringify(answered.at(-1)?.body);
      assert.match(lastBody, /Dentist on Tuesday|dentist tuesday/);
      assert.match(lastBody, /DENIED by policy \(rule credentials-never\)/);
      assert.doesNotMatch(lastBody, /AGE-SECRET-KEY/);

      // The session shows it; the audit log has every decision by the model actor, and nothing holds the key.
      const session = await api(d, p, "/api/sessions/e2e");
      assert.equal(session.status, 200);
      assert.match(JSON.stringify(session.body), /"decision":"deny"/);
      assert.equal((await stop(d)).code, 0);
      const log = await auditEntries(p.home);
      const decisions = log.filter((e) => e.kind === "decision");
      assert.deepEqual(decisions.map((e) => [e.action, e.actor, e.decision]), [
        ["skills.load", `model:${proto.provider}/e2e-model`, "allow"],
        ["files.read", `model:${proto.provider}/e2e-model`, "allow"],
        ["files.read", `model:${proto.provider}/e2e-model`, "deny"],
      ]);
      assert.doesNotMatch(JSON.stringify(log), new RegExp(key));
      await auditVerifies(p.home);
    });
  }
});
