/**
 * The policy engine: precedence, default deny, multi-scope actions, matching
 * on tool/skill/labels/taint, every constraint, explain traces, the loader's
 * errors and the default policy's seed behaviours.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AegisError } from "../../src/errors.ts";
import { MemoryRateCounter } from "../../src/policy/constraints.ts";
import { DEFAULT_POLICY_YAML } from "../../src/policy/defaults.ts";
import type { Decision, Policy, PolicyRequest } from "../../src/policy/engine.ts";
import type { Label } from "../../src/policy/labels.ts";
import { parsePolicy } from "../../src/policy/load.ts";
import { parseScope } from "../../src/policy/scope.ts";

interface Req {
  tool?: string;
  scopes: string[];
  args?: Record<string, unknown>;
  skill?: string;
  labels?: Label[];
  cwd?: string;
  actor?: string;
}

function request(r: Req): PolicyRequest {
  return {
    tool: r.tool ?? "test.tool",
    // Paths in these vectors do not exist on disk; canonicalisation is lexical for them.
    scopes: r.scopes.map((s) => parseScope(s, { cwd: r.cwd ?? "/home/u/ws" })),
    args: r.args ?? {},
    skill: r.skill,
    labels: r.labels ?? [],
    actor: r.actor ?? "model:test",
    cwd: r.cwd ?? "/home/u/ws",
  };
}

function policy(body: string, vars: Record<string, string> = {}): Policy {
  return parsePolicy(`version: 1\nrules:\n${body}`, { vars });
}

function decide(p: Policy, r: Req, now?: Date): Decision {
  return p.decide(request(r), now ? { now } : {});
}

function rule(id: string, scope: string, decision: "allow" | "ask" | "deny", extra = ""): string {
  return `  - id: ${id}\n    match: { scope: "${scope}" }\n    decision: ${decision}\n    reason: ${id} reason\n${extra}`;
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

describe("precedence", () => {
  test("deny beats ask beats allow whatever the order of the rules", () => {
    const rules = [rule("a-allow", "email.send", "allow"), rule("a-ask", "email.send", "ask"), rule("a-deny", "email.send", "deny")];
    for (const order of permutations(rules)) {
      const d = decide(policy(order.join("")), { scopes: ["email.send"] });
      assert.equal(d.decision, "deny", order.join("|"));
      assert.equal(d.rule?.id, "a-deny");
    }
    for (const order of permutations(rules.slice(0, 2))) {
      const d = decide(policy(order.join("")), { scopes: ["email.send"] });
      assert.equal(d.decision, "ask", order.join("|"));
      assert.equal(d.rule?.id, "a-ask");
    }
  });

  test("a broad allow cannot override a narrow deny, nor a broad deny be overridden by a narrow allow", () => {
    const p = policy(rule("all-files", "files.read:/ws/**", "allow") + rule("no-secrets", "files.read:/ws/secrets/**", "deny"));
    assert.equal(decide(p, { scopes: ["files.read:/ws/notes.txt"] }).decision, "allow");
    assert.equal(decide(p, { scopes: ["files.read:/ws/secrets/k"] }).decision, "deny");
    const q = policy(rule("no-ws", "files.read:/ws/**", "deny") + rule("one-file", "files.read:/ws/ok.txt", "allow"));
    assert.equal(decide(q, { scopes: ["files.read:/ws/ok.txt"] }).decision, "deny");
  });

  test("every rule that reached the strictest decision is named in the reason", () => {
    const p = policy(rule("ask-1", "email.send", "ask") + rule("ask-2", "email.**", "ask") + rule("allow-1", "email.send", "allow"));
    const d = decide(p, { scopes: ["email.send"] });
    assert.equal(d.decision, "ask");
    assert.match(d.reason, /ask-1 reason/);
    assert.match(d.reason, /also ask-2: ask-2 reason/);
    assert.doesNotMatch(d.reason, /allow-1/);
  });
});

describe("default deny", () => {
  test("no matching rule means deny, with no rule named", () => {
    const p = policy(rule("mail", "email.send", "allow"));
    const d = decide(p, { scopes: ["payments.send"] });
    assert.equal(d.decision, "deny");
    assert.equal(d.rule, undefined);
    assert.match(d.reason, /default deny/);
  });

  test("an empty policy denies everything", () => {
    const p = parsePolicy("version: 1\nrules: []\n");
    assert.equal(decide(p, { scopes: ["email.read"] }).decision, "deny");
  });

  test("an action that declares no scopes is denied", () => {
    const p = policy(`  - match: { tool: "*" }\n    decision: allow\n    reason: anything\n`);
    const d = decide(p, { scopes: [] });
    assert.equal(d.decision, "deny");
    assert.match(d.reason, /declared no scopes/);
  });
});

describe("multi-scope actions take the strictest decision", () => {
  const p = policy(rule("read", "files.read:/ws/**", "allow") + rule("write", "files.write:/ws/**", "ask") + rule("etc", "files.read:/etc/**", "deny"));

  test("allow + ask → ask", () => {
    const d = decide(p, { scopes: ["files.read:/ws/a", "files.write:/ws/b"] });
    assert.equal(d.decision, "ask");
    assert.deepEqual(
      d.scopes.map((s) => [s.scope, s.decision]),
      [
        ["files.read:/ws/a", "allow"],
        ["files.write:/ws/b", "ask"],
      ],
    );
  });

  test("allow + uncovered → deny", () => {
    assert.equal(decide(p, { scopes: ["files.read:/ws/a", "files.read:/home/u/b"] }).decision, "deny");
  });

  test("allow + deny → deny, naming the denying rule", () => {
    const d = decide(p, { scopes: ["files.read:/ws/a", "files.read:/etc/passwd"] });
    assert.equal(d.decision, "deny");
    assert.equal(d.rule?.id, "etc");
  });

  test("every scope allowed → allow", () => {
    assert.equal(decide(p, { scopes: ["files.read:/ws/a", "files.read:/ws/b/c"] }).decision, "allow");
  });
});

describe("matching", () => {
  test("tool globs", () => {
    const p = policy(`  - match: { tool: ["files.*"] }\n    decision: allow\n    reason: file tools\n`);
    assert.equal(decide(p, { tool: "files.read", scopes: ["files.read:/x"] }).decision, "allow");
    assert.equal(decide(p, { tool: "email.send", scopes: ["email.send"] }).decision, "deny");
  });

  test("tool and scope must both match", () => {
    const p = policy(`  - match: { tool: "mailer", scope: "email.send" }\n    decision: allow\n    reason: only the mailer\n`);
    assert.equal(decide(p, { tool: "mailer", scopes: ["email.send"] }).decision, "allow");
    assert.equal(decide(p, { tool: "other", scopes: ["email.send"] }).decision, "deny");
  });

  test("skill globs; a rule that names a skill never matches an action without one", () => {
    const p = policy(`  - match: { scope: "net.fetch", skill: "gh-*" }\n    decision: allow\n    reason: github skills\n`);
    assert.equal(decide(p, { scopes: ["net.fetch:api.github.com"], skill: "gh-issues" }).decision, "allow");
    assert.equal(decide(p, { scopes: ["net.fetch:api.github.com"], skill: "weather" }).decision, "deny");
    assert.equal(decide(p, { scopes: ["net.fetch:api.github.com"] }).decision, "deny");
  });

  test("name globs: * is one word, ** any number", () => {
    const p = policy(rule("pay", "payments.**", "ask") + rule("cal", "calendar.*", "allow"));
    assert.equal(decide(p, { scopes: ["payments.send"] }).decision, "ask");
    assert.equal(decide(p, { scopes: ["payments.refund.partial"] }).decision, "ask");
    assert.equal(decide(p, { scopes: ["payments"] }).decision, "ask");
    assert.equal(decide(p, { scopes: ["calendar.read"] }).decision, "allow");
    assert.equal(decide(p, { scopes: ["calendar.read.all"] }).decision, "deny");
    assert.equal(decide(p, { scopes: ["paymentsx.send"] }).decision, "deny");
  });

  test("path globs: /** covers the directory itself and below; * stays in one directory; no prefix tricks", () => {
    const p = policy(rule("ws", "files.read:/ws/**", "allow") + rule("top", "files.write:/ws/*", "allow"));
    assert.equal(decide(p, { scopes: ["files.read:/ws"] }).decision, "allow");
    assert.equal(decide(p, { scopes: ["files.read:/ws/a/b/c"] }).decision, "allow");
    assert.equal(decide(p, { scopes: ["files.read:/wsx/a"] }).decision, "deny");
    assert.equal(decide(p, { scopes: ["files.read:/ws-evil"] }).decision, "deny");
    assert.equal(decide(p, { scopes: ["files.write:/ws/a"] }).decision, "allow");
    assert.equal(decide(p, { scopes: ["files.write:/ws/a/b"] }).decision, "deny");
  });

  test("host globs: *.github.com is exactly one label under github.com", () => {
    const p = policy(rule("gh", "net.fetch:*.github.com", "allow"));
    assert.equal(decide(p, { scopes: ["net.fetch:api.github.com"] }).decision, "allow");
    assert.equal(decide(p, { scopes: ["net.fetch:API.GitHub.com."] }).decision, "allow");
    assert.equal(decide(p, { scopes: ["net.fetch:github.com"] }).decision, "deny");
    assert.equal(decide(p, { scopes: ["net.fetch:a.b.github.com"] }).decision, "deny");
    assert.equal(decide(p, { scopes: ["net.fetch:api.github.com.evil.com"] }).decision, "deny");
    assert.equal(decide(p, { scopes: ["net.fetch:apigithub.com"] }).decision, "deny");
  });

  test("a pattern without a resource matches the scope whatever its resource", () => {
    const p = policy(rule("sh", "shell.exec", "ask"));
    assert.equal(decide(p, { scopes: ["shell.exec:git"] }).decision, "ask");
    assert.equal(decide(p, { scopes: ["shell.exec:/usr/bin/sh"] }).decision, "ask");
  });

  test("allow rules match exactly; deny rules match after case and Unicode folding", () => {
    const p = policy(rule("docs", "files.read:/ws/Docs/**", "allow") + rule("ssh", "files.*:**/.ssh/**", "deny") + rule("ws", "files.read:/ws/**", "allow"));
    assert.equal(decide(p, { scopes: ["files.read:/ws/Docs/a"] }).decision, "allow");
    assert.equal(decide(p, { scopes: ["files.read:/ws/docs/a"] }).decision, "allow"); // by the ws rule, not Docs
    const [docsScope] = decide(p, { scopes: ["files.read:/ws/docs/a"] }).scopes;
    assert.equal(docsScope?.rule?.id, "ws");
    for (const sneaky of ["/ws/.SSH/id_rsa", "/ws/.Ssh/id_rsa", "/ws/.ssh\uff0fid_rsa", "/ws/\uff0essh/id_rsa", "/ws/.\uff33\uff33\uff28/id_rsa"]) {
      const d = decide(p, { scopes: [`files.read:${sneaky}`] });
      assert.equal(d.decision, "deny", sneaky);
      assert.equal(d.rule?.id, "ssh", sneaky);
    }
  });

  test("when.tainted: true matches only a tainted context, false only a clean one", () => {
    const p = policy(
      `  - id: clean-ok\n    match: { scope: "email.send" }\n    when: { tainted: false }\n    decision: allow\n    reason: clean\n` +
        `  - id: tainted-asks\n    match: { scope: "email.send" }\n    when: { tainted: true }\n    decision: ask\n    reason: tainted\n`,
    );
    assert.equal(decide(p, { scopes: ["email.send"] }).decision, "allow");
    assert.equal(decide(p, { scopes: ["email.send"], labels: ["trusted:owner"] }).decision, "allow");
    // Tainted: clean-ok does not fit, and the taint rule alone covers nothing (see below), so: default deny.
    const tainted = decide(p, { scopes: ["email.send"], labels: ["trusted:owner", "untrusted:email"] });
    assert.equal(tainted.decision, "deny");
    assert.match(tainted.reason, /default deny/);
  });

  test("a taint-conditioned ask tightens a covered scope but never covers one on its own", () => {
    const taintAsk = `  - id: taint-asks\n    match: { scope: ["email.send", "calendar.write"] }\n    when: { tainted: true }\n    decision: ask\n    reason: tainted\n`;
    const p = policy(rule("send", "email.send", "allow") + taintAsk);
    assert.equal(decide(p, { scopes: ["email.send"] }).decision, "allow");
    const mail = decide(p, { scopes: ["email.send"], labels: ["untrusted:email"] });
    assert.equal(mail.decision, "ask");
    assert.equal(mail.rule?.id, "taint-asks");
    // calendar.write has no rule of its own: clean or tainted, it stays denied.
    assert.equal(decide(p, { scopes: ["calendar.write"] }).decision, "deny");
    assert.equal(decide(p, { scopes: ["calendar.write"], labels: ["untrusted:email"] }).decision, "deny");
    // The same holds for an ask on untrusted labels; an ask on other conditions is an ordinary rule.
    const byLabel = policy(`  - id: web-asks\n    match: { scope: "net.**" }\n    when: { labels: ["untrusted:web*"] }\n    decision: ask\n    reason: web\n`);
    assert.equal(decide(byLabel, { scopes: ["net.connect:a.example"], labels: ["untrusted:web"] }).decision, "deny");
    const byOwner = policy(`  - id: owner-asks\n    match: { scope: "net.**" }\n    when: { labels: ["trusted:owner"] }\n    decision: ask\n    reason: owner may ask\n`);
    assert.equal(decide(byOwner, { scopes: ["net.connect:a.example"], labels: ["trusted:owner"] }).decision, "ask");
    // A taint-conditioned deny is a deny.
    const taintDeny = policy(rule("send", "email.send", "allow") + `  - id: no\n    match: { scope: "email.send" }\n    when: { tainted: true }\n    decision: deny\n    reason: no\n`);
    assert.equal(decide(taintDeny, { scopes: ["email.send"], labels: ["untrusted:web"] }).decision, "deny");
  });

  test("a label the engine does not recognise as trusted taints the context (fail closed)", () => {
    const p = policy(rule("send", "email.send", "allow") + `  - id: t\n    match: { scope: "email.send" }\n    when: { tainted: true }\n    decision: ask\n    reason: tainted\n`);
    for (const odd of ["Untrusted:Email", " untrusted:web", "tainted", "TRUSTED:OWNER", "trusted:owner "]) {
      assert.equal(decide(p, { scopes: ["email.send"], labels: [odd as Label] }).decision, "ask", odd);
    }
  });

  test("when.labels matches any label glob", () => {
    const p = policy(`  - id: web\n    match: { scope: "net.**" }\n    when: { labels: ["untrusted:web*"] }\n    decision: deny\n    reason: no web-driven fetches\n` + rule("fetch", "net.fetch", "allow"));
    assert.equal(decide(p, { scopes: ["net.fetch:a.example"], labels: ["untrusted:web"] }).decision, "deny");
    assert.equal(decide(p, { scopes: ["net.fetch:a.example"], labels: ["untrusted:webpage"] }).decision, "deny");
    assert.equal(decide(p, { scopes: ["net.fetch:a.example"], labels: ["untrusted:email"] }).decision, "allow");
    assert.equal(decide(p, { scopes: ["net.fetch:a.example"] }).decision, "allow");
  });
});

describe("constraints", () => {
  const sendWith = (constraints: string, onViolation?: "ask" | "deny"): Policy =>
    policy(
      `  - id: send\n    match: { scope: "email.send" }\n    decision: allow\n    constraints: ${constraints}\n${onViolation ? `    on_violation: ${onViolation}\n` : ""}    reason: allowlisted mail\n`,
    );

  describe("recipients", () => {
    const p = sendWith(`{ recipients: ["boss@corp.example", "*@allowed.example", "*@*.partner.example"] }`);
    const to = (value: unknown, extra: Record<string, unknown> = {}): Decision => decide(p, { scopes: ["email.send"], args: { to: value, ...extra } });

    test("an exact address on the list is allowed", () => {
      assert.equal(to("boss@corp.example").decision, "allow");
    });

    test("the domain is compared case-insensitively, the local part exactly", () => {
      assert.equal(to("boss@CORP.Example").decision, "allow");
      assert.equal(to("Boss@corp.example").decision, "deny");
    });

    test("*@domain covers that domain only, not its subdomains", () => {
      assert.equal(to("anyone@allowed.example").decision, "allow");
      assert.equal(to("anyone@sub.allowed.example").decision, "deny");
      assert.equal(to("anyone@notallowed.example").decision, "deny");
    });

    test("*@*.domain covers subdomains, not the domain itself nor look-alike suffixes", () => {
      assert.equal(to("x@eu.partner.example").decision, "allow");
      assert.equal(to("x@a.b.partner.example").decision, "allow");
      assert.equal(to("x@partner.example").decision, "deny");
      assert.equal(to("x@evilpartner.example").decision, "deny");
    });

    test("every recipient, in every recipient argument, must be on the list", () => {
      assert.equal(to(["anyone@allowed.example", "boss@corp.example"]).decision, "allow");
      assert.equal(to("anyone@allowed.example, evil@x.com").decision, "deny");
      assert.equal(to("anyone@allowed.example", { cc: "evil@x.com" }).decision, "deny");
      assert.equal(to("anyone@allowed.example", { bcc: ["evil@x.com"] }).decision, "deny");
      assert.equal(to("anyone@allowed.example", { reply_to: "evil@x.com" }).decision, "deny");
    });

    test("the violation names the address outside the list", () => {
      const d = to("anyone@allowed.example, evil@x.com");
      assert.match(d.reason, /evil@x\.com not on the allowlist/);
      assert.ok(d.scopes[0]?.violations.some((v) => v.includes("evil@x.com")));
    });

    test("no recipient at all is a violation, not a pass", () => {
      assert.equal(decide(p, { scopes: ["email.send"], args: { subject: "hi" } }).decision, "deny");
    });

    test("the tool's declared argument roles are used instead of the defaults", () => {
      const r = request({ scopes: ["email.send"], args: { dest: "evil@x.com", to: "anyone@allowed.example" } });
      assert.equal(p.decide({ ...r, argRoles: { recipients: ["dest"], urls: [], paths: [] } }).decision, "deny");
    });

    test("on_violation: ask turns an outside recipient into a question", () => {
      const q = sendWith(`{ recipients: ["*@allowed.example"] }`, "ask");
      assert.equal(decide(q, { scopes: ["email.send"], args: { to: "evil@x.com" } }).decision, "ask");
      assert.equal(decide(q, { scopes: ["email.send"], args: { to: "a@allowed.example" } }).decision, "allow");
    });

    test("an unparseable recipient is a deny even with on_violation: ask", () => {
      const q = sendWith(`{ recipients: ["*@allowed.example"] }`, "ask");
      for (const bad of ['"a@allowed.example" evil@x.com', "a@allowed.example\r\nBcc: evil@x.com", "=?utf-8?b?ZXZpbEB4LmNvbQ==?=@allowed.example", "a@[10.0.0.1]", 42, ["a@allowed.example", null]]) {
        const d = decide(q, { scopes: ["email.send"], args: { to: bad } });
        assert.equal(d.decision, "deny", JSON.stringify(bad));
        assert.match(d.reason, /unparseable/);
      }
    });
  });

  describe("domains", () => {
    const p = policy(
      `  - id: fetch\n    match: { scope: "net.fetch" }\n    decision: allow\n    constraints: { domains: ["api.github.com", "*.example.com"] }\n    on_violation: ask\n    reason: known hosts\n`,
    );
    const fetch = (url: unknown): Decision => decide(p, { scopes: ["net.fetch:x.example"], args: { url } });

    test("an allowlisted https or http host is allowed", () => {
      assert.equal(fetch("https://api.github.com/repos").decision, "allow");
      assert.equal(fetch("http://API.GITHUB.COM./x").decision, "allow");
      assert.equal(fetch("https://a.example.com/").decision, "allow");
    });

    test("hosts off the list, the apex of a wildcard and suffix tricks are violations", () => {
      assert.equal(fetch("https://example.com/").decision, "ask");
      assert.equal(fetch("https://api.github.com.evil.com/").decision, "ask");
      assert.equal(fetch("https://evil.com/?u=https://api.github.com").decision, "ask");
    });

    test("other schemes and userinfo are violations", () => {
      assert.equal(fetch("ftp://api.github.com/").decision, "ask");
      assert.equal(fetch("file:///etc/passwd").decision, "ask");
      assert.equal(fetch("https://api.github.com@evil.com/").decision, "ask");
      assert.equal(fetch("https://user:pw@api.github.com/").decision, "ask");
    });

    test("an unparseable URL is a deny even with on_violation: ask", () => {
      assert.equal(fetch("not a url").decision, "deny");
      assert.equal(fetch(["https://api.github.com/", 7]).decision, "deny");
    });

    test("no URL argument is a violation", () => {
      assert.equal(decide(p, { scopes: ["net.fetch:x.example"], args: {} }).decision, "ask");
    });
  });

  describe("paths", () => {
    const p = policy(
      `  - id: read\n    match: { scope: "files.read" }\n    decision: allow\n    constraints: { paths: ["\${workspace}/**"] }\n    reason: workspace only\n`,
      { workspace: "/home/u/ws" },
    );
    const read = (path: unknown): Decision => decide(p, { scopes: ["files.read:/anything"], args: { path }, cwd: "/home/u/ws" });

    test("a path inside the allowed globs is allowed, relative ones resolved against cwd", () => {
      assert.equal(read("/home/u/ws/a.txt").decision, "allow");
      assert.equal(read("notes/a.txt").decision, "allow");
    });

    test("a path outside, by traversal or by percent-encoding, is a violation", () => {
      assert.equal(read("/home/u/.ssh/id_rsa").decision, "deny");
      assert.equal(read("../.ssh/id_rsa").decision, "deny");
      assert.equal(read("%2e%2e/.ssh/id_rsa").decision, "deny");
      assert.equal(read("/home/u/wsx/a").decision, "deny");
    });

    test("an unparseable path (NUL) is a deny", () => {
      const d = read("/home/u/ws/a\u0000b");
      assert.equal(d.decision, "deny");
      assert.match(d.reason, /unparseable/);
    });
  });

  describe("time_window", () => {
    const p = sendWith(`{ time_window: { days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00", tz: "Europe/Berlin" } }`);
    const at = (iso: string): Decision => decide(p, { scopes: ["email.send"] }, new Date(iso));

    test("inside the window in its time zone", () => {
      assert.equal(at("2025-01-06T08:30:00Z").decision, "allow"); // Monday 09:30 in Berlin (UTC+1)
      assert.equal(at("2025-07-07T14:59:00Z").decision, "allow"); // Monday 16:59 in Berlin (UTC+2)
    });

    test("outside the hours, or on a day not listed", () => {
      assert.equal(at("2025-01-06T07:30:00Z").decision, "deny"); // 08:30 Berlin, though 09:00 would be in UTC+1's past
      assert.equal(at("2025-01-06T16:00:00Z").decision, "deny"); // 17:00 Berlin: the end is exclusive
      assert.equal(at("2025-01-04T10:00:00Z").decision, "deny"); // Saturday
    });

    test("a window across midnight", () => {
      const night = sendWith(`{ time_window: { from: "22:00", to: "06:00", tz: "UTC" } }`);
      assert.equal(decide(night, { scopes: ["email.send"] }, new Date("2025-01-06T23:00:00Z")).decision, "allow");
      assert.equal(decide(night, { scopes: ["email.send"] }, new Date("2025-01-06T05:59:00Z")).decision, "allow");
      assert.equal(decide(night, { scopes: ["email.send"] }, new Date("2025-01-06T12:00:00Z")).decision, "deny");
    });
  });

  describe("rate_limit", () => {
    test("N per period per skill, counted by the caller from the returned keys", () => {
      const p = sendWith(`{ rate_limit: { max: 2, per: 1h } }`);
      const counter = new MemoryRateCounter();
      const t0 = new Date("2025-01-06T10:00:00Z").getTime();
      const run = (skill: string, at: number): Decision => {
        const d = p.decide(request({ scopes: ["email.send"], skill }), { now: new Date(at), rateCounter: counter });
        if (d.decision === "allow") for (const k of d.rateKeys) counter.record(k, at);
        return d;
      };
      const first = run("mailer", t0);
      assert.equal(first.decision, "allow");
      assert.deepEqual(first.rateKeys, ["send|mailer"]);
      assert.equal(run("mailer", t0 + 1000).decision, "allow");
      const third = run("mailer", t0 + 2000);
      assert.equal(third.decision, "deny");
      assert.deepEqual(third.rateKeys, []);
      assert.match(third.reason, /2 of 2 per 1h already used/);
      // Another skill has its own budget; after the hour the first has one again.
      assert.equal(run("other", t0 + 3000).decision, "allow");
      assert.equal(run("mailer", t0 + 3_600_000 + 1).decision, "allow");
    });

    test("no rate keys are returned when the action as a whole is not allowed", () => {
      const p = policy(rule("send", "email.send", "allow", `    constraints: { rate_limit: { max: 5, per: 1m } }\n`) + rule("pay", "payments.send", "ask"));
      const d = p.decide(request({ scopes: ["email.send", "payments.send"] }), { rateCounter: new MemoryRateCounter() });
      assert.equal(d.decision, "ask");
      assert.deepEqual(d.rateKeys, []);
    });
  });

  describe("max_bytes", () => {
    const p = sendWith(`{ max_bytes: 100 }`, "ask");
    test("small arguments pass, large ones violate", () => {
      assert.equal(decide(p, { scopes: ["email.send"], args: { body: "hi" } }).decision, "allow");
      const d = decide(p, { scopes: ["email.send"], args: { body: "x".repeat(200) } });
      assert.equal(d.decision, "ask");
      assert.match(d.reason, /max_bytes: arguments are \d+ bytes, limit 100/);
    });
    test("bytes, not characters, are counted", () => {
      assert.equal(decide(p, { scopes: ["email.send"], args: { body: "\u00e9".repeat(45) } }).decision, "ask");
    });
  });

  test("several constraints must all hold", () => {
    const p = sendWith(`{ recipients: ["*@allowed.example"], max_bytes: 200 }`);
    assert.equal(decide(p, { scopes: ["email.send"], args: { to: "a@allowed.example" } }).decision, "allow");
    assert.equal(decide(p, { scopes: ["email.send"], args: { to: "a@allowed.example", body: "x".repeat(300) } }).decision, "deny");
  });

  test("a violated allow does not hide a separate deny, and a satisfied allow does not beat an ask", () => {
    const p = sendWith(`{ recipients: ["*@allowed.example"] }`, "ask");
    const withAsk = policy(
      `  - id: send\n    match: { scope: "email.send" }\n    decision: allow\n    constraints: { recipients: ["*@allowed.example"] }\n    reason: ok\n` + rule("always-ask", "email.send", "ask"),
    );
    assert.equal(decide(p, { scopes: ["email.send"], args: { to: "a@allowed.example" } }).decision, "allow");
    assert.equal(decide(withAsk, { scopes: ["email.send"], args: { to: "a@allowed.example" } }).decision, "ask");
  });
});

describe("explain", () => {
  test("the trace lists every rule against every scope, with why it matched or not", () => {
    const p = policy(
      rule("read-ws", "files.read:/ws/**", "allow") +
        rule("no-ssh", "files.*:**/.ssh/**", "deny") +
        `  - id: tainted\n    match: { scope: "files.read" }\n    when: { tainted: true }\n    decision: ask\n    reason: tainted\n` +
        `  - id: mailer\n    match: { tool: "email.send" }\n    decision: allow\n    reason: mail\n`,
    );
    const { decision, trace } = p.explain(request({ tool: "files.read", scopes: ["files.read:/ws/a", "files.read:/ws/.ssh/k"] }));
    assert.equal(decision.decision, "deny");
    assert.equal(trace.length, p.rules.length * 2);
    const note = (id: string, scope: string): { matched: boolean; note: string } => {
      const t = trace.find((x) => x.rule.id === id && x.scope === scope);
      assert.ok(t, `${id} on ${scope} is in the trace`);
      return t;
    };
    assert.deepEqual(note("read-ws", "files.read:/ws/a"), { ...note("read-ws", "files.read:/ws/a"), matched: true });
    assert.match(note("read-ws", "files.read:/ws/a").note, /^allow/);
    assert.equal(note("no-ssh", "files.read:/ws/a").matched, false);
    assert.match(note("no-ssh", "files.read:/ws/a").note, /does not match/);
    assert.equal(note("no-ssh", "files.read:/ws/.ssh/k").matched, true);
    assert.match(note("no-ssh", "files.read:/ws/.ssh/k").note, /^deny/);
    assert.match(note("tainted", "files.read:/ws/a").note, /not tainted/);
    assert.match(note("mailer", "files.read:/ws/a").note, /tool files\.read does not match email\.send/);
    for (const t of trace) {
      assert.ok(t.note.length > 0);
      assert.ok(t.rule.line > 0);
      assert.ok(t.rule.reason.length > 0);
    }
  });

  test("the trace shows a violated constraint and the decision it turned into", () => {
    const p = policy(`  - id: send\n    match: { scope: "email.send" }\n    decision: allow\n    constraints: { recipients: ["*@allowed.example"] }\n    on_violation: ask\n    reason: mail\n`);
    const { trace } = p.explain(request({ scopes: ["email.send"], args: { to: "evil@x.com" } }));
    assert.equal(trace.length, 1);
    const [only] = trace;
    assert.ok(only);
    assert.equal(only.matched, true);
    assert.equal(only.rule.decision, "allow");
    assert.match(only.note, /^ask \(constraint violated: recipients: evil@x\.com not on the allowlist\)/);
  });

  test("explain and decide agree", () => {
    const p = parsePolicy(DEFAULT_POLICY_YAML, { vars: { workspace: "/home/u/ws", home: "/home/u", profile: "/home/u/.aegisclaw" } });
    const r = request({ tool: "email.send", scopes: ["email.send"], args: { to: "x@y.example" }, labels: ["untrusted:email"] });
    assert.deepEqual(p.explain(r).decision, p.decide(r));
  });
});

describe("loading policy files", () => {
  function problemLine(text: string): { lines: number[]; message: string } {
    try {
      parsePolicy(text, { file: "policy.yaml", vars: { workspace: "/ws" } });
    } catch (err) {
      assert.ok(err instanceof AegisError, `expected an AegisError, got ${String(err)}`);
      assert.equal(err.code, "POLICY_INVALID");
      const lines = [...err.message.matchAll(/policy\.yaml:(\d+):/g)].map((m) => Number(m[1]));
      return { lines, message: err.message };
    }
    assert.fail("the policy loaded");
  }

  const header = "version: 1\nrules:\n";

  test("a wrong decision names its line and the allowed values", () => {
    const { lines, message } = problemLine(header + rule("ok", "email.send", "allow") + "  - id: bad\n    match: { scope: email.send }\n    decision: maybe\n    reason: x\n");
    assert.deepEqual(lines, [9]);
    assert.match(message, /rules\[1\]\.decision/);
    assert.match(message, /allow.*deny.*ask/);
  });

  test("constraints on a deny rule name the constraints", () => {
    const { lines, message } = problemLine(header + "  - id: d\n    match: { scope: email.send }\n    decision: deny\n    constraints: { recipients: [a@b.example] }\n    reason: x\n");
    assert.deepEqual(lines, [6]);
    assert.match(message, /constraints only apply to allow rules/);
  });

  test("an unknown ${var} names the rule's line and the known variables", () => {
    const { lines, message } = problemLine(header + rule("ok", "email.send", "allow") + rule("bad", "files.read:${nope}/**", "allow"));
    assert.deepEqual(lines, [7]);
    assert.match(message, /unknown variable \$\{nope\}/);
    assert.match(message, /\$\{workspace\}/);
  });

  test("a duplicate rule id names the second rule's line", () => {
    const { lines, message } = problemLine(header + rule("same", "email.send", "allow") + rule("same", "email.read", "allow"));
    assert.deepEqual(lines, [7]);
    assert.match(message, /duplicate rule id "same"/);
  });

  test("a rule that matches neither tool nor scope is refused", () => {
    const { message } = problemLine(header + "  - id: x\n    match: { skill: a }\n    decision: allow\n    reason: x\n");
    assert.match(message, /at least a tool or a scope/);
  });

  test("an invalid constraint value names its line", () => {
    const { lines, message } = problemLine(header + "  - id: x\n    match: { scope: email.send }\n    decision: allow\n    constraints:\n      rate_limit: { max: 3, per: soon }\n    reason: x\n");
    assert.deepEqual(lines, [7]);
    assert.match(message, /duration/);
  });

  test("a bad time zone is refused", () => {
    const { message } = problemLine(header + '  - id: x\n    match: { scope: email.send }\n    decision: allow\n    constraints: { time_window: { from: "09:00", to: "17:00", tz: Mars/Olympus } }\n    reason: x\n');
    assert.match(message, /time zone/);
  });

  test("a missing version, a newer version and a missing reason are refused", () => {
    assert.match(problemLine("rules: []\n").message, /version/);
    assert.match(problemLine("version: 2\nrules: []\n").message, /policy version 1/);
    assert.match(problemLine(header + "  - match: { scope: email.send }\n    decision: allow\n").message, /reason/);
  });

  test("an empty or non-mapping document is refused", () => {
    problemLine("");
    problemLine("- just\n- a list\n");
  });

  // The two tests below pin lines the loader currently gets wrong (src/config/yaml.ts, reported):
  // YAML syntax errors are all reported at line 1, and an unknown key at the start of its rule.
  test("malformed YAML names the line of the error", () => {
    const { lines, message } = problemLine(header + rule("ok", "email.send", "allow") + '  - id: broken\n    match: { scope: "email.send"\n    decision: allow\n    reason: x\n');
    assert.match(message, /yaml syntax/);
    assert.ok(lines.length > 0 && lines.every((l) => l >= 8), `lines ${lines.join(",")}`);
  });

  test("malformed YAML is POLICY_INVALID (whatever the line)", () => {
    const { message } = problemLine(header + '  - id: broken\n    match: { scope: "email.send"\n    decision: allow\n    reason: x\n');
    assert.match(message, /yaml syntax/);
  });

  test("a duplicate key is refused", () => {
    assert.match(problemLine(header + "  - id: x\n    match: { scope: email.send }\n    decision: allow\n    decision: deny\n    reason: x\n").message, /unique/);
  });

  test("an unknown field names its own line", () => {
    const { lines, message } = problemLine(header + "  - id: x\n    match: { scope: email.send }\n    decision: allow\n    colour: red\n    reason: x\n");
    assert.match(message, /colour/);
    assert.deepEqual(lines, [6]);
  });

  test("an unknown field is refused and named", () => {
    const { lines, message } = problemLine(header + rule("ok", "email.send", "allow") + "  - id: x\n    match: { scope: email.send }\n    decision: allow\n    colour: red\n    reason: x\n");
    assert.match(message, /rules\[1\]: Unrecognized key: "colour"/);
    assert.ok(lines.every((l) => l >= 7), `points into the second rule, got ${lines.join(",")}`);
    assert.match(problemLine(header + "  - id: x\n    match: { scope: email.send, tols: y }\n    decision: allow\n    reason: x\n").message, /tols/);
    assert.match(problemLine(header + "  - id: x\n    match: { scope: email.send }\n    when: { taint: true }\n    decision: ask\n    reason: x\n").message, /taint/);
    assert.match(problemLine("version: 1\nrules: []\nextra: 1\n").message, /extra/);
  });
});

describe("the default policy", () => {
  const vars = { workspace: "/home/u/ws", home: "/home/u", profile: "/home/u/.aegisclaw" };
  const p = parsePolicy(DEFAULT_POLICY_YAML, { file: "default", vars });
  const d = (r: Req): Decision => decide(p, r);

  test("parses, with an id and a reason on every rule", () => {
    assert.ok(p.rules.length >= 8);
    for (const r of p.rules) {
      assert.ok(!r.id.startsWith("rule-"), `rule at line ${r.line} has an id`);
      assert.ok(r.reason.length > 10);
    }
  });

  test("an agent's shell.exec always asks, whatever the program", () => {
    for (const bin of ["git", "ls", "/usr/bin/sh"]) {
      assert.equal(d({ tool: "shell.exec", scopes: ["shell.exec", `shell.exec:${bin}`] }).decision, "ask", bin);
    }
  });

  test("the owner's own command runs without a prompt, with its mounts and hosts; credential stores stay denied", () => {
    const owner = { actor: "owner", tool: "shell.exec" };
    assert.equal(d({ ...owner, scopes: ["shell.exec:git", "files.read:/home/u/ws", "files.write:/home/u/project", "net.connect:api.github.com"] }).decision, "allow");
    assert.equal(d({ ...owner, scopes: ["shell.exec:git", "files.read:/home/u/.ssh"] }).decision, "deny");
    assert.equal(d({ ...owner, scopes: ["shell.exec:git", "files.read:/home/u/.aegisclaw/secrets.enc.yaml"] }).decision, "deny");
    // An agent asking for the same is asked about; an actor that is neither is denied (no rule names it).
    assert.equal(d({ tool: "shell.exec", scopes: ["shell.exec:git", "files.read:/home/u/ws", "net.connect:api.github.com"] }).decision, "ask");
    assert.equal(d({ actor: "mcp:client", tool: "shell.exec", scopes: ["shell.exec:git"] }).decision, "deny");
    // An agent that spells its actor as the owner's cannot: the actor comes from the adapter, never the model (see judge).
    assert.equal(d({ actor: "Owner", tool: "shell.exec", scopes: ["shell.exec:git"] }).decision, "deny");
  });

  test("email.send is allowed only when every recipient is allowlisted, else asks", () => {
    assert.equal(d({ tool: "email.send", scopes: ["email.send"], args: { to: "you@example.invalid" } }).decision, "allow");
    assert.equal(d({ tool: "email.send", scopes: ["email.send"], args: { to: "someone@else.example" } }).decision, "ask");
    assert.equal(d({ tool: "email.send", scopes: ["email.send"], args: { to: "you@example.invalid", cc: "someone@else.example" } }).decision, "ask");
    assert.equal(d({ tool: "email.send", scopes: ["email.send"], args: { to: '"you@example.invalid" <evil@x.com>' } }).decision, "ask");
    assert.equal(d({ tool: "email.send", scopes: ["email.send"], args: { to: "you@example.invalid\nBcc: evil@x.com" } }).decision, "deny");
  });

  test("reads are allowed only inside the workspace", () => {
    assert.equal(d({ scopes: ["files.read:/home/u/ws/notes/todo.md"] }).decision, "allow");
    assert.equal(d({ scopes: ["files.read:/home/u/ws"] }).decision, "allow");
    assert.equal(d({ scopes: ["files.read:/home/u/notes.txt"] }).decision, "deny");
    assert.equal(d({ scopes: ["files.read:/etc/passwd"] }).decision, "deny");
    assert.equal(d({ scopes: ["files.read:/home/u/ws/../.bashrc"] }).decision, "deny");
    assert.equal(d({ scopes: ["files.read:/home/u/wsx/a"] }).decision, "deny");
  });

  test("writes inside the workspace ask; elsewhere they are denied", () => {
    assert.equal(d({ scopes: ["files.write:/home/u/ws/out.txt"] }).decision, "ask");
    assert.equal(d({ scopes: ["files.write:/home/u/.bashrc"] }).decision, "deny");
  });

  test("credential paths are denied even inside the workspace, in any case", () => {
    for (const path of [
      "/home/u/ws/.env",
      "/home/u/ws/app/.env.production",
      "/home/u/ws/.ssh/id_rsa",
      "/home/u/ws/backup/id_ed25519.pub",
      "/home/u/ws/.aws/credentials",
      "/home/u/ws/.gnupg/private-keys-v1.d/x.key",
      "/home/u/ws/.kube/config",
      "/home/u/ws/.docker/config.json",
      "/home/u/ws/.netrc",
      "/home/u/ws/.config/gcloud/credentials.db",
      "/home/u/ws/.SSH/id_rsa",
      "/home/u/ws/.ENV",
      "/home/u/.aegisclaw/policy.yaml",
    ]) {
      const r = d({ scopes: [`files.read:${path}`] });
      assert.equal(r.decision, "deny", path);
      assert.equal(r.rule?.id, "credentials-never", path);
    }
  });

  test("payments always ask", () => {
    assert.equal(d({ scopes: ["payments.send"] }).decision, "ask");
    assert.equal(d({ scopes: ["payments.send:acme"] }).decision, "ask");
    assert.equal(d({ scopes: ["payments.refund.partial"] }).decision, "ask");
  });

  test("anything tainted that sends data out asks, even to an allowlisted recipient", () => {
    const tainted: Label[] = ["untrusted:email"];
    const mail = d({ tool: "email.send", scopes: ["email.send"], args: { to: "you@example.invalid" }, labels: tainted });
    assert.equal(mail.decision, "ask");
    assert.equal(mail.rule?.id, "tainted-outbound-asks");
    assert.equal(d({ scopes: ["messages.send"], labels: tainted }).decision, "ask");
    assert.equal(d({ scopes: ["net.fetch:api.github.com"], labels: tainted }).decision, "ask");
    assert.equal(d({ scopes: ["shell.exec", "shell.exec:git"], labels: tainted }).decision, "ask");
  });

  test("taint does not turn a deny into an ask", () => {
    assert.equal(d({ scopes: ["files.read:/home/u/ws/.env"], labels: ["untrusted:web"] }).decision, "deny");
    assert.equal(d({ scopes: ["calendar.write"], labels: ["untrusted:web"] }).decision, "deny");
  });

  test("reading mail is allowed; anything the policy does not mention is denied", () => {
    assert.equal(d({ scopes: ["email.read"] }).decision, "allow");
    assert.equal(d({ scopes: ["calendar.read"] }).decision, "allow");
    assert.equal(d({ scopes: ["calendar.write"] }).decision, "deny");
    assert.equal(d({ scopes: ["contacts.export"] }).decision, "deny");
    assert.equal(d({ scopes: ["files.delete:/home/u/ws/a"] }).decision, "deny");
  });
});

describe("recipients routed by the local part (percent hack, UUCP bang paths)", () => {
  const p = policy(`  - id: send\n    match: { scope: "email.send" }\n    decision: allow\n    constraints: { recipients: ["*@allowed.example"] }\n    on_violation: ask\n    reason: allowlisted mail\n`);
  const to = (value: unknown): Decision => decide(p, { scopes: ["email.send"], args: { to: value } });

  test("control: a plain local part on the allowlisted domain is allowed", () => {
    assert.equal(to("evil.attacker.example@allowed.example").decision, "allow");
  });

  test("% and ! in the local part are refused as unparseable, even with on_violation: ask", () => {
    for (const bad of [
      "evil%attacker.example@allowed.example",
      "attacker.example!evil@allowed.example",
      "Someone <evil%attacker.example@allowed.example>",
      "ok@allowed.example, attacker.example!evil@allowed.example",
      ["ok@allowed.example", "a!b!evil@allowed.example"],
      "evil%40attacker.example@allowed.example",
    ]) {
      const d = to(bad);
      assert.equal(d.decision, "deny", JSON.stringify(bad));
      assert.match(d.reason, /unparseable/, JSON.stringify(bad));
      assert.match(d.reason, /"%" or "!"/, JSON.stringify(bad));
    }
  });
});
