/**
 * `aegisclaw secrets …` as a user runs it: values go in through stdin (or a
 * hidden prompt on a terminal), never argv; they come out only through
 * `get --reveal`; every operation is in the audit log by name and never by
 * value; no other output ever carries a value.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFileSync, chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";

import { initAndOpen } from "../../src/cli/init.ts";
import { profilePaths, type ProfilePaths } from "../../src/config/paths.ts";
import { SecretStore, loadIdentityFile } from "../../src/secrets/index.ts";
import { COMPILE_CACHE, MAIN, runCli, type CliResult } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

const SCRIPT = ["/usr/bin/script", "/bin/script"].find((p) => existsSync(p));

type Run = CliResult;

/**
 * Runs the CLI with optional stdin, in its own session (detached), so it has
 * no controlling terminal: what a script or CI job sees. AEGISCLAW_PASSPHRASE
 * is only set when the test sets it.
 */
function aegis(home: string, args: readonly string[], options: { readonly stdin?: string; readonly env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  // AEGISCLAW_PASSPHRASE only when the test sets it; no terminal, as a script or CI job runs it.
  return runCli(["--home", home, ...args], { ...options, unset: options.env?.AEGISCLAW_PASSPHRASE === undefined ? ["AEGISCLAW_PASSPHRASE"] : [], detached: true });
}

/** A profile (config, policy, audit log) made in-process; the secret store too unless `secrets: false`. */
async function profile(t: TestContext, options: { readonly secrets?: boolean } = {}): Promise<ProfilePaths> {
  const dir = tempDir(t);
  const home = join(dir, "profile");
  await initAndOpen(home, join(dir, "ws"));
  const paths = profilePaths(home);
  if (options.secrets === false) {
    // `aegisclaw init` creates the store; these tests start from a profile without one.
    rmSync(paths.ageIdentity, { force: true });
    rmSync(paths.secretsFile, { force: true });
  } else {
    await SecretStore.init(paths);
  }
  return paths;
}

/** Every output so far must be free of every value. */
function assertNoValues(runs: readonly Run[], values: readonly string[]): void {
  for (const run of runs) {
    for (const value of values) {
      for (const form of [value, ...value.split("\n").filter((l) => l.length >= 6)]) {
        assert.ok(!run.stdout.includes(form), `a value leaked to stdout: ${run.stdout}`);
        assert.ok(!run.stderr.includes(form), `a value leaked to stderr: ${run.stderr}`);
      }
    }
  }
}

interface LogLine {
  readonly action: string;
  readonly resource: string;
  readonly decision: string;
  readonly detail: Record<string, unknown>;
}

async function auditLines(home: string): Promise<{ run: Run; lines: LogLine[] }> {
  const run = await aegis(home, ["logs", "--json", "--limit", "500"]);
  assert.equal(run.code, 0, run.stderr);
  return { run, lines: run.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as LogLine) };
}

