/**
 * message.send: the scope names the channel; delivery goes to a pluggable
 * sink; the default sink queues a private JSON file per message; unknown
 * channels are refused with the list of known ones; the default policy asks
 * before an agent sends anything.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { AuditLog } from "../../src/audit/log.ts";
import { createCheckpointSigner, generateCheckpointKey } from "../../src/audit/checkpoint.ts";
import { SqliteAuditStore } from "../../src/audit/sqlite-store.ts";
import { actionDigest } from "../../src/envelope/action.ts";
import { Envelope } from "../../src/envelope/envelope.ts";
import { LocalExecutor } from "../../src/envelope/local-executor.ts";
import { NO_SECRETS, NoSecretBroker, type ApprovalRequest } from "../../src/envelope/stages.ts";
import type { AnyTool, ToolOutput } from "../../src/envelope/tool.ts";
import { KnownSecretRedactor } from "../../src/guard/redact.ts";
import { DEFAULT_POLICY_YAML } from "../../src/policy/defaults.ts";
import { parsePolicy } from "../../src/policy/load.ts";
import { parseScope } from "../../src/policy/scope.ts";
import { createMessageTool, messageTool, type MessageSink, type OutboundMessage } from "../../src/tools/message.ts";
import { tempDir } from "../helpers/tmp.ts";

function send(tool: AnyTool, args: Record<string, unknown>, dataDir: string): Promise<ToolOutput> {
  const parsed = tool.args.parse(args);
  const scopes = tool.scopes(parsed, { workspace: dataDir }).map((s) => parseScope(s));
  return tool.run(parsed, { workspace: dataDir, scopes, dataDir, secrets: NO_SECRETS, signal: new AbortController().signal, runProcess: () => Promise.reject(new Error("no processes")) });
}

function recordingSink(channels: string[]): MessageSink & { sent: OutboundMessage[] } {
  const sent: OutboundMessage[] = [];
  return {
    sent,
    channels: () => channels,
    deliver: (m) => {
      sent.push(m);
      return Promise.resolve({ id: `msg-${String(sent.length)}`, note: "delivered" });
    },
  };
}

describe("message.send", () => {
  test("the scope is message.send:<channel>", () => {
    assert.deepEqual(messageTool.scopes({ channel: "outbox", text: "hi" }, { workspace: "/" }), ["message.send:outbox"]);
  });

  test("the default tool queues each message as a 0600 JSON file in <data>/outbox/messages/ (directory 0700)", async (t) => {
    const data = tempDir(t);
    const args = { channel: "outbox", to: "alice", text: "Meeting moved to 3pm.\nSee you." };
    const out = await send(messageTool, args, data);
    const dir = join(data, "outbox", "messages");
    const files = readdirSync(dir);
    assert.equal(files.length, 1);
    const file = join(dir, files[0] ?? "");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const record = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    assert.equal(record.channel, "outbox");
    assert.equal(record.to, "alice");
    assert.equal(record.text, args.text);
    assert.equal(record.action, actionDigest("message.send", args), "the same digest the audit log records for the action");
    assert.match(out.text, /^sent on outbox to alice \(id [^)]+\): queued in /);
    await send(messageTool, { channel: "outbox", text: "second" }, data);
    assert.equal(readdirSync(dir).length, 2, "each message is its own file");
  });

  test("a custom sink receives exactly the judged channel, recipient and text", async (t) => {
    const sink = recordingSink(["chat", "ops-alerts"]);
    const tool = createMessageTool(sink);
    const out = await send(tool, { channel: "ops-alerts", text: "disk 91% full" }, tempDir(t));
    assert.equal(sink.sent.length, 1);
    assert.equal(sink.sent[0]?.channel, "ops-alerts");
    assert.equal(sink.sent[0].to, undefined);
    assert.equal(sink.sent[0].text, "disk 91% full");
    assert.equal(out.text, "sent on ops-alerts (id msg-1): delivered");
    assert.deepEqual(out.details, { channel: "ops-alerts", id: "msg-1", chars: 13 });
  });

  test("an unknown channel cannot be judged: refused with the list of known channels, and nothing is delivered", () => {
    const sink = recordingSink(["chat", "ops-alerts"]);
    const tool = createMessageTool(sink);
    assert.throws(() => tool.scopes({ channel: "telegram", text: "x" }, { workspace: "/" }), /no message channel "telegram"; the configured channels are: chat, ops-alerts/);
    assert.equal(sink.sent.length, 0);
  });

  test("arguments: a short lower-case channel, a one-line recipient, text up to 64 KiB, nothing else", () => {
    const ok = (args: Record<string, unknown>): boolean => messageTool.args.safeParse(args).success;
    assert.ok(ok({ channel: "outbox", text: "x".repeat(64 * 1024) }));
    assert.ok(!ok({ channel: "outbox", text: "x".repeat(64 * 1024 + 1) }));
    assert.ok(!ok({ channel: "outbox", text: "" }));
    assert.ok(!ok({ channel: "Outbox", text: "x" }));
    assert.ok(!ok({ channel: "outbox:evil", text: "x" }));
    assert.ok(!ok({ channel: "x".repeat(65), text: "x" }));
    assert.ok(!ok({ channel: "outbox", to: "a\nBcc: b", text: "x" }));
    assert.ok(!ok({ channel: "outbox", text: "x", attachments: ["/etc/passwd"] }));
  });
});

describe("message.send through a real Envelope with the default policy", () => {
  async function world(t: TestContext, approve: boolean): Promise<{ envelope: Envelope; data: string; asked: ApprovalRequest[] }> {
    const root = tempDir(t);
    const data = join(root, "data");
    const log = await AuditLog.open(new SqliteAuditStore(join(root, "audit.db")), createCheckpointSigner(generateCheckpointKey().privateKeyPem));
    t.after(() => log.close());
    const asked: ApprovalRequest[] = [];
    const envelope = new Envelope({
      policy: parsePolicy(DEFAULT_POLICY_YAML, { vars: { workspace: join(root, "ws"), home: root, profile: join(root, "profile") } }),
      audit: log,
      approver: {
        request: (req) => {
          asked.push(req);
          return Promise.resolve({ approved: approve, by: "owner", channel: "test" });
        },
      },
      broker: new NoSecretBroker(),
      executor: new LocalExecutor({ workspace: root, dataDir: data }),
      redactor: new KnownSecretRedactor(),
      workspace: root,
    });
    envelope.register(messageTool);
    return { envelope, data, asked };
  }

  test("an agent's message asks; refused, nothing is queued; approved, it is", async (t) => {
    const refused = await world(t, false);
    const r = await refused.envelope.submit({ tool: "message.send", args: { channel: "outbox", text: "hello" }, session: "s", actor: "model:test" });
    assert.equal(r.decision, "ask");
    assert.equal(r.rule, "message-send-agent-asks");
    assert.equal(r.outcome, "denied");
    assert.equal(refused.asked.length, 1);
    assert.throws(() => readdirSync(join(refused.data, "outbox", "messages")), /ENOENT/);

    const approved = await world(t, true);
    const a = await approved.envelope.submit({ tool: "message.send", args: { channel: "outbox", text: "hello" }, session: "s", actor: "model:test" });
    assert.equal(a.outcome, "executed", a.output);
    assert.equal(readdirSync(join(approved.data, "outbox", "messages")).length, 1);
  });

  test("an unknown channel is denied without asking anyone", async (t) => {
    const { envelope, asked } = await world(t, true);
    const r = await envelope.submit({ tool: "message.send", args: { channel: "slack", text: "hello" }, session: "s", actor: "model:test" });
    assert.equal(r.decision, "deny");
    assert.match(r.reason, /no message channel "slack"; the configured channels are: outbox/);
    assert.deepEqual(asked, []);
  });
});
