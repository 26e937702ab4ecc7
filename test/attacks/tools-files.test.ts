/**
 * Attacks on files.write and files.edit: the path changes between the policy
 * decision and the run. Each test judges the call first (scopes computed and
 * canonicalised as the envelope does), then swaps something on disk — the
 * file for a symlink, a parent directory for a symlink, the file for a FIFO —
 * and runs with the scopes judged before the swap. What must never happen is
 * a byte written (or a directory created) outside what was judged.
 * The last suite swaps while a real Envelope records its decision.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import type { AuditInput } from "../../src/audit/entry.ts";
import { AuditLog } from "../../src/audit/log.ts";
import { createCheckpointSigner, generateCheckpointKey } from "../../src/audit/checkpoint.ts";
import { SqliteAuditStore } from "../../src/audit/sqlite-store.ts";
import { Envelope } from "../../src/envelope/envelope.ts";
import { LocalExecutor } from "../../src/envelope/local-executor.ts";
import { NO_SECRETS, NoSecretBroker } from "../../src/envelope/stages.ts";
import type { AnyTool, ToolOutput } from "../../src/envelope/tool.ts";
import { KnownSecretRedactor } from "../../src/guard/redact.ts";
import { DEFAULT_POLICY_YAML } from "../../src/policy/defaults.ts";
import { parsePolicy } from "../../src/policy/load.ts";
import { parseScope, type Scope } from "../../src/policy/scope.ts";
import { filesEditTool, filesWriteTool } from "../../src/tools/files.ts";
import { tempDir } from "../helpers/tmp.ts";

const SECRET = "-----BEGIN OPENSSH PRIVATE KEY----- canary";

interface World {
  ws: string;
  outside: string;
}

function world(t: TestContext): World {
  const root = tempDir(t, "aegisclaw-attack-files-");
  const ws = join(root, "ws");
  const outside = join(root, "outside");
  mkdirSync(ws);
  mkdirSync(outside);
  writeFileSync(join(outside, "authorized_keys"), SECRET);
  return { ws, outside };
}

/** Judges now: parsed arguments and canonical scopes, as the envelope computes them before asking policy. */
function judge(tool: AnyTool, args: Record<string, unknown>, ws: string): { args: Record<string, unknown>; scopes: Scope[] } {
  const parsed = tool.args.parse(args);
  return { args: parsed, scopes: tool.scopes(parsed, { workspace: ws }).map((s) => parseScope(s, { cwd: ws })) };
}

function runJudged(tool: AnyTool, judged: { args: Record<string, unknown>; scopes: readonly Scope[] }, ws: string): Promise<ToolOutput> {
  return tool.run(judged.args, { workspace: ws, scopes: judged.scopes, dataDir: ws, secrets: NO_SECRETS, signal: new AbortController().signal, runProcess: () => Promise.reject(new Error("no processes")) });
}

