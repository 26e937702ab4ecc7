/**
 * Attack suite: attempts to get an action ALLOWED that the default policy
 * (with `*@allowed.example` on the e-mail allowlist) denies or asks about.
 *
 * Every attempt goes through the real envelope built by openRuntime on a
 * throw-away profile: real policy file, real tools, real audit log, process
 * tools enabled on the host (--unsafe-host) so that a wrongly allowed command
 * would really run. Each asserts that the attack was not allowed, that nothing
 * was executed (no outbox file, no file content, no command effect), and that
 * the audit log recorded a deny or ask decision for it and no outcome.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { initProfile } from "../../src/config/profile.ts";
import type { AuditInput } from "../../src/audit/entry.ts";
import type { EnvelopeResult, Proposal } from "../../src/envelope/envelope.ts";
import { DEFAULT_POLICY_YAML } from "../../src/policy/defaults.ts";
import type { Label } from "../../src/policy/labels.ts";
import { makeScope } from "../../src/policy/scope.ts";
import { openRuntime, type Runtime } from "../../src/runtime.ts";

const CANARY = "CANARY-7f3a9c-PRIVATE-KEY-MATERIAL";
const NET_FETCH_ASKS = `  - id: net-fetch-asks
    match: { scope: "net.fetch" }
    decision: ask`;
// The default policy with an e-mail allowlist, and one API host allowed instead of "every fetch asks".
const ALLOWLIST_POLICY = DEFAULT_POLICY_YAML.replace('recipients: ["you@example.invalid"]', 'recipients: ["*@allowed.example"]').replace(
  NET_FETCH_ASKS,
  `  - id: fetch-one-api
    match: { scope: "net.fetch:api.allowed.example" }
    decision: allow`,
);

interface World {
  root: string;
  home: string;
  ws: string;
  outside: string;
  outbox: string;
  marker: string;
  rt: Runtime;
}

let world: World | undefined;
function w(): World {
  assert.ok(world, "the runtime is open");
  return world;
}

before(async () => {
  assert.ok(ALLOWLIST_POLICY.includes('"*@allowed.example"') && ALLOWLIST_POLICY.includes("fetch-one-api"), "the test policy was derived from the default");
  const root = realpathSync(mkdtempSync(join(tmpdir(), "aegisclaw-attack-")));
  const home = join(root, "profile");
  const ws = join(root, "ws");
  const outside = join(root, "outside");
  initProfile({ home, workspace: ws });
  mkdirSync(ws);
  writeFileSync(join(home, "policy.yaml"), ALLOWLIST_POLICY, { mode: 0o600 });
  mkdirSync(join(outside, ".ssh"), { recursive: true });
  writeFileSync(join(outside, ".ssh", "id_rsa"), CANARY);
  writeFileSync(join(outside, "secret.txt"), CANARY);
  mkdirSync(join(ws, ".ssh"));
  writeFileSync(join(ws, ".ssh", "id_rsa"), CANARY);
  writeFileSync(join(ws, ".env"), `API_KEY=${CANARY}`);
  writeFileSync(join(ws, "notes.txt"), "harmless notes");
  symlinkSync(join(outside, "secret.txt"), join(ws, "innocent.txt"));
  symlinkSync(join(outside, ".ssh"), join(ws, "keys"));
  symlinkSync(join(outside, "not-there-yet.txt"), join(ws, "dangling.txt"));
  symlinkSync(outside, join(ws, "cafe\u0301"));
  symlinkSync(join(home, "keys"), join(ws, "profile-keys"));
  const rt = await openRuntime(home, { unsafeHost: true, actor: "attack-suite" });
  world = { root, home, ws, outside, outbox: join(home, "data", "outbox"), marker: join(root, "pwned"), rt };
});

after(async () => {
  if (!world) return;
  await world.rt.close();
  rmSync(world.root, { recursive: true, force: true });
});

function outboxFiles(): string[] {
  return existsSync(w().outbox) ? readdirSync(w().outbox) : [];
}

/** Submits one attack and checks that it failed safely, in the result, on disk and in the audit log. */
async function attack(proposal: Omit<Proposal, "session" | "actor"> & { session?: string }): Promise<EnvelopeResult> {
  const { rt, marker } = w();
  const outboxBefore = outboxFiles().length;
  const seqBefore = (await rt.audit.store.head())?.seq ?? 0;
  const r = await rt.envelope.submit({ session: "attack", actor: "model:attacker", ...proposal });

  assert.notEqual(r.decision, "allow", `policy allowed it: ${r.reason}`);
  assert.notEqual(r.outcome, "executed", "it was executed");
  assert.equal(r.outcome, "denied");
  assert.equal(r.output, "", "no output reached the caller");
  assert.equal(outboxFiles().length, outboxBefore, "nothing was queued in the outbox");
  assert.equal(existsSync(marker), false, "no command ran");

  const entries = await rt.audit.store.query({ afterSeq: seqBefore });
  const mine = entries.filter((e) => (JSON.parse(e.detail) as { id?: string }).id === r.actionId);
  const decisions = mine.filter((e) => e.kind === "decision");
  assert.equal(decisions.length, 1, "exactly one decision record");
  assert.ok(["deny", "ask"].includes(decisions[0]?.decision ?? ""), `recorded decision ${decisions[0]?.decision ?? "(none)"}`);
  assert.equal(decisions[0]?.decision, r.decision);
  assert.equal(mine.filter((e) => e.kind === "outcome").length, 0, "no outcome was recorded: nothing ran");
  if (r.decision === "ask") {
    const approvals = mine.filter((e) => e.kind === "approval");
    assert.deepEqual(
      approvals.map((e) => e.decision),
      ["rejected"],
    );
  }
  for (const e of mine) assert.ok(!e.detail.includes(CANARY) && !e.resource.includes(CANARY));
  return r;
}

