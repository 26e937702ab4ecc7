import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { before, describe, test } from "node:test";
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { after } from "node:test";
import { runCli } from "../helpers/cli.ts";

// One profile for the read-only checks in this file; tests that damage things copy it first.
let dir = "";
let home = "";
let ws = "";
before(async () => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), "aegisclaw-cli-")));
  home = join(dir, "p");
  ws = join(dir, "ws");
  const r = await runCli(["init", "--home", home, "--workspace", ws]);
  assert.equal(r.code, 0, r.stderr);
  // Give the profile a history: the quickstart scenario against this profile.
  const q = await runCli(["--home", home, "quickstart", "--json"]);
  assert.equal(q.code, 0, q.stderr + q.stdout);
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("aegisclaw policy", () => {
  test("check exits 0 for allow, 3 for ask, 4 for deny", async () => {
    const allow = await runCli(["--home", home, "policy", "check", "--tool", "files.read", "--arg", `path=${join(ws, "notes.txt")}`]);
    assert.equal(allow.code, 0, allow.stderr);
    assert.match(allow.stdout, /ALLOW.*\n.*files-read-workspace/);
    const ask = await runCli(["--home", home, "policy", "check", "--tool", "shell.exec", "--arg", "argv:=[\"ls\"]"]);
    assert.equal(ask.code, 3, ask.stderr);
    const deny = await runCli(["--home", home, "policy", "check", "--tool", "files.read", "--arg", "path=/etc/hostname"]);
    assert.equal(deny.code, 4);
    assert.match(deny.stdout, /default deny/);
  });

  test("check --json carries the decision, rule, line and per-scope results", async () => {
    const r = await runCli(["--home", home, "policy", "check", "--json", "--tool", "email.send", "--arg", "to=you@example.invalid", "--arg", "subject=s", "--arg", "body=b", "--label", "untrusted:web"]);
    assert.equal(r.code, 3);
    const d = JSON.parse(r.stdout) as { decision: string; rule: { id: string; line: number }; scopes: { scope: string; decision: string }[] };
    assert.equal(d.decision, "ask");
    assert.equal(d.rule.id, "tainted-outbound-asks");
    const policyLines = readFileSync(join(home, "policy.yaml"), "utf8").split("\n");
    assert.match(policyLines[d.rule.line - 1] ?? "", /id: tainted-outbound-asks/);
  });

  test("check with an explicit scope and an unknown tool works without a tool definition", async () => {
    const r = await runCli(["--home", home, "policy", "check", "--tool", "stripe.charge", "--scope", "payments.card.charge"]);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    const bad = await runCli(["--home", home, "policy", "check", "--tool", "x", "--scope", "Pay ments"]);
    assert.equal(bad.code, 2);
  });

  test("explain shows every rule and why it did or did not match", async () => {
    const r = await runCli(["--home", home, "policy", "explain", "--tool", "files.read", "--arg", `path=${join(ws, ".env")}`]);
    assert.equal(r.code, 4);
    for (const id of ["files-read-workspace", "credentials-never", "shell-agent-asks", "tainted-outbound-asks"]) assert.match(r.stdout, new RegExp(id));
    assert.match(r.stdout, /✓ files-read-workspace/);
    assert.match(r.stdout, /✓ credentials-never/);
    assert.match(r.stdout, /does not match/);
  });

  test("test runs a cases file: all pass → 0, a failing case → 1 with the difference", async () => {
    const cases = join(dir, "cases.yaml");
    writeFileSync(
      cases,
      `cases:
  - name: tainted mail to a stranger asks
    action: { tool: email.send, args: { to: x@evil.example, subject: hi, body: hi }, labels: [untrusted:email] }
    expect: ask
  - name: reading the workspace is allowed
    action: { tool: files.read, args: { path: "${join(ws, "notes.txt")}" } }
    expect: { decision: allow, rule: files-read-workspace }
  - name: ssh keys are never read
    action: { tool: files.read, scopes: ["files.read:${join(ws, ".ssh/id_rsa")}"] }
    expect: deny
`,
    );
    const ok = await runCli(["--home", home, "policy", "test", cases]);
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /3 passed, 0 failed/);
    writeFileSync(cases, readFileSync(cases, "utf8").replace("expect: ask", "expect: allow"));
    const fail = await runCli(["--home", home, "policy", "test", cases, "--json"]);
    assert.equal(fail.code, 1);
    const report = JSON.parse(fail.stdout) as { passed: number; failed: number };
    assert.deepEqual([report.passed, report.failed], [2, 1]);
  });

  test("lint names the line of an invalid rule; the default policy is valid", async () => {
    const good = await runCli(["--home", home, "policy", "lint"]);
    assert.equal(good.code, 0, good.stderr);
    const bad = join(dir, "bad-policy.yaml");
    writeFileSync(bad, "version: 1\nrules:\n  - match: { scope: email.send }\n    decision: maybe\n    reason: x\n");
    const r = await runCli(["--home", home, "policy", "lint", "--policy", bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad-policy\.yaml:4: rules\[0\]\.decision/);
    const risky = join(dir, "risky.yaml");
    writeFileSync(risky, "version: 1\nrules:\n  - match: { scope: \"**\" }\n    decision: allow\n    reason: yolo\n");
    const w = await runCli(["--home", home, "policy", "lint", "--policy", risky]);
    assert.equal(w.code, 0);
    assert.match(w.stdout, /risky\.yaml:3: rule-1: allows every scope/);
  });
});