/** Everything under `dir` with its contents, to prove nothing changed there. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
    const p = join(dir, name);
    const st = lstatSync(p);
    out[name] = st.isFile() ? readFileSync(p, "utf8") : st.isDirectory() ? "<dir>" : st.isSymbolicLink() ? "<link>" : "<other>";
  }
  return out;
}

describe("attack: the target file is swapped for a symlink after the decision", () => {
  test("files.write refuses and writes nothing through the link", async (t) => {
    const { ws, outside } = world(t);
    writeFileSync(join(ws, "notes.txt"), "harmless");
    const judged = judge(filesWriteTool, { path: "notes.txt", content: "ssh-ed25519 AAAA attacker" }, ws);
    assert.equal(judged.scopes[0]?.resource, join(ws, "notes.txt"), "judged: a plain workspace file");
    const before = snapshot(outside);
    unlinkSync(join(ws, "notes.txt"));
    symlinkSync(join(outside, "authorized_keys"), join(ws, "notes.txt"));
    await assert.rejects(runJudged(filesWriteTool, judged, ws), /symbolic link/);
    assert.deepEqual(snapshot(outside), before);
    assert.ok(lstatSync(join(ws, "notes.txt")).isSymbolicLink(), "the link was neither followed nor replaced");
  });

  test("files.write of a new file refuses a symlink planted at the name after the decision", async (t) => {
    const { ws, outside } = world(t);
    const judged = judge(filesWriteTool, { path: "new.txt", content: "payload" }, ws);
    symlinkSync(join(outside, "authorized_keys"), join(ws, "new.txt"));
    await assert.rejects(runJudged(filesWriteTool, judged, ws), /symbolic link/);
    assert.equal(readFileSync(join(outside, "authorized_keys"), "utf8"), SECRET);
  });

  test("files.write refuses a dangling symlink planted at the name (it would create the file outside)", async (t) => {
    const { ws, outside } = world(t);
    const judged = judge(filesWriteTool, { path: "new.txt", content: "payload" }, ws);
    symlinkSync(join(outside, "created-by-attack"), join(ws, "new.txt"));
    await assert.rejects(runJudged(filesWriteTool, judged, ws), /symbolic link/);
    assert.equal(existsSync(join(outside, "created-by-attack")), false);
  });

  test("files.edit refuses and neither reads nor writes the link's target", async (t) => {
    const { ws, outside } = world(t);
    writeFileSync(join(ws, "config"), "canary");
    const judged = judge(filesEditTool, { path: "config", old_text: "canary", new_text: "owned" }, ws);
    unlinkSync(join(ws, "config"));
    writeFileSync(join(outside, "config"), "canary");
    symlinkSync(join(outside, "config"), join(ws, "config"));
    await assert.rejects(runJudged(filesEditTool, judged, ws), /symbolic link/);
    assert.equal(readFileSync(join(outside, "config"), "utf8"), "canary");
  });
});

describe("attack: a parent directory is swapped for a symlink after the decision", () => {
  test("files.write into ws/dir/file refuses when ws/dir now leads outside", async (t) => {
    const { ws, outside } = world(t);
    mkdirSync(join(ws, "dir"));
    const judged = judge(filesWriteTool, { path: "dir/authorized_keys", content: "ssh-ed25519 AAAA attacker" }, ws);
    assert.equal(judged.scopes[0]?.resource, join(ws, "dir", "authorized_keys"));
    const before = snapshot(outside);
    rmSync(join(ws, "dir"), { recursive: true });
    symlinkSync(outside, join(ws, "dir"));
    await assert.rejects(runJudged(filesWriteTool, judged, ws), /changed between the policy decision and the write/);
    assert.deepEqual(snapshot(outside), before, "nothing written or left behind outside");
  });

  test("a grandparent swapped (ws/a/b/file with ws/a now a link) is refused too", async (t) => {
    const { ws, outside } = world(t);
    mkdirSync(join(ws, "a", "b"), { recursive: true });
    mkdirSync(join(outside, "b"));
    const judged = judge(filesWriteTool, { path: "a/b/f.txt", content: "payload" }, ws);
    const before = snapshot(outside);
    rmSync(join(ws, "a"), { recursive: true });
    symlinkSync(outside, join(ws, "a"));
    await assert.rejects(runJudged(filesWriteTool, judged, ws), /changed between the policy decision and the write/);
    assert.deepEqual(snapshot(outside), before);
  });

  test("the judged directory moved away and replaced by a link is refused (not written into the moved directory either)", async (t) => {
    const { ws, outside } = world(t);
    mkdirSync(join(ws, "dir"));
    const judged = judge(filesWriteTool, { path: "dir/f.txt", content: "payload" }, ws);
    renameSync(join(ws, "dir"), join(ws, "moved"));
    symlinkSync(outside, join(ws, "dir"));
    await assert.rejects(runJudged(filesWriteTool, judged, ws));
    assert.deepEqual(readdirSync(join(ws, "moved")), []);
    assert.deepEqual(readdirSync(outside), ["authorized_keys"]);
  });

  test("create_dirs: a missing directory planted as a symlink after the decision is not followed", async (t) => {
    const { ws, outside } = world(t);
    const judged = judge(filesWriteTool, { path: "new/deeper/f.txt", content: "payload", create_dirs: true }, ws);
    assert.equal(judged.scopes[0]?.resource, join(ws, "new", "deeper", "f.txt"));
    const before = snapshot(outside);
    symlinkSync(outside, join(ws, "new"));
    await assert.rejects(runJudged(filesWriteTool, judged, ws), /changed between the policy decision and the write \(it is now a symlink/);
    assert.deepEqual(snapshot(outside), before, "no directory was created outside");
  });

  test("files.edit through a swapped parent is refused and the outside file is untouched", async (t) => {
    const { ws, outside } = world(t);
    mkdirSync(join(ws, "dir"));
    writeFileSync(join(ws, "dir", "authorized_keys"), "placeholder");
    const judged = judge(filesEditTool, { path: "dir/authorized_keys", old_text: "canary", new_text: "attacker" }, ws);
    rmSync(join(ws, "dir"), { recursive: true });
    symlinkSync(outside, join(ws, "dir"));
    await assert.rejects(runJudged(filesEditTool, judged, ws), /changed between the policy decision/);
    assert.equal(readFileSync(join(outside, "authorized_keys"), "utf8"), SECRET);
  });
});

describe("attack: writing through special files and links", () => {
  test("a FIFO at the target is refused at once (no writer blocks on it, nothing is written into it)", { timeout: 10_000 }, async (t) => {
    const { ws } = world(t);
    execFileSync("mkfifo", [join(ws, "pipe")]);
    const started = Date.now();
    await assert.rejects(judgeAndRunWrite(ws, "pipe"), /is a FIFO/);
    assert.ok(Date.now() - started < 2000, "did not hang waiting for a reader");
    assert.ok(statSync(join(ws, "pipe")).isFIFO());
  });

  test("a FIFO swapped in for the file after the decision is refused", { timeout: 10_000 }, async (t) => {
    const { ws } = world(t);
    writeFileSync(join(ws, "f.txt"), "x");
    const judged = judge(filesWriteTool, { path: "f.txt", content: "payload" }, ws);
    unlinkSync(join(ws, "f.txt"));
    execFileSync("mkfifo", [join(ws, "f.txt")]);
    await assert.rejects(runJudged(filesWriteTool, judged, ws), /is a FIFO/);
    assert.ok(statSync(join(ws, "f.txt")).isFIFO());
  });

  test("files.edit of a FIFO does not hang and is refused", { timeout: 10_000 }, async (t) => {
    const { ws } = world(t);
    execFileSync("mkfifo", [join(ws, "pipe")]);
    await assert.rejects(runJudged(filesEditTool, judge(filesEditTool, { path: "pipe", old_text: "a", new_text: "b" }, ws), ws), /is a FIFO, not a regular file/);
  });

  test("a device is refused", async (t) => {
    const { ws } = world(t);
    symlinkSync("/dev/null", join(ws, "null"));
    const judged = judge(filesWriteTool, { path: "null", content: "x" }, ws);
    assert.equal(judged.scopes[0]?.resource, "/dev/null", "judged as the device it points to");
    await assert.rejects(runJudged(filesWriteTool, judged, ws), /is a device/);
  });

  test("a hard link to a file outside is replaced, never written through", async (t) => {
    const { ws, outside } = world(t);
    execFileSync("ln", [join(outside, "authorized_keys"), join(ws, "innocent.txt")]);
    await runJudged(filesWriteTool, judge(filesWriteTool, { path: "innocent.txt", content: "ssh-ed25519 AAAA attacker" }, ws), ws);
    assert.equal(readFileSync(join(outside, "authorized_keys"), "utf8"), SECRET);
  });

  function judgeAndRunWrite(ws: string, path: string): Promise<ToolOutput> {
    return runJudged(filesWriteTool, judge(filesWriteTool, { path, content: "payload" }, ws), ws);
  }
});

describe("attack: `..` and encodings name a path outside the workspace", () => {
  test("the scope names where `..` really leads, through symlinked directories too", (t) => {
    const { ws, outside } = world(t);
    mkdirSync(join(outside, "deep", "er"), { recursive: true });
    symlinkSync(join(outside, "deep", "er"), join(ws, "link"));
    const scopes = (path: string): string[] => filesWriteTool.scopes({ path, content: "" }, { workspace: ws });
    assert.deepEqual(scopes("../outside/authorized_keys"), [`files.write:${join(outside, "authorized_keys")}`]);
    assert.deepEqual(scopes("sub/../../outside/x"), [`files.write:${join(outside, "x")}`]);
    // ws/link/.. is the link target's parent (outside/deep), as the kernel resolves it — not ws.
    assert.deepEqual(scopes("link/../x"), [`files.write:${join(outside, "deep", "x")}`]);
    assert.ok(scopes("%2e%2e/outside/x").includes(`files.write:${join(outside, "x")}`), "the decoded reading is judged too");
  });
});

describe("attack: ambiguous edits", () => {
  test("an old_text that occurs twice does not pick one: the edit is refused and the file is unchanged", async (t) => {
    const { ws } = world(t);
    const text = "allow_login = false  # production\nallow_login = false  # staging\n";
    writeFileSync(join(ws, "settings.conf"), text);
    const judged = judge(filesEditTool, { path: "settings.conf", old_text: "allow_login = false", new_text: "allow_login = true" }, ws);
    await assert.rejects(runJudged(filesEditTool, judged, ws), /occurs 2 times/);
    assert.equal(readFileSync(join(ws, "settings.conf"), "utf8"), text);
  });
});

describe("attack: swap while a real Envelope records its decision", () => {
  async function envelopeWorld(t: TestContext): Promise<{ envelope: Envelope; ws: string; outside: string; onDecision: (fn: () => void) => void }> {
    const { ws, outside } = world(t);
    const root = tempDir(t);
    const store = new SqliteAuditStore(join(root, "audit.db"));
    const log = await AuditLog.open(store, createCheckpointSigner(generateCheckpointKey().privateKeyPem));
    t.after(() => log.close());
    let hook: (() => void) | undefined;
    // The owner's policy allows writing one directory without asking; the swap happens as the decision is recorded.
    const policy = `${DEFAULT_POLICY_YAML}\n  - id: drafts-allowed\n    match: { scope: ["files.write:\${workspace}/drafts/**", "files.read:\${workspace}/drafts/**"] }\n    decision: allow\n    reason: drafts are free\n`.replace(
      / {2}- id: files-write-workspace\n[^\n]*\n[^\n]*\n[^\n]*\n/,
      "",
    );
    const envelope = new Envelope({
      policy: parsePolicy(policy, { vars: { workspace: ws, home: root, profile: join(root, "profile") } }),
      audit: {
        append: async (input: AuditInput) => {
          const entry = await log.append(input);
          if (input.kind === "decision") hook?.();
          return entry;
        },
      },
      approver: { request: () => Promise.resolve({ approved: false, by: "test", channel: "test" }) },
      broker: new NoSecretBroker(),
      executor: new LocalExecutor({ workspace: ws, dataDir: root }),
      redactor: new KnownSecretRedactor(),
      workspace: ws,
    });
    envelope.register(filesWriteTool);
    envelope.register(filesEditTool);
    mkdirSync(join(ws, "drafts"));
    return {
      envelope,
      ws,
      outside,
      onDecision: (fn) => {
        hook = fn;
      },
    };
  }

  test("control: an allowed write into drafts/ runs", async (t) => {
    const { envelope, ws } = await envelopeWorld(t);
    const r = await envelope.submit({ tool: "files.write", args: { path: "drafts/a.txt", content: "hi" }, session: "s", actor: "model:test" });
    assert.equal(r.decision, "allow", r.reason);
    assert.equal(r.outcome, "executed", r.output);
    assert.equal(readFileSync(join(ws, "drafts", "a.txt"), "utf8"), "hi");
  });

  test("drafts/ swapped for a link to outside after an allow decision: the write fails, nothing lands outside", async (t) => {
    const { envelope, ws, outside, onDecision } = await envelopeWorld(t);
    onDecision(() => {
      rmSync(join(ws, "drafts"), { recursive: true });
      symlinkSync(outside, join(ws, "drafts"));
    });
    const before = snapshot(outside);
    const r = await envelope.submit({ tool: "files.write", args: { path: "drafts/authorized_keys", content: "ssh-ed25519 AAAA attacker" }, session: "s", actor: "model:attacker" });
    assert.equal(r.decision, "allow");
    assert.equal(r.outcome, "failed");
    assert.match(r.output, /changed between the policy decision and the write/);
    assert.deepEqual(snapshot(outside), before);
  });

  test("the file swapped for a link after an allow decision: the edit fails, the target is untouched", async (t) => {
    const { envelope, ws, outside, onDecision } = await envelopeWorld(t);
    writeFileSync(join(ws, "drafts", "keys"), "canary");
    writeFileSync(join(outside, "keys"), "canary");
    onDecision(() => {
      unlinkSync(join(ws, "drafts", "keys"));
      symlinkSync(join(outside, "keys"), join(ws, "drafts", "keys"));
    });
    const r = await envelope.submit({ tool: "files.edit", args: { path: "drafts/keys", old_text: "canary", new_text: "attacker" }, session: "s", actor: "model:attacker" });
    assert.equal(r.decision, "allow");
    assert.equal(r.outcome, "failed");
    assert.equal(readFileSync(join(outside, "keys"), "utf8"), "canary");
  });
});