describe("aegisclaw secrets", { concurrency: true }, () => {
  test("set from stdin, list, get --reveal, rm: values only ever appear in get --reveal, and the audit log has names only", async (t) => {
    const paths = await profile(t);
    const home = paths.home;
    const token = "ghp_S3cr3tT0kenValue0123456789";
    const updated = "ghp_Upd4tedT0kenValue987654321";
    const pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";
    const runs: Run[] = [];
    const run = async (args: readonly string[], stdin?: string): Promise<Run> => {
      const r = await aegis(home, args, stdin === undefined ? {} : { stdin });
      runs.push(r);
      return r;
    };

    let r = await run(["secrets", "set", "GITHUB_TOKEN"], `${token}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /GITHUB_TOKEN added/);
    const setPem = await run(["secrets", "set", "TLS_KEY"], `${pem}\n`);
    assert.equal(setPem.code, 0, setPem.stderr);
    r = await run(["secrets", "set", "GITHUB_TOKEN"], updated);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /GITHUB_TOKEN updated/);

    // Which skills may have a secret is policy's to say.
    appendFileSync(join(home, "policy.yaml"), "\nsecrets:\n  GITHUB_TOKEN: [github]\n");
    const [list, listJson, noReveal, badName, empty] = await Promise.all([
      run(["secrets", "list"]),
      run(["secrets", "list", "--json"]),
      run(["secrets", "get", "GITHUB_TOKEN"]),
      run(["secrets", "set", "github-token"], "x"),
      run(["secrets", "set", "EMPTY"], ""),
    ]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^NAME\s+CREATED \(UTC\)\s+UPDATED \(UTC\)\s+SKILLS$/m);
    assert.match(list.stdout, /^GITHUB_TOKEN\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d{4}-.*github$/m);
    const infos = JSON.parse(listJson.stdout) as { name: string; created: string; updated: string; skills: string[] }[];
    assert.deepEqual(
      infos.map((i) => [i.name, i.skills]),
      [
        ["GITHUB_TOKEN", ["github"]],
        ["TLS_KEY", []],
      ],
    );
    for (const i of infos) assert.match(i.created, /^\d{4}-\d\d-\d\dT/);
    assert.equal(noReveal.code, 2);
    assert.match(noReveal.stderr, /--reveal/);
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /not a valid secret name/);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /No value on stdin/);

    // The reveal: exactly the value, nothing else.
    const [reveal, revealJson] = await Promise.all([aegis(home, ["secrets", "get", "TLS_KEY", "--reveal"]), aegis(home, ["secrets", "get", "GITHUB_TOKEN", "--reveal", "--json"])]);
    assert.equal(reveal.code, 0, reveal.stderr);
    assert.equal(reveal.stdout, pem);
    assert.equal(reveal.stderr, "");
    assert.deepEqual(JSON.parse(revealJson.stdout), { name: "GITHUB_TOKEN", value: updated });

    r = await run(["secrets", "rm", "GITHUB_TOKEN"]);
    assert.equal(r.code, 0, r.stderr);
    const gone = await run(["secrets", "rm", "GITHUB_TOKEN"]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no secret named GITHUB_TOKEN/);

    const logs = await auditLines(home);
    runs.push(logs.run);
    assertNoValues(runs, [token, updated, pem]);
    const secretsEntries = logs.lines.filter((l) => l.action.startsWith("secrets."));
    const sets = secretsEntries.filter((l) => l.action === "secrets.set" && l.decision === "info");
    assert.deepEqual(
      sets.map((l) => [l.resource, l.detail.created]),
      [
        ["secret:GITHUB_TOKEN", true],
        ["secret:TLS_KEY", true],
        ["secret:GITHUB_TOKEN", false],
      ],
    );
    const reveals = secretsEntries.filter((l) => l.action === "secrets.get" && l.decision === "info");
    assert.equal(reveals.length, 2);
    for (const e of reveals) assert.equal(e.detail.revealed, true);
    assert.ok(secretsEntries.some((l) => l.action === "secrets.rm" && l.resource === "secret:GITHUB_TOKEN"));
    assert.ok(secretsEntries.some((l) => l.action === "secrets.rm" && l.decision === "error" && l.detail.error === "USAGE"));
    assert.equal(secretsEntries.filter((l) => l.action === "secrets.list").length, 2);
    // The secrets file itself has no value in clear.
    const file = readFileSync(paths.secretsFile, "utf8");
    for (const v of [token, updated, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"]) assert.ok(!file.includes(v));
  });

  test("a value on the command line (--value or an argument) is refused with the reason, never echoed, nothing stored", async (t) => {
    const paths = await profile(t);
    const value = "sk-live-DoNotEchoMe-42";
    const [viaOption, viaOptionEq, viaArg, noStore] = await Promise.all([
      aegis(paths.home, ["secrets", "set", "API_KEY", "--value", value]),
      aegis(paths.home, ["secrets", "set", "API_KEY", `--value=${value}`]),
      aegis(paths.home, ["secrets", "set", "API_KEY", value]),
      aegis(join(paths.home, "..", "elsewhere"), ["secrets", "list"]),
    ]);
    for (const r of [viaOption, viaOptionEq, viaArg]) {
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /process listings/);
      assert.match(r.stderr, /shell history/);
      assert.match(r.stderr, /secrets set NAME < FILE|printf %s/);
    }
    assertNoValues([viaOption, viaOptionEq, viaArg], [value]);
    const list = await aegis(paths.home, ["secrets", "list", "--json"]);
    assert.deepEqual(JSON.parse(list.stdout), []);
    assert.equal(noStore.code, 1);
    assert.match(noStore.stderr, /aegisclaw init/);
  });

  test("import --from-env moves valid names in, reports skipped lines without values, and says how to delete the plaintext", async (t) => {
    const paths = await profile(t);
    const dir = join(paths.home, "..");
    const envFile = join(dir, "app.env");
    const values = { DB_PASSWORD: "db-pass word\nsecond line", OPENAI_API_KEY: "sk-proj-ImportedValue123", STRIPE_KEY: "sk_live_ImportedStripe456" };
    const skippedSecret = "lowercase-secret-value-789";
    const stray = "a-stray-token-without-a-name-000";
    writeFileSync(
      envFile,
      [
        "# app settings",
        `export DB_PASSWORD="db-pass word\\nsecond line"`,
        `OPENAI_API_KEY=${values.OPENAI_API_KEY} # the key`,
        `STRIPE_KEY='${values.STRIPE_KEY}'`,
        `api_token=${skippedSecret}`,
        stray,
        "EMPTY=",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    const r = await aegis(paths.home, ["secrets", "import", "--from-env", envFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /imported 3: DB_PASSWORD, OPENAI_API_KEY, STRIPE_KEY/);
    assert.match(r.stdout, /line 5 api_token: not an environment-variable-style name.*API_TOKEN/);
    assert.match(r.stdout, /line 6: not a KEY=VALUE line/);
    assert.match(r.stdout, /line 7 EMPTY: empty value/);
    assert.ok(r.stdout.includes(`shred -u ${envFile}`), r.stdout);
    assert.ok(existsSync(envFile), "import must not delete the plaintext file itself");

    const again = await aegis(paths.home, ["secrets", "import", "--from-env", envFile, "--json"]);
    assert.equal(again.code, 0, again.stderr);
    const report = JSON.parse(again.stdout) as { imported: string[]; skipped: { name?: string; reason: string }[]; deleteWith: string };
    assert.deepEqual(report.imported, []);
    assert.deepEqual(report.skipped.filter((s) => s.reason.startsWith("already in the store")).map((s) => s.name), ["DB_PASSWORD", "OPENAI_API_KEY", "STRIPE_KEY"]);
    assert.equal(report.deleteWith, `shred -u ${envFile}`);

    const [reveal, logs] = await Promise.all([aegis(paths.home, ["secrets", "get", "DB_PASSWORD", "--reveal"]), auditLines(paths.home)]);
    assert.equal(reveal.stdout, values.DB_PASSWORD);
    assertNoValues([r, again, logs.run], [...Object.values(values), skippedSecret, stray]);
    const imports = logs.lines.filter((l) => l.action === "secrets.import");
    assert.equal(imports.length, 2);
    const [first] = imports;
    assert.ok(first !== undefined);
    assert.equal(first.resource, `file:${envFile}`);
    assert.deepEqual(first.detail.imported, ["DB_PASSWORD", "OPENAI_API_KEY", "STRIPE_KEY"]);
  });

  test("a passphrase-protected identity: AEGISCLAW_PASSPHRASE unlocks it; a wrong one or none without a terminal is a clear error", async (t) => {
    const paths = await profile(t, { secrets: false });
    const env = { AEGISCLAW_PASSPHRASE: "correct horse battery staple" };
    const init = await aegis(paths.home, ["secrets", "init", "--passphrase"], { env });
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /created\s+.*age-identity\.txt/);
    assert.match(readFileSync(paths.ageIdentity, "utf8"), /^-----BEGIN AGE ENCRYPTED FILE-----/);
    assert.ok(!init.stdout.includes(env.AEGISCLAW_PASSPHRASE));

    const [set, wrong, none] = await Promise.all([
      aegis(paths.home, ["secrets", "set", "TOKEN"], { env, stdin: "tok-value-1" }),
      aegis(paths.home, ["secrets", "list"], { env: { AEGISCLAW_PASSPHRASE: "wrong passphrase" } }),
      aegis(paths.home, ["secrets", "list"]),
    ]);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /age-identity\.txt: wrong passphrase/);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /age-identity\.txt is protected by a passphrase and there is no terminal.*AEGISCLAW_PASSPHRASE/);
    assertNoValues([set, wrong, none], ["tok-value-1", env.AEGISCLAW_PASSPHRASE]);
  });

  test("recipients add|list|rm and rotate --identity keep every value readable", async (t) => {
    const paths = await profile(t);
    const set = await aegis(paths.home, ["secrets", "set", "TOKEN"], { stdin: "rotating-value" });
    assert.equal(set.code, 0, set.stderr);
    const backup = "age1lggyhqrw2nlhcxprm67z43rta597azn8gknawjehu9d9dl0jq3yqqvfafg";
    const add = await aegis(paths.home, ["secrets", "recipients", "add", backup]);
    assert.equal(add.code, 0, add.stderr);
    const [bad, list] = await Promise.all([aegis(paths.home, ["secrets", "recipients", "add", "AGE-SECRET-KEY-1NOTARECIPIENT"]), aegis(paths.home, ["secrets", "recipients", "list", "--json"])]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not an age recipient/);
    const recipients = JSON.parse(list.stdout) as { recipient: string; profile: boolean }[];
    assert.equal(recipients.length, 2);
    const own = recipients.find((r) => r.profile)?.recipient ?? "";

    const rotateId = await aegis(paths.home, ["secrets", "rotate", "--identity", "--json"]);
    assert.equal(rotateId.code, 0, rotateId.stderr);
    const report = JSON.parse(rotateId.stdout) as { newRecipient: string; recipients: string[] };
    assert.notEqual(report.newRecipient, own);
    assert.deepEqual([...report.recipients].sort(), [backup, report.newRecipient].sort());
    const rm = await aegis(paths.home, ["secrets", "recipients", "rm", backup]);
    assert.equal(rm.code, 0, rm.stderr);
    const [reveal, logs] = await Promise.all([aegis(paths.home, ["secrets", "get", "TOKEN", "--reveal"]), auditLines(paths.home)]);
    assert.equal(reveal.stdout, "rotating-value");
    const actions = logs.lines.filter((l) => l.action.startsWith("secrets.")).map((l) => `${l.action}:${l.decision}`);
    for (const a of ["secrets.recipients.add:info", "secrets.recipients.add:error", "secrets.rotate:info", "secrets.recipients.rm:info"]) assert.ok(actions.includes(a), a);
    // A mistyped identity pasted as a recipient never reaches the audit log.
    assert.ok(!logs.run.stdout.includes("AGE-SECRET-KEY"));
  });

  test("edit: $EDITOR gets a 0600 plaintext copy inside the profile; adds, changes and removals are saved; the copy is gone afterwards", async (t) => {
    const paths = await profile(t);
    const store = await SecretStore.open(paths, (await loadIdentityFile(paths.ageIdentity)).identities);
    await store.setMany([
      { name: "KEEP", value: "kept-original-value" },
      { name: "DROP", value: "dropped-value-123" },
      { name: "SAME", value: "same-value-456" },
    ]);
    store.close();
    const dir = join(paths.home, "..");
    const editor = join(dir, "editor.sh");
    writeFileSync(
      editor,
      `#!/bin/sh
stat -c %a "$1" > "${dir}/mode"
printf '%s' "$1" > "${dir}/path"
sed -i -e 's/^KEEP: .*/KEEP: changed-value-789/' -e '/^DROP:/d' "$1"
printf 'ADDED: added-value-000\n' >> "$1"
`,
      { mode: 0o700 },
    );
    const edit = await aegis(paths.home, ["secrets", "edit", "--json"], { env: { EDITOR: editor, VISUAL: "" } });
    assert.equal(edit.code, 0, edit.stderr);
    assert.deepEqual(JSON.parse(edit.stdout), { added: ["ADDED"], changed: ["KEEP"], removed: ["DROP"] });
    assert.equal(readFileSync(join(dir, "mode"), "utf8").trim(), "600");
    const copy = readFileSync(join(dir, "path"), "utf8");
    assert.equal(join(copy, ".."), paths.home);
    assert.equal(existsSync(copy), false, "the plaintext copy must be removed");

    const [failing, reveal] = await Promise.all([
      aegis(paths.home, ["secrets", "edit"], { env: { EDITOR: "false", VISUAL: "" } }),
      aegis(paths.home, ["secrets", "get", "KEEP", "--reveal"]),
    ]);
    assert.equal(failing.code, 1);
    assert.match(failing.stderr, /exited with status 1; nothing was changed/);
    assert.equal(reveal.stdout, "changed-value-789");
    assertNoValues([edit, failing], ["kept-original-value", "dropped-value-123", "same-value-456", "changed-value-789", "added-value-000"]);
  });

  test("a secrets file readable by others stops every secrets command with the chmod (exit 6)", async (t) => {
    const paths = await profile(t);
    chmodSync(paths.secretsFile, 0o644);
    const r = await aegis(paths.home, ["secrets", "list"]);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /secrets\.enc\.yaml \(mode 644\)/);
    assert.match(r.stderr, /chmod 600/);
  });

  test("on a terminal, set asks for the value at a prompt that does not echo it", async (t) => {
    if (SCRIPT === undefined) {
      t.skip("script(1) (util-linux) is not installed, so no pseudo-terminal can be made here");
      return;
    }
    const paths = await profile(t);
    const value = "typed-at-the-prompt-xyz";
    const command = [process.execPath, MAIN, "--home", paths.home, "secrets", "set", "TYPED"].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(SCRIPT, ["-qec", command, "/dev/null"], { env: { ...process.env, NO_COLOR: "1", NODE_COMPILE_CACHE: COMPILE_CACHE }, stdio: ["pipe", "pipe", "pipe"], timeout: 30_000 });
      let text = "";
      let typed = false;
      child.stdout.on("data", (b: Buffer) => {
        text += b.toString();
        // Type only once the prompt is up (raw mode, echo off), as a person would.
        if (!typed && text.includes("Value for TYPED")) {
          typed = true;
          child.stdin.write(`${value}\r`);
        }
      });
      child.on("error", reject);
      child.on("close", () => {
        resolve(text);
      });
    });
    assert.match(out, /Value for TYPED \(input hidden\)/);
    assert.match(out, /TYPED added/);
    assert.ok(!out.includes(value), `the typed value was echoed: ${out}`);
    const reveal = await aegis(paths.home, ["secrets", "get", "TYPED", "--reveal"]);
    assert.equal(reveal.stdout, value);
  });
});
