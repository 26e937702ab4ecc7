import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { z } from "zod";
import { AuditLog } from "../../src/audit/log.ts";
import { createCheckpointSigner, generateCheckpointKey } from "../../src/audit/checkpoint.ts";
import { SqliteAuditStore } from "../../src/audit/sqlite-store.ts";
import type { AuditEntry, AuditInput } from "../../src/audit/entry.ts";
import { Envelope, type EnvelopeOptions } from "../../src/envelope/envelope.ts";
import { LocalExecutor } from "../../src/envelope/local-executor.ts";
import { NoApprover, NoSecretBroker, type Approver, type AuditSink, type IssuedSecrets, type SecretBroker } from "../../src/envelope/stages.ts";
import { defineTool } from "../../src/envelope/tool.ts";
import { KnownSecretRedactor } from "../../src/guard/redact.ts";
import { parsePolicy } from "../../src/policy/load.ts";
import { shellExecTool } from "../../src/tools/shell.ts";
import { tempDir } from "../helpers/tmp.ts";

const POLICY = `
version: 1
rules:
  - id: notes-allowed
    match: { scope: "notes.write" }
    decision: allow
    constraints: { rate_limit: { max: 2, per: 1h } }
    reason: notes may be written twice an hour
  - id: mail-asks
    match: { scope: "mail.send" }
    decision: ask
    reason: mail needs approval
  - id: shell-asks
    match: { scope: "shell.exec" }
    decision: ask
    reason: commands need approval
  - id: cwd-readable
    match: { scope: "files.read" }
    decision: allow
    reason: the sandbox may see the working directory
`;

interface Harness {
  envelope: Envelope;
  log: AuditLog;
  calls: string[];
  entries(): Promise<AuditEntry[]>;
}

function makeTools(calls: string[], secretEcho?: (env: Readonly<Record<string, string>>) => string) {
  const note = defineTool({
    name: "notes.write",
    description: "append a note",
    risk: "low",
    args: z.object({ text: z.string() }).strict(),
    spawnsProcess: false,
    scopes: () => ["notes.write"],
    run: (args, ctx) => {
      calls.push(`note:${args.text}`);
      return Promise.resolve({ text: secretEcho ? secretEcho(ctx.secrets.env) : `noted ${args.text}` });
    },
  });
  const mail = defineTool({
    name: "mail.send",
    description: "send mail",
    risk: "high",
    args: z.object({ to: z.string() }).strict(),
    spawnsProcess: false,
    scopes: () => ["mail.send"],
    run: (args) => {
      calls.push(`mail:${args.to}`);
      return Promise.resolve({ text: "sent" });
    },
  });
  const broken = defineTool({
    name: "notes.broken",
    description: "always fails",
    risk: "low",
    args: z.object({}).strict(),
    spawnsProcess: false,
    scopes: () => ["notes.write"],
    run: () => Promise.reject(new Error("disk on fire")),
  });
  return [note, mail, broken];
}

async function harness(t: TestContext, overrides: Partial<EnvelopeOptions> = {}, secretEcho?: (env: Readonly<Record<string, string>>) => string): Promise<Harness> {
  const dir = tempDir(t);
  const store = new SqliteAuditStore(join(dir, "audit.db"));
  const log = await AuditLog.open(store, createCheckpointSigner(generateCheckpointKey().privateKeyPem));
  t.after(() => log.close());
  const calls: string[] = [];
  const envelope = new Envelope({
    policy: parsePolicy(POLICY),
    audit: log,
    approver: new NoApprover(),
    broker: new NoSecretBroker(),
    executor: new LocalExecutor({ workspace: dir, dataDir: dir }),
    redactor: new KnownSecretRedactor(),
    workspace: dir,
    ...overrides,
  });
  for (const tool of [...makeTools(calls, secretEcho), shellExecTool]) envelope.register(tool);
  return {
    envelope,
    log,
    calls,
    entries: async () => {
      await log.flush();
      return store.query({});
    },
  };
}

const base = { session: "s1", actor: "test" };