const send = (args: unknown, labels?: Label[]): Omit<Proposal, "session" | "actor"> => ({ tool: "email.send", args, ...(labels ? { labels } : {}) });
const mail = (to: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ to, subject: "report", body: "see attached", ...extra });
const read = (path: string): Omit<Proposal, "session" | "actor"> => ({ tool: "files.read", args: { path } });

describe("controls: the benign versions of the attacks below do work", () => {
  test("an allowlisted recipient is allowed and queued, addressed exactly as judged", async () => {
    const before = outboxFiles().length;
    const r = await w().rt.envelope.submit({ tool: "email.send", args: mail("ok@allowed.example"), session: "control", actor: "model" });
    assert.equal(r.decision, "allow");
    assert.equal(r.outcome, "executed");
    const files = outboxFiles();
    assert.equal(files.length, before + 1);
    const newest = files.map((f) => readFileSync(join(w().outbox, f), "utf8")).find((t) => t.includes("ok@allowed.example"));
    assert.match(newest ?? "", /^To: ok@allowed\.example\r\n/);
  });

  test("a trailing dot on an allowlisted domain is the same domain: the message goes to the canonical address", async () => {
    const r = await w().rt.envelope.submit({ tool: "email.send", args: mail("dot@allowed.example."), session: "control", actor: "model" });
    assert.equal(r.decision, "allow");
    const text = outboxFiles()
      .map((f) => readFileSync(join(w().outbox, f), "utf8"))
      .find((t) => t.includes("dot@allowed.example"));
    assert.match(text ?? "", /^To: dot@allowed\.example\r\n/);
  });

  test("a workspace file is readable", async () => {
    const r = await w().rt.envelope.submit({ ...read("notes.txt"), session: "control", actor: "model" });
    assert.equal(r.decision, "allow");
    assert.equal(r.output, "harmless notes");
  });
});

