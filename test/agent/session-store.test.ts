import assert from "node:assert/strict";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, test } from "node:test";
import { SessionStore, assertSessionId } from "../../src/agent/session-store.ts";
import { repairedHistory } from "../../src/agent/loop.ts";
import { isAegis } from "../helpers/errors.ts";
import { tempDir } from "../helpers/tmp.ts";

describe("session store", () => {
  test("messages and tool calls survive closing and reopening, in order, with their labels; the file is private", (t) => {
    const file = join(tempDir(t), "sessions.db");
    const store = SessionStore.open(file);
    store.ensure("main", { channel: "terminal", model: "scripted/test" });
    store.append("main", { role: "user", text: "hello" }, "trusted:owner");
    store.append("main", { role: "user", text: "mail body" }, "untrusted:email", "mail-1");
    store.append("main", { role: "assistant", text: "", toolCalls: [{ id: "c1", name: "read", input: { path: "a" } }] }, "trusted:system");
    store.recordToolCall("main", { callId: "c1", tool: "read", envelopeTool: "files.read", args: '{"path":"a"}', skill: undefined, actionId: "x", decision: "allow", outcome: "executed", reason: "ok", rule: "r", durationMs: 1.5 });
    store.close();
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const again = SessionStore.open(file);
    t.after(() => {
      again.close();
    });
    const msgs = again.messages("main");
    assert.deepEqual(msgs.map((m) => [m.message.role, m.label, m.item]), [["user", "trusted:owner", undefined], ["user", "untrusted:email", "mail-1"], ["assistant", "trusted:system", undefined]]);
    assert.equal(again.toolCalls("main")[0]?.envelopeTool, "files.read");
    const info = again.get("main");
    assert.ok(info);
    assert.equal(info.messages, 3);
    assert.equal(info.toolCalls, 1);
    assert.equal(info.title, "hello");
    assert.deepEqual(again.list().map((s) => s.id), ["main"]);
  });

  test("a crash between a model's tool calls and their results leaves a history every provider accepts", (t) => {
    const store = SessionStore.open(join(tempDir(t), "s.db"));
    t.after(() => {
      store.close();
    });
    store.ensure("s", { channel: "http", model: "m/m" });
    store.append("s", { role: "user", text: "do two things" }, "trusted:owner");
    store.append("s", { role: "assistant", text: "", toolCalls: [{ id: "a", name: "read", input: {} }, { id: "b", name: "exec", input: {} }] }, "trusted:system");
    // The process died here: no tool message. The next message arrives.
    store.append("s", { role: "user", text: "are you there?" }, "trusted:owner");
    const history = repairedHistory(store.messages("s")).map((m) => m.message);
    assert.equal(history.length, 4);
    const filler = history[2];
    assert.ok(filler?.role === "tool");
    assert.deepEqual(filler.results.map((r) => [r.callId, r.isError]), [["a", true], ["b", true]]);
    assert.match(filler.results[0]?.content ?? "", /did not finish/);
  });

  test("a partly answered batch gets only the missing results", (t) => {
    const store = SessionStore.open(join(tempDir(t), "s.db"));
    t.after(() => {
      store.close();
    });
    store.ensure("s", { channel: "http", model: "m/m" });
    store.append("s", { role: "user", text: "go" }, "trusted:owner");
    store.append("s", { role: "assistant", text: "", toolCalls: [{ id: "a", name: "read", input: {} }, { id: "b", name: "read", input: {} }] }, "trusted:system");
    store.append("s", { role: "tool", results: [{ callId: "a", name: "read", content: "x", isError: false }] }, "trusted:system");
    const tool = repairedHistory(store.messages("s"))[2]?.message;
    assert.deepEqual(tool?.role === "tool" ? tool.results.map((r) => r.callId) : [], ["a", "b"]);
  });

  test("a damaged message is reported with what to do, not replayed to the model", (t) => {
    const file = join(tempDir(t), "s.db");
    const store = SessionStore.open(file);
    store.ensure("s", { channel: "http", model: "m/m" });
    store.append("s", { role: "user", text: "hi" }, "trusted:owner");
    store.close();
    const db = new DatabaseSync(file);
    db.prepare("UPDATE messages SET body = ? WHERE seq = 1").run('{"role":"user"}');
    db.close();
    const again = SessionStore.open(file);
    t.after(() => {
      again.close();
    });
    assert.throws(() => again.messages("s"), isAegis("SESSION_STORE_FAILED", /message 1 of session s .* damaged.*Start a new session/));
  });

  test("a file that is not a database is refused with advice", (t) => {
    const file = join(tempDir(t), "s.db");
    writeFileSync(file, "this is not sqlite at all, just text".repeat(100));
    assert.throws(() => SessionStore.open(file), isAegis("SESSION_STORE_FAILED", /Cannot open the sessions database .*move it aside/));
  });

  test("a newer schema is refused rather than misread", (t) => {
    const file = join(tempDir(t), "s.db");
    SessionStore.open(file).close();
    const db = new DatabaseSync(file);
    db.prepare("UPDATE meta SET value = '9' WHERE key = 'schema'").run();
    db.close();
    assert.throws(() => SessionStore.open(file), isAegis("SESSION_STORE_FAILED", /schema 9/));
  });

  test("attack: session ids cannot carry paths, control characters or be empty", () => {
    for (const bad of ["", "../x", "a/b", "a\nb", "-rf", "x".repeat(65), "a b"]) assert.throws(() => assertSessionId(bad), isAegis("USAGE"));
    assert.equal(assertSessionId("email-triage.2026_11"), "email-triage.2026_11");
  });
});