describe("envelope", () => {
  test("an allowed call runs once and is audited as one decision before and one outcome after", async (t) => {
    const h = await harness(t);
    const r = await h.envelope.submit({ ...base, tool: "notes.write", args: { text: "hi" } });
    assert.equal(r.outcome, "executed");
    assert.equal(r.output, "noted hi");
    assert.deepEqual(h.calls, ["note:hi"]);
    const entries = await h.entries();
    assert.deepEqual(entries.map((e) => [e.kind, e.decision]), [["decision", "allow"], ["outcome", "ok"]]);
    const outcome = JSON.parse(entries[1]?.detail ?? "{}") as { outputSha256: string; id: string };
    assert.equal(outcome.outputSha256, createHash("sha256").update("noted hi").digest("hex"));
    assert.equal(outcome.id, r.actionId);
    for (const stage of ["policy", "audit_decision", "secrets", "execute", "redact", "audit_outcome", "total"]) assert.equal(typeof r.timings[stage], "number", stage);
  });

  test("if the decision cannot be recorded, the tool does not run", async (t) => {
    const h = await harness(t);
    const failing: AuditSink = { append: (_input: AuditInput) => Promise.reject(new Error("disk full")) };
    const envelope = new Envelope({
      policy: parsePolicy(POLICY),
      audit: failing,
      approver: new NoApprover(),
      broker: new NoSecretBroker(),
      executor: new LocalExecutor({ workspace: "/tmp", dataDir: "/tmp" }),
      redactor: new KnownSecretRedactor(),
      workspace: "/tmp",
    });
    for (const tool of makeTools(h.calls)) envelope.register(tool);
    await assert.rejects(envelope.submit({ ...base, tool: "notes.write", args: { text: "x" } }), /disk full/);
    assert.deepEqual(h.calls, []);
  });

  test("unknown tools, invalid arguments and uncovered scopes are denied and recorded", async (t) => {
    const h = await harness(t);
    const unknown = await h.envelope.submit({ ...base, tool: "payments.send", args: {} });
    const invalid = await h.envelope.submit({ ...base, tool: "notes.write", args: { text: 5 } });
    const extra = await h.envelope.submit({ ...base, tool: "notes.write", args: { text: "a", sneaky: "b" } });
    const notObject = await h.envelope.submit({ ...base, tool: "notes.write", args: "text=hi" });
    for (const r of [unknown, invalid, extra, notObject]) {
      assert.equal(r.decision, "deny");
      assert.equal(r.outcome, "denied");
    }
    assert.match(unknown.reason, /unknown tool/);
    assert.match(invalid.reason, /invalid/);
    assert.deepEqual(h.calls, []);
    const entries = await h.entries();
    assert.equal(entries.length, 4);
    assert.ok(entries.every((e) => e.kind === "decision" && e.decision === "deny"));
  });

  test("ask without an approver is denied, and the refusal is audited", async (t) => {
    const h = await harness(t);
    const r = await h.envelope.submit({ ...base, tool: "mail.send", args: { to: "a@b.example" } });
    assert.equal(r.decision, "ask");
    assert.equal(r.outcome, "denied");
    assert.equal(r.approval?.approved, false);
    assert.deepEqual(h.calls, []);
    const entries = await h.entries();
    assert.deepEqual(entries.map((e) => [e.kind, e.decision]), [["decision", "ask"], ["approval", "rejected"]]);
  });

  test("an approved ask runs, with the approver and channel in the audit log", async (t) => {
    const approver: Approver = { request: (req) => Promise.resolve({ approved: req.action.tool === "mail.send", by: "owner", channel: "tui" }) };
    const h = await harness(t, { approver });
    const r = await h.envelope.submit({ ...base, tool: "mail.send", args: { to: "a@b.example" } });
    assert.equal(r.outcome, "executed");
    assert.deepEqual(h.calls, ["mail:a@b.example"]);
    const entries = await h.entries();
    assert.deepEqual(entries.map((e) => [e.kind, e.decision, e.actor]), [["decision", "ask", "test"], ["approval", "approved", "owner"], ["outcome", "ok", "test"]]);
    assert.equal((JSON.parse(entries[1]?.detail ?? "{}") as { channel: string }).channel, "tui");
  });

  test("an approval that never comes times out to deny", async (t) => {
    const approver: Approver = { request: (_req, signal) => new Promise((_resolve, reject) => { signal.addEventListener("abort", () => { reject(new Error("aborted")); }); }) };
    const h = await harness(t, { approver, approvalTimeoutMs: 50 });
    const r = await h.envelope.submit({ ...base, tool: "mail.send", args: { to: "a@b.example" } });
    assert.equal(r.outcome, "denied");
    assert.equal(r.approval?.channel, "timeout");
    assert.deepEqual(h.calls, []);
  });

  test("an approver that throws means deny", async (t) => {
    const approver: Approver = { request: () => Promise.reject(new Error("ui crashed")) };
    const h = await harness(t, { approver });
    const r = await h.envelope.submit({ ...base, tool: "mail.send", args: { to: "a@b.example" } });
    assert.equal(r.outcome, "denied");
    assert.equal(r.approval?.channel, "error");
  });

  test("a failing tool is audited as an error outcome, secrets are still revoked", async (t) => {
    let revoked = 0;
    const broker: SecretBroker = {
      issue: () => Promise.resolve<IssuedSecrets>({ env: { TOKEN: "s3cr3t-value" }, values: ["s3cr3t-value"], names: ["TOKEN"], revoke: () => { revoked += 1; return Promise.resolve(); } }),
      knownValues: () => [],
    };
    const h = await harness(t, { broker });
    const r = await h.envelope.submit({ ...base, tool: "notes.broken", args: {} });
    assert.equal(r.outcome, "failed");
    assert.match(r.output, /disk on fire/);
    assert.equal(revoked, 1);
    const entries = await h.entries();
    assert.deepEqual(entries.map((e) => [e.kind, e.decision]), [["decision", "allow"], ["outcome", "error"]]);
  });

  test("attack: a tool echoing its secret in raw, base64, hex and URL forms returns none of them", async (t) => {
    const secret = "ghp_TopSecretToken/with+chars=42";
    const broker: SecretBroker = {
      issue: () => Promise.resolve<IssuedSecrets>({ env: { TOKEN: secret }, values: [secret], names: ["TOKEN"], revoke: () => Promise.resolve() }),
      knownValues: () => [],
    };
    const echo = (env: Readonly<Record<string, string>>): string => {
      const s = env.TOKEN ?? "";
      return [s, Buffer.from(s).toString("base64"), Buffer.from(`Bearer:${s}`).toString("base64"), Buffer.from(s).toString("hex"), encodeURIComponent(s)].join("\n");
    };
    const h = await harness(t, { broker }, echo);
    const r = await h.envelope.submit({ ...base, tool: "notes.write", args: { text: "x" } });
    assert.equal(r.outcome, "executed");
    for (const form of [secret, Buffer.from(secret).toString("base64").slice(0, 20), Buffer.from(secret).toString("hex"), encodeURIComponent(secret)]) {
      assert.ok(!r.output.includes(form), `leaked form ${form}`);
    }
    const all = (await h.entries()).map((e) => e.detail).join("\n");
    assert.ok(!all.includes(secret));
  });

  test("attack: secrets the broker knows are scrubbed from arguments before they reach the audit log", async (t) => {
    const secret = "sk-live-abcdef123456";
    const broker: SecretBroker = { issue: () => Promise.resolve<IssuedSecrets>({ env: {}, values: [], names: [], revoke: () => Promise.resolve() }), knownValues: () => [secret] };
    const h = await harness(t, { broker });
    await h.envelope.submit({ ...base, tool: "notes.write", args: { text: `the key is ${secret}` } });
    const all = (await h.entries()).map((e) => e.detail).join("\n");
    assert.ok(!all.includes(secret));
    assert.match(all, /\[REDACTED\]/);
  });

  test("attack: what an approver is shown is scrubbed by the envelope, whoever the approver is", async (t) => {
    const secret = "sk-live-abcdef123456";
    const broker: SecretBroker = { issue: () => Promise.resolve<IssuedSecrets>({ env: {}, values: [], names: [], revoke: () => Promise.resolve() }), knownValues: () => [secret] };
    const shown: string[] = [];
    const approver: Approver = {
      request: (req) => {
        shown.push(JSON.stringify(req.shown));
        return Promise.resolve({ approved: false, by: "owner", channel: "test" });
      },
    };
    const h = await harness(t, { broker, approver });
    await h.envelope.submit({ ...base, tool: "mail.send", args: { to: `${secret}@b.example` }, influencedBy: [`mail-${secret}`] });
    assert.equal(shown.length, 1);
    assert.ok(!(shown[0] ?? "").includes(secret), shown[0]);
    assert.match(shown[0] ?? "", /\[REDACTED\]/);
  });

  test("rate limits count executed calls and then deny", async (t) => {
    const h = await harness(t);
    const results = [];
    for (let i = 0; i < 3; i += 1) results.push(await h.envelope.submit({ ...base, tool: "notes.write", args: { text: String(i) } }));
    assert.deepEqual(results.map((r) => r.decision), ["allow", "allow", "deny"]);
    assert.match(results[2]?.reason ?? "", /rate_limit/);
    assert.deepEqual(h.calls, ["note:0", "note:1"]);
  });

  test("attack: a process tool is refused by the local executor unless --unsafe-host was chosen", async (t) => {
    const approver: Approver = { request: () => Promise.resolve({ approved: true, by: "owner", channel: "test" }) };
    const h = await harness(t, { approver });
    const r = await h.envelope.submit({ ...base, tool: "shell.exec", args: { argv: ["/bin/echo", "pwned"] } });
    assert.equal(r.outcome, "failed");
    assert.match(r.output, /no sandbox backend/);
    const dir = tempDir(t);
    const unsafe = await harness(t, { approver, executor: new LocalExecutor({ workspace: dir, dataDir: dir, unsafeHost: true }), workspace: dir });
    const ok = await unsafe.envelope.submit({ ...base, tool: "shell.exec", args: { argv: ["/bin/echo", "hello"] } });
    assert.equal(ok.outcome, "executed");
    assert.equal(ok.output.trim(), "hello");
    const entries = await unsafe.entries();
    assert.equal((JSON.parse(entries[0]?.detail ?? "{}") as { sandboxed: boolean }).sandboxed, false);
  });

  test("the action digest binds tool and canonical arguments", async (t) => {
    const seen: string[] = [];
    const approver: Approver = { request: (req) => { seen.push(req.action.digest); return Promise.resolve({ approved: false, by: "owner", channel: "test" }); } };
    const h = await harness(t, { approver });
    await h.envelope.submit({ ...base, tool: "mail.send", args: { to: "a@b.example" } });
    await h.envelope.submit({ ...base, tool: "mail.send", args: { to: "a@b.example" } });
    await h.envelope.submit({ ...base, tool: "mail.send", args: { to: "c@b.example" } });
    assert.equal(seen[0], seen[1]);
    assert.notEqual(seen[0], seen[2]);
  });

  test("attack: concurrent calls cannot all pass a rate limit checked before any of them ran", async (t) => {
    const h = await harness(t);
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => h.envelope.submit({ ...base, tool: "notes.write", args: { text: String(i) } })));
    assert.equal(results.filter((r) => r.outcome === "executed").length, 2);
    assert.equal(h.calls.length, 2);
  });

  test("attack: malformed proposals are denied and recorded, and do not break other actions in the same batch", async (t) => {
    const h = await harness(t);
    const cyclic: Record<string, unknown> = { text: "x" };
    cyclic.self = cyclic;
    const bad = [
      { ...base, tool: 42, args: { text: "x" } },
      { ...base, tool: "notes.write", args: { text: 10n } },
      { ...base, tool: "notes.write", args: cyclic },
      { ...base, tool: "notes.write\u001b[2J", args: { text: "x" } },
      { session: "s1", tool: "notes.write", args: { text: "x" } },
      { ...base, tool: "notes.write", args: { text: "x" }, labels: "untrusted:email" },
    ];
    const good = h.envelope.submit({ ...base, tool: "notes.write", args: { text: "ok" } });
    const results = await Promise.all(bad.map((p) => h.envelope.submit(p as unknown as Parameters<Envelope["submit"]>[0])));
    assert.equal((await good).outcome, "executed");
    for (const r of results) assert.equal(r.decision, "deny", r.reason);
    assert.deepEqual(h.calls, ["note:ok"]);
    const entries = await h.entries();
    assert.equal(entries.filter((e) => e.kind === "decision" && e.decision === "deny").length, bad.length);
  });

  test("attack: a label spelt differently still matches a label rule and taints", async (t) => {
    const policy = parsePolicy(`${POLICY}  - id: no-mail-from-email\n    match: { scope: "notes.write" }\n    when: { labels: ["untrusted:email"] }\n    decision: deny\n    reason: nothing written on an e-mail's say-so\n`);
    const h = await harness(t, { policy });
    for (const label of ["Untrusted:Email", " untrusted:email", "UNTRUSTED:EMAIL"]) {
      const r = await h.envelope.submit({ ...base, tool: "notes.write", args: { text: label }, labels: [label] });
      assert.equal(r.decision, "deny", label);
    }
    assert.deepEqual(h.calls, []);
  });

  test("a tool that ignores its abort signal is recorded as failed at the deadline", async (t) => {
    const h = await harness(t, { toolTimeoutMs: 100 });
    const stuck = defineTool({
      name: "notes.stuck",
      description: "never returns",
      risk: "low",
      args: z.object({}).strict(),
      spawnsProcess: false,
      scopes: () => ["notes.write"],
      run: () => new Promise(() => undefined),
    });
    h.envelope.register(stuck);
    const r = await h.envelope.submit({ ...base, tool: "notes.stuck", args: {} });
    assert.equal(r.outcome, "failed");
    assert.match(r.output, /timed out/);
    const entries = await h.entries();
    assert.deepEqual(entries.map((e) => [e.kind, e.decision]), [["decision", "allow"], ["outcome", "error"]]);
  });
});