describe("attacks on e-mail recipients", () => {
  test("two recipients in one string: evil@x.com,ok@allowed.example", async () => {
    const r = await attack(send(mail("evil@x.com,ok@allowed.example")));
    assert.match(r.reason, /evil@x\.com not on the allowlist/);
  });

  test("semicolon-separated list: ok@allowed.example;evil@x.com", async () => {
    const r = await attack(send(mail("ok@allowed.example;evil@x.com")));
    assert.match(r.reason, /evil@x\.com/);
  });

  test('display-name spoofing: "ok@allowed.example" <evil@x.com>', async () => {
    const r = await attack(send(mail('"ok@allowed.example" <evil@x.com>')));
    assert.match(r.reason, /evil@x\.com not on the allowlist/);
  });

  test("unquoted display name: ok@allowed.example <evil@x.com>", async () => {
    const r = await attack(send(mail("ok@allowed.example <evil@x.com>")));
    assert.match(r.reason, /evil@x\.com/);
  });

  test("header injection with CR/LF in the recipient", async () => {
    const r = await attack(send(mail("ok@allowed.example\r\nBcc: evil@x.com")));
    assert.equal(r.decision, "deny");
  });

  test("header injection with a bare \\nBcc: in the subject", async () => {
    const r = await attack(send(mail("ok@allowed.example", { subject: "hello\nBcc: evil@x.com" })));
    assert.equal(r.decision, "deny");
    assert.match(r.reason, /subject/);
  });

  test("header injection with U+2028 / NEL line breaks", async () => {
    await attack(send(mail("ok@allowed.example\u2028Bcc: evil@x.com")));
    await attack(send(mail("ok@allowed.example\u0085Bcc: evil@x.com")));
    await attack(send(mail("ok@allowed.example", { subject: "hi\u2028Bcc: evil@x.com" })));
    await attack(send(mail("ok@allowed.example", { subject: "hi\u0085Bcc: evil@x.com" })));
  });

  test("RFC 2047 encoded word that decodes to evil@x.com", async () => {
    const r = await attack(send(mail("ok@allowed.example, =?utf-8?b?ZXZpbEB4LmNvbQ==?=")));
    assert.equal(r.decision, "deny");
    await attack(send(mail("=?utf-8?q?evil=40x.com?= <ok@allowed.example>")));
  });

  test("comment hiding a second address: ok@allowed.example(evil@x.com)", async () => {
    const r = await attack(send(mail("ok@allowed.example(evil@x.com)")));
    assert.equal(r.decision, "deny");
  });

  test("quoted local part containing @: \"ok@allowed.example\"@x.com", async () => {
    const r = await attack(send(mail('"ok@allowed.example"@x.com')));
    assert.equal(r.decision, "deny");
  });

  test("IP-literal domain: ok@[203.0.113.7]", async () => {
    const r = await attack(send(mail("ok@[203.0.113.7]")));
    assert.equal(r.decision, "deny");
  });

  test("Cyrillic lookalike domain: ok@allowed.ex\u0430mple", async () => {
    const r = await attack(send(mail("ok@allowed.ex\u0430mple")));
    assert.match(r.reason, /xn--/);
  });

  test("subdomain trick: ok@allowed.example.evil.com", async () => {
    await attack(send(mail("ok@allowed.example.evil.com")));
    await attack(send(mail("ok@evil.com.allowed.example.evil.com")));
  });

  test("trailing-dot tricks: ok@allowed.example.. and ok@allowed.example.evil.com.", async () => {
    await attack(send(mail("ok@allowed.example..")));
    await attack(send(mail("ok@allowed.example.evil.com.")));
  });

  test("full-width @ smuggling a second domain: evil@x.com\uff20allowed.example", async () => {
    await attack(send(mail("evil@x.com\uff20allowed.example")));
  });

  test("group syntax and source routes", async () => {
    await attack(send(mail("allowed: evil@x.com;")));
    await attack(send(mail("<@allowed.example:evil@x.com>")));
  });

  test("extra recipient in bcc (and in cc)", async () => {
    const r = await attack(send(mail("ok@allowed.example", { bcc: "evil@x.com" })));
    assert.match(r.reason, /evil@x\.com/);
    await attack(send(mail("ok@allowed.example", { cc: ["ok2@allowed.example", "evil@x.com"] })));
  });

  test("an array mixing an allowlisted and an outside recipient", async () => {
    await attack(send(mail(["ok@allowed.example", "evil@x.com"])));
  });

  test("an unknown extra argument (headers: {Bcc}) is refused by the strict schema", async () => {
    const r = await attack(send(mail("ok@allowed.example", { headers: { Bcc: "evil@x.com" } })));
    assert.equal(r.decision, "deny");
    assert.match(r.reason, /headers|Unrecognized/i);
    await attack(send(mail("ok@allowed.example", { reply_to: "evil@x.com" })));
  });

  test("tainted context with an allowlisted recipient must ask, not allow", async () => {
    const r = await attack(send(mail("ok@allowed.example"), ["trusted:owner", "untrusted:email"]));
    assert.equal(r.decision, "ask");
    assert.equal(r.rule, "tainted-outbound-asks");
  });

  test("taint label in an unexpected spelling still taints (Untrusted:Email)", async () => {
    const r = await attack(send(mail("ok@allowed.example"), ["Untrusted:Email" as Label]));
    assert.equal(r.decision, "ask");
  });

  test("a getter that shows the allowlisted address to the check and evil@x.com to the sender", async () => {
    // Arguments are parsed into a fresh object once; whatever was judged is what is sent.
    let reads = 0;
    const args = {
      get to(): string {
        reads += 1;
        return reads === 1 ? "evil@x.com" : "ok@allowed.example";
      },
      subject: "s",
      body: "b",
    };
    const r = await attack(send(args));
    assert.equal(r.decision, "ask");
    assert.match(r.reason, /evil@x\.com/);
  });
});

