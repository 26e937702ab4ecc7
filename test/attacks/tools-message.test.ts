/**
 * Attacks on message.send, the classic exfiltration path: channels that do
 * not exist or are spelled to look like one that does, a scope string smuggled
 * in the channel name, a run against a channel other than the judged one, and
 * a tainted message to a channel the owner allowed.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { NO_SECRETS } from "../../src/envelope/stages.ts";
import type { AnyTool } from "../../src/envelope/tool.ts";
import { DEFAULT_POLICY_YAML } from "../../src/policy/defaults.ts";
import type { Label } from "../../src/policy/labels.ts";
import { parsePolicy } from "../../src/policy/load.ts";
import { parseScope, type Scope } from "../../src/policy/scope.ts";
import { createMessageTool, messageTool, type MessageSink, type OutboundMessage } from "../../src/tools/message.ts";
import { tempDir } from "../helpers/tmp.ts";

function sink(channels: string[]): MessageSink & { sent: OutboundMessage[]; channelList: string[] } {
  const sent: OutboundMessage[] = [];
  return {
    sent,
    channelList: channels,
    channels: () => channels,
    deliver: (m) => {
      sent.push(m);
      return Promise.resolve({ id: "1" });
    },
  };
}

function runWith(tool: AnyTool, args: Record<string, unknown>, scopes: readonly Scope[], dataDir = "/nonexistent"): Promise<unknown> {
  return tool.run(tool.args.parse(args), { workspace: "/", scopes, dataDir, secrets: NO_SECRETS, signal: new AbortController().signal, runProcess: () => Promise.reject(new Error("no processes")) });
}

describe("attack: channels that are not configured", () => {
  test("look-alike and smuggled channel names are refused by the argument schema", () => {
    for (const channel of ["оutbox" /* Cyrillic о */, "outbox\u200b", "outbox:evil", "outbox\nmessage.send:evil", "OUTBOX", " outbox", "../outbox", "outbox.evil"]) {
      assert.equal(messageTool.args.safeParse({ channel, text: "secrets" }).success, false, JSON.stringify(channel));
    }
  });

  test("an unknown channel is refused when judged, so nobody is asked to approve a message to it", () => {
    const s = sink(["chat"]);
    assert.throws(() => createMessageTool(s).scopes({ channel: "pastebin", text: "secrets" }, { workspace: "/" }), /configured channels are: chat/);
  });

  test("a channel removed after the decision is refused at run time; nothing is delivered", async () => {
    const s = sink(["chat", "webhook"]);
    const tool = createMessageTool(s);
    const scopes = tool.scopes({ channel: "webhook", text: "x" }, { workspace: "/" }).map((x) => parseScope(x));
    s.channelList.splice(s.channelList.indexOf("webhook"), 1);
    await assert.rejects(runWith(tool, { channel: "webhook", text: "secrets" }, scopes), /no message channel "webhook"/);
    assert.deepEqual(s.sent, []);
  });

  test("a run whose arguments name another channel than the judged scope is refused", async () => {
    const s = sink(["chat", "public-feed"]);
    const tool = createMessageTool(s);
    await assert.rejects(runWith(tool, { channel: "public-feed", text: "secrets" }, [parseScope("message.send:chat")]), /runs only with the channel it was judged on/);
    await assert.rejects(runWith(tool, { channel: "chat", text: "secrets" }, []), /runs only with the channel it was judged on/);
    assert.deepEqual(s.sent, []);
  });
});

describe("attack: the recipient cannot steer where the outbox file goes", () => {
  test("a recipient full of path tricks stays a field in the JSON file", async (t) => {
    const data = tempDir(t);
    const args = { channel: "outbox", to: "../../../../tmp/pwned", text: "x" };
    await runWith(messageTool, args, [parseScope("message.send:outbox")], data);
    const files = readdirSync(join(data, "outbox", "messages"));
    assert.equal(files.length, 1);
    assert.match(files[0] ?? "", /^\d{4}-\d\d-\d\dT[\d-]+Z-[0-9a-f]{8}\.json$/, "named by time and a random id only");
    assert.equal((JSON.parse(readFileSync(join(data, "outbox", "messages", files[0] ?? ""), "utf8")) as { to?: string }).to, args.to);
    assert.deepEqual(readdirSync(data), ["outbox"]);
  });
});

describe("attack: tainted messages", () => {
  test("even on a channel the owner allowed, a message influenced by untrusted content asks", () => {
    const vars = { workspace: "/home/u/ws", home: "/home/u", profile: "/home/u/.aegisclaw" };
    const policy = parsePolicy(`${DEFAULT_POLICY_YAML}\n  - id: outbox-free\n    match: { scope: "message.send:outbox" }\n    decision: allow\n    reason: test\n`, { vars });
    const decide = (labels: Label[], actor = "model:test"): string =>
      policy.decide({ tool: "message.send", scopes: [parseScope("message.send:outbox")], args: { channel: "outbox", text: "x" }, labels, actor }).decision;
    // The default asks an agent about every message; an owner's allow rule for the channel does not lift that (ask beats allow) …
    assert.equal(decide([]), "ask");
    // … and for the owner, whom no ask rule names, the allow applies — unless the message is tainted.
    assert.equal(decide([], "owner"), "allow");
    assert.equal(decide(["untrusted:web"], "owner"), "ask");
  });
});
