import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runCli } from "../helpers/cli.ts";
import { makeProfile } from "../helpers/daemon.ts";

describe("aegisclaw chat and sessions", () => {
  test("-m: one message, the tool calls with their decisions, an approval nobody can give is denied at once", async (t) => {
    const p = await makeProfile(t, {
      withToken: false,
      script: [{ text: "Looking.", tool_calls: [{ name: "read", input: { path: "notes.txt" } }, { name: "exec", input: { command: "cat notes.txt" } }] }, { text: "You see the dentist on Tuesday." }],
    });
    const t0 = Date.now();
    const r = await runCli(["--home", p.home, "chat", "--session", "cli", "-m", "what is in my notes?"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Date.now() - t0 < 20_000, "the approval request did not wait for its timeout");
    assert.match(r.stdout, /Looking\..*You see the dentist on Tuesday\./s);
    assert.match(r.stderr, /scripted turns from .* \(not a model\)/);
    assert.match(r.stderr, /→ read \{"path":"notes.txt"\}\n\s+ALLOW executed · rule files-read-workspace/);
    assert.match(r.stderr, /approval needed \[[0-9a-f]{6}\] shell\.exec/);
    assert.match(r.stderr, /ASK denied · rule shell-agent-asks/);

    const list = await runCli(["--home", p.home, "sessions", "list", "--json"]);
    const sessions = JSON.parse(list.stdout) as { id: string; channel: string; toolCalls: number }[];
    assert.deepEqual(sessions.map((s) => [s.id, s.channel, s.toolCalls]), [["cli", "terminal", 2]]);
    const show = await runCli(["--home", p.home, "sessions", "show", "cli"]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /user trusted:owner/);
    assert.match(show.stdout, /→ exec .*\n\s+ASK denied · rule shell-agent-asks/);
    const missing = await runCli(["--home", p.home, "sessions", "show", "nope", "--json"]);
    assert.equal(missing.code, 1);
    assert.equal((JSON.parse(missing.stdout) as { error: string }).error, "SESSION_NOT_FOUND");
  });

  test("lines from a pipe are messages answered in order; --json prints every event; input ending ends the chat", async (t) => {
    const p = await makeProfile(t, { withToken: false, script: [{ text: "first answer" }, { text: "second answer" }] });
    const r = await runCli(["--home", p.home, "chat", "--session", "piped", "--json"], { stdin: "hello\n/pending\nagain\n" });
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { type: string; result?: { text: string } });
    assert.deepEqual(events.filter((e) => e.type === "done").map((e) => e.result?.text), ["first answer", "second answer"]);
    assert.equal(events[0]?.type, "accepted");
  });

  test("a model that is not configured is a clear usage error", async (t) => {
    const p = await makeProfile(t, { withToken: false });
    const r = await runCli(["--home", p.home, "chat", "--model", "nosuch/model", "-m", "hi"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown model provider "nosuch".*Known providers: .*anthropic/);
  });
});