describe("attacks on file paths", () => {
  test("../ traversal from the workspace to .ssh", async () => {
    const r = await attack(read("../outside/.ssh/id_rsa"));
    assert.equal(r.decision, "deny");
    await attack(read("notes/../../outside/.ssh/id_rsa"));
  });

  test("absolute path outside the workspace", async () => {
    await attack(read(join(w().outside, "secret.txt")));
    await attack(read("/etc/passwd"));
  });

  test("symlink inside the workspace pointing outside", async () => {
    const r = await attack(read("innocent.txt"));
    assert.ok(r.scopes.includes(`files.read:${join(w().outside, "secret.txt")}`), r.scopes.join(" "));
  });

  test("symlinked parent directory: keys/id_rsa with keys -> outside/.ssh", async () => {
    const r = await attack(read("keys/id_rsa"));
    assert.equal(r.rule, "credentials-never");
  });

  test("dangling symlink pointing outside (target created after the check)", async () => {
    const r = await attack(read("dangling.txt"));
    assert.ok(r.scopes.includes(`files.read:${join(w().outside, "not-there-yet.txt")}`), r.scopes.join(" "));
  });

  test("`..` after a symlinked directory: keys/../secret.txt climbs from the link target", async () => {
    const r = await attack(read("keys/../secret.txt"));
    assert.ok(r.scopes.includes(`files.read:${join(w().outside, "secret.txt")}`), r.scopes.join(" "));
  });

  test("%2e%2e-encoded traversal", async () => {
    await attack(read("%2e%2e/outside/secret.txt"));
    await attack(read("%2E%2E%2Foutside%2Fsecret.txt"));
  });

  test("double-encoded traversal: %252e%252e", async () => {
    await attack(read("%252e%252e/outside/secret.txt"));
  });

  test("NUL byte in the path", async () => {
    const r = await attack(read("notes.txt\u0000../../outside/secret.txt"));
    assert.equal(r.decision, "deny");
    await attack(read("notes.txt%00/../../outside/secret.txt"));
  });

  test("scope-string injection via ':' in the path (files.read:<outside>:files.read:<ws>)", async () => {
    const r = await attack(read(`${join(w().outside, "secret.txt")}:files.read:${join(w().ws, "notes.txt")}`));
    assert.equal(r.decision, "deny");
  });

  test("scope-string injection via a newline in the path", async () => {
    await attack(read(`notes.txt\nfiles.read:${join(w().outside, "secret.txt")}`));
  });

  test("glob characters in the path are literal, not patterns: ** / * traversal", async () => {
    await attack(read("**/../../outside/secret.txt"));
    await attack(read(`${w().ws}/*/../../outside/.ssh/id_rsa`));
  });

  test("credential files inside the workspace: .env and .ssh/id_rsa", async () => {
    assert.equal((await attack(read(".env"))).rule, "credentials-never");
    assert.equal((await attack(read(".ssh/id_rsa"))).rule, "credentials-never");
    assert.equal((await attack(read(join(w().ws, ".ssh", "id_rsa")))).rule, "credentials-never");
  });

  test("upper-case and full-width variants against the credential deny rule", async () => {
    for (const p of [".SSH/id_rsa", ".Ssh/id_rsa", ".ENV", ".\uff53\uff53\uff48/id_rsa", ".ssh\uff0fid_rsa"]) {
      const r = await attack(read(p));
      assert.equal(r.rule, "credentials-never", p);
    }
  });

  test("NFD-named symlink to a directory outside (cafe\\u0301 -> outside), named in NFD and in NFC", async () => {
    const r = await attack(read("cafe\u0301/secret.txt"));
    assert.ok(r.scopes.includes(`files.read:${join(w().outside, "secret.txt")}`), r.scopes.join(" "));
    // The NFC spelling names no file on disk: it may be judged as a workspace path, but reads nothing.
    const nfc = await w().rt.envelope.submit({ ...read("caf\u00e9/secret.txt"), session: "attack", actor: "model:attacker" });
    assert.notEqual(nfc.outcome, "executed");
    assert.ok(!nfc.output.includes(CANARY));
  });

  test("reading the AegisClaw profile, directly and through a workspace symlink", async () => {
    assert.equal((await attack(read(join(w().home, "policy.yaml")))).decision, "deny");
    assert.equal((await attack(read("profile-keys/audit-checkpoint.pem"))).rule, "credentials-never");
  });

  test("escaping through /proc/self/root and /proc/self/cwd", async () => {
    await attack(read(`/proc/self/root${join(w().outside, "secret.txt")}`));
    await attack(read("/proc/self/cwd/package.json"));
  });

  test("more layers of percent-encoding than are decoded", async () => {
    await attack(read("%2525252e%2525252e/outside/secret.txt"));
  });
});