describe("aegisclaw audit and logs", () => {
  test("verify reports an intact log and exits 0", async () => {
    const r = await runCli(["--home", home, "audit", "verify", "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as { ok: boolean; entries: number; checkpoints: number };
    assert.equal(report.ok, true);
    assert.ok(report.entries >= 8);
    assert.ok(report.checkpoints >= 2);
  });

  test("export then verify --file works offline; an edited export exits 5 naming the entry", async () => {
    const out = join(dir, "export.jsonl");
    const e = await runCli(["--home", home, "audit", "export", "--out", out]);
    assert.equal(e.code, 0, e.stderr);
    const pub = join(home, "keys", "audit-checkpoint.pub");
    const v = await runCli(["audit", "verify", "--file", out, "--pubkey", pub]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    // The key inside the file proves nothing alone: without --pubkey, --key-id or a profile, verify refuses to guess.
    const nobody = await runCli(["--home", join(dir, "no-profile"), "audit", "verify", "--file", out]);
    assert.equal(nobody.code, 2, nobody.stdout + nobody.stderr);
    assert.match(nobody.stderr, /proves nothing on its own/);
    const own = await runCli(["--home", home, "audit", "verify", "--file", out, "--json"]);
    assert.equal(own.code, 0, own.stdout);
    const keyId = (JSON.parse(own.stdout) as { latestCheckpoint: { keyId: string } }).latestCheckpoint.keyId;
    const byId = await runCli(["--home", join(dir, "no-profile"), "audit", "verify", "--file", out, "--key-id", keyId]);
    assert.equal(byId.code, 0, byId.stdout + byId.stderr);
    const wrongId = await runCli(["--home", join(dir, "no-profile"), "audit", "verify", "--file", out, "--key-id", "0123456789abcdef"]);
    assert.equal(wrongId.code, 5);
    assert.match(wrongId.stderr, /treat it as forged/);
    const lines = readFileSync(out, "utf8").split("\n");
    const idx = lines.findIndex((l) => l.includes('"decision":"deny"'));
    lines[idx] = (lines[idx] ?? "").replace('"decision":"deny"', '"decision":"allow"');
    const tampered = join(dir, "tampered.jsonl");
    writeFileSync(tampered, lines.join("\n"));
    const t = await runCli(["audit", "verify", "--file", tampered, "--pubkey", pub, "--json"]);
    assert.equal(t.code, 5);
    const report = JSON.parse(t.stdout) as { damage: { kind: string; seq: number } };
    assert.equal(report.damage.kind, "modified");
    assert.equal(report.damage.seq, idx);
    // Drop every checkpoint and forge a matching end record: the entries are then unsealed, which an export never is.
    const kept = readFileSync(out, "utf8").split("\n").filter((l) => l !== "" && !l.startsWith('{"type":"checkpoint"') && !l.startsWith('{"type":"end"'));
    const unsealed = join(dir, "unsealed.jsonl");
    writeFileSync(unsealed, `${[...kept, JSON.stringify({ type: "end", entries: kept.length - 1, checkpoints: 0 })].join("\n")}\n`);
    const u = await runCli(["audit", "verify", "--file", unsealed, "--pubkey", pub]);
    assert.equal(u.code, 5, u.stdout);
    assert.match(u.stdout, /not covered by any signed checkpoint/);
  });

  test("proof prints an inclusion proof that verifies", async () => {
    const r = await runCli(["--home", home, "audit", "proof", "3", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const p = JSON.parse(r.stdout) as { valid: boolean; seq: number; proof: string[] };
    assert.equal(p.valid, true);
    assert.equal(p.seq, 3);
    assert.ok(p.proof.length > 0);
    const missing = await runCli(["--home", home, "audit", "proof", "100000"]);
    assert.equal(missing.code, 1);
  });

  test("logs shows a table, filters by decision and prints JSON lines", async () => {
    const table = await runCli(["--home", home, "logs"]);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /SEQ\s+TIME \(UTC\)\s+KIND\s+DECISION/);
    const denies = await runCli(["--home", home, "logs", "--decision", "deny", "--json"]);
    const rows = denies.stdout.trim().split("\n").map((l) => JSON.parse(l) as { decision: string; action: string });
    assert.ok(rows.length >= 1);
    assert.ok(rows.every((r) => r.decision === "deny"));
    const bad = await runCli(["--home", home, "logs", "--since", "yesterday"]);
    assert.equal(bad.code, 2);
  });

  test("verify on a tampered database exits 5 and names the first bad entry and the kind of damage", async () => {
    const db = new DatabaseSync(join(home, "audit.db"));
    // Work on the real file last: this is the final test in the file.
    db.exec("DROP TRIGGER audit_entries_no_delete");
    db.exec("DELETE FROM audit_entries WHERE seq = 4");
    db.close();
    const r = await runCli(["--home", home, "audit", "verify"]);
    assert.equal(r.code, 5);
    assert.match(r.stdout, /DAMAGED at entry 4: deleted/);
    // A forged latest checkpoint: proofs against it are refused, not printed as verified.
    const db2 = new DatabaseSync(join(home, "audit.db"));
    db2.exec("DROP TRIGGER audit_checkpoints_no_update");
    db2.exec("UPDATE audit_checkpoints SET root_hash = 'ab' || substr(root_hash, 3) WHERE tree_size = (SELECT max(tree_size) FROM audit_checkpoints)");
    db2.close();
    const p = await runCli(["--home", home, "audit", "proof", "2"]);
    assert.equal(p.code, 5, p.stdout);
    assert.match(p.stderr, /not signed by this profile's key/);
  });
});