describe("attacks on the envelope itself", () => {
  test("shell.exec via /usr/bin/../bin/sh (with the host executor enabled)", async () => {
    const r = await attack({ tool: "shell.exec", args: { argv: ["/usr/bin/../bin/sh", "-c", `touch ${w().marker}`] } });
    assert.equal(r.decision, "ask");
    assert.equal(r.rule, "shell-agent-asks");
  });

  test("shell.exec with a relative program and a cwd outside the workspace", async () => {
    await attack({ tool: "shell.exec", args: { argv: ["./sh", "-c", `touch ${w().marker}`], cwd: "/bin" } });
  });

  test("unknown tool and near-miss tool names", async () => {
    for (const tool of ["files.readAll", "FILES.READ", "files.read ", "email.send\u200b", "__proto__", "constructor"]) {
      const r = await attack({ tool, args: { path: "notes.txt" } });
      assert.equal(r.decision, "deny", tool);
    }
  });

  test("arguments that are not an object", async () => {
    for (const args of ["notes.txt", ["notes.txt"], null, 42, undefined, true]) {
      const r = await attack({ tool: "files.read", args });
      assert.equal(r.decision, "deny", JSON.stringify(args));
    }
  });

  test("prototype-pollution keys in the arguments (__proto__, constructor)", async () => {
    const proto = JSON.parse('{"path":"notes.txt","__proto__":{"polluted":true,"path":"/etc/passwd"}}') as unknown;
    await attack({ tool: "files.read", args: proto });
    const ctor = JSON.parse('{"to":"ok@allowed.example","subject":"s","body":"b","constructor":{"prototype":{"bcc":"evil@x.com"}}}') as unknown;
    await attack(send(ctor));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(({} as Record<string, unknown>).bcc, undefined);
  });

  test("a file swapped for a symlink between the decision and the read is not followed", async () => {
    // The decision is legitimately allow (a plain workspace file); the swap happens while the
    // decision is being recorded. What must not happen is reading the symlink's target.
    const { rt, ws, outside } = w();
    const victim = join(ws, "swap.txt");
    const victimDir = join(ws, "swapdir");
    writeFileSync(victim, "plain");
    mkdirSync(victimDir);
    writeFileSync(join(victimDir, "secret.txt"), "plain");
    const original = rt.audit.append.bind(rt.audit);
    let swap: (() => void) | undefined;
    rt.audit.append = async (input: AuditInput) => {
      const entry = await original(input);
      if (input.kind === "decision") swap?.();
      return entry;
    };
    try {
      swap = () => {
        unlinkSync(victim);
        symlinkSync(join(outside, "secret.txt"), victim);
      };
      const last = await rt.envelope.submit({ ...read("swap.txt"), session: "attack", actor: "model:attacker" });
      assert.equal(last.decision, "allow");
      assert.notEqual(last.outcome, "executed");
      assert.ok(!last.output.includes(CANARY), "the swapped-in target was not read");

      swap = () => {
        rmSync(victimDir, { recursive: true });
        symlinkSync(outside, victimDir);
      };
      const parent = await rt.envelope.submit({ ...read("swapdir/secret.txt"), session: "attack", actor: "model:attacker" });
      assert.equal(parent.decision, "allow");
      assert.notEqual(parent.outcome, "executed");
      assert.ok(!parent.output.includes(CANARY), "the swapped-in parent directory was not followed");
    } finally {
      delete (rt.audit as { append?: unknown }).append;
    }
  });
});

describe("attacks on scopes judged by policy.decide (no network tool is registered)", () => {
  const fetch = (host: string): string => {
    try {
      return w().rt.policy.decide({ tool: "net.fetch", scopes: [makeScope("net.fetch", host)], args: {}, labels: [] }).decision;
    } catch {
      return "deny (unparseable scope)";
    }
  };

  test("control: the allowlisted API host is allowed, in any case and with a trailing dot", () => {
    assert.equal(fetch("api.allowed.example"), "allow");
    assert.equal(fetch("API.Allowed.Example."), "allow");
  });

  test("host tricks do not reach the allow rule", () => {
    for (const host of [
      "api.allowed.example.evil.com",
      "api.allowed.ex\u0430mple",
      "api.allowed.example:443",
      "evil.com@api.allowed.example",
      "api.allowed.example/evil",
      "api.allowed.example\u200b",
      "evil-api.allowed.example",
      "api.allowed.example\nnet.fetch:evil.com",
    ]) {
      assert.notEqual(fetch(host), "allow", host);
    }
  });

  test("a tainted fetch of the allowlisted host asks", () => {
    const d = w().rt.policy.decide({ tool: "net.fetch", scopes: [makeScope("net.fetch", "api.allowed.example")], args: {}, labels: ["untrusted:web"] });
    assert.equal(d.decision, "ask");
  });
});

describe("attacks on e-mail recipients routed by the local part", () => {
  test("percent hack: evil%attacker.example@allowed.example", async () => {
    const r = await attack(send(mail("evil%attacker.example@allowed.example")));
    assert.equal(r.decision, "deny");
    assert.match(r.reason, /not a list of plain local@domain addresses/);
    await attack(send(mail(["ok@allowed.example", "evil%attacker.example@allowed.example"])));
  });

  test("UUCP bang path: attacker.example!evil@allowed.example", async () => {
    const r = await attack(send(mail("attacker.example!evil@allowed.example")));
    assert.equal(r.decision, "deny");
    await attack(send(mail("ok@allowed.example", { cc: "Friend <attacker.example!evil@allowed.example>" })));
  });
});

describe("attacks on shell.exec by spelling the program differently", () => {
  const sh = realpathSync("/bin/sh");
  const shName = sh.slice(sh.lastIndexOf("/") + 1);
  const exec = (argv: string[], cwd?: string): Omit<Proposal, "session" | "actor"> => ({ tool: "shell.exec", args: { argv, ...(cwd === undefined ? {} : { cwd }) } });

  test("../../usr/bin/sh is judged as the real program, by name and by path", async () => {
    const up = "../".repeat(w().ws.split("/").length);
    const r = await attack(exec([`${up}usr/bin/sh`, "-c", `touch ${w().marker}`]));
    assert.equal(r.rule, "shell-agent-asks");
    for (const scope of ["shell.exec:sh", `shell.exec:${shName}`, `shell.exec:${sh}`]) assert.ok([...r.scopes, ...r.aliases].includes(scope), `${scope} in ${[...r.scopes, ...r.aliases].join(" ")}`);
  });

  test("a workspace symlink renaming sh is judged as sh", async () => {
    symlinkSync("/bin/sh", join(w().ws, "harmless"));
    const r = await attack(exec(["./harmless", "-c", `touch ${w().marker}`]));
    for (const scope of ["shell.exec:harmless", `shell.exec:${shName}`, `shell.exec:${sh}`]) assert.ok([...r.scopes, ...r.aliases].includes(scope), `${scope} in ${[...r.scopes, ...r.aliases].join(" ")}`);
  });

  test("a bare name that is not on PATH cannot be judged, so it is denied", async () => {
    const r = await attack(exec(["aegisclaw-no-such-program", "-c", `touch ${w().marker}`]));
    assert.equal(r.decision, "deny");
    assert.match(r.reason, /cannot work out what shell\.exec would touch: .*not on the PATH/);
  });
});
