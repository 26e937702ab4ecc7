import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { openAuditLog } from "../../src/audit/open.ts";
import { profilePaths } from "../../src/config/paths.ts";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[p] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

describe("aegisclaw init", () => {
  test("creates a private profile: directories 0700, files 0600", async (t) => {
    const dir = tempDir(t);
    const home = join(dir, "profile");
    const r = await runCli(["init", "--home", home, "--workspace", join(dir, "ws"), "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { created: string[] };
    for (const f of ["config.yaml", "policy.yaml", "keys/audit-checkpoint.pem", "keys/audit-checkpoint.pub"]) assert.ok(report.created.includes(join(home, f)), f);
    const check = (p: string): void => {
      const st = statSync(p);
      assert.equal(st.mode & 0o777, st.isDirectory() ? 0o700 : 0o600, `${p} has mode ${(st.mode & 0o777).toString(8)}`);
      if (st.isDirectory()) for (const n of readdirSync(p)) check(join(p, n));
    };
    check(home);
  });

  test("re-running never overwrites or loses anything and says what exists", async (t) => {
    const dir = tempDir(t);
    const home = join(dir, "p");
    assert.equal((await runCli(["init", "--home", home, "--workspace", join(dir, "ws")])).code, 0);
    writeFileSync(join(home, "policy.yaml"), `${readFileSync(join(home, "policy.yaml"), "utf8")}\n# my edit\n`);
    const before = snapshot(home);
    const again = await runCli(["init", "--home", home]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already exists; nothing was changed/);
    assert.deepEqual(snapshot(home), before);
  });

  test("every command refuses a profile others can read, and prints the chmod that fixes it", async (t) => {
    const dir = tempDir(t);
    const home = join(dir, "p");
    await runCli(["init", "--home", home, "--workspace", join(dir, "ws")]);
    chmodSync(join(home, "keys", "audit-checkpoint.pem"), 0o644);
    for (const args of [["policy", "check", "--tool", "files.read", "--arg", `path=${join(dir, "ws", "a")}`], ["logs"], ["audit", "verify"], ["audit", "export"]]) {
      const r = await runCli(["--home", home, ...args]);
      assert.equal(r.code, 6, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /chmod 600 ".*audit-checkpoint\.pem"/);
    }
    const json = await runCli(["--home", home, "logs", "--json"]);
    assert.equal((JSON.parse(json.stdout) as { error: string }).error, "PROFILE_INSECURE");
  });

  test("attack: a profile file swapped for a symlink, or owned by someone else, is refused", async (t) => {
    const dir = tempDir(t);
    const home = join(dir, "p");
    await runCli(["init", "--home", home, "--workspace", join(dir, "ws")]);
    const policyFile = join(home, "policy.yaml");
    const elsewhere = join(dir, "attacker-policy.yaml");
    writeFileSync(elsewhere, readFileSync(policyFile, "utf8"), { mode: 0o600 });
    rmSync(policyFile);
    symlinkSync(elsewhere, policyFile);
    const linked = await runCli(["--home", home, "logs"]);
    assert.equal(linked.code, 6, linked.stderr);
    assert.match(linked.stderr, /policy\.yaml .*symbolic link/);
    rmSync(policyFile);
    writeFileSync(policyFile, readFileSync(elsewhere, "utf8"), { mode: 0o600 });
    if (process.getuid?.() !== 0) {
      t.diagnostic("ownership part skipped: needs root to chown a file to another user");
      return;
    }
    chownSync(policyFile, 65534, 65534);
    const foreign = await runCli(["--home", home, "logs"]);
    assert.equal(foreign.code, 6, foreign.stderr);
    assert.match(foreign.stderr, /owned by uid 65534/);
  });

  test("a malformed config names the line; a config from a newer version says to upgrade", async (t) => {
    const dir = tempDir(t);
    const home = join(dir, "p");
    await runCli(["init", "--home", home, "--workspace", join(dir, "ws")]);
    const cfg = join(home, "config.yaml");
    const original = readFileSync(cfg, "utf8");
    writeFileSync(cfg, original.replace("bind: 127.0.0.1", "bind: 0.0.0.0"));
    const bad = await runCli(["--home", home, "logs"]);
    assert.equal(bad.code, 1);
    const line = original.split("\n").findIndex((l) => l.includes("bind: 127.0.0.1")) + 1;
    assert.match(bad.stderr, new RegExp(`config\\.yaml:${line}: gateway\\.bind: the gateway binds loopback only`));
    writeFileSync(cfg, original.replace("version: 1", "version: 7"));
    const newer = await runCli(["--home", home, "logs"]);
    assert.equal(newer.code, 1);
    assert.match(newer.stderr, /newer AegisClaw/);
    writeFileSync(cfg, "version: [1\n");
    const syntax = await runCli(["--home", home, "logs", "--json"]);
    assert.equal((JSON.parse(syntax.stdout) as { error: string }).error, "CONFIG_INVALID");
  });

  test("a relative --workspace means relative to where you run init, and a missing public key is derived again", async (t) => {
    const dir = tempDir(t);
    const r = await runCli(["init", "--home", "p", "--workspace", "ws"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(readFileSync(join(dir, "p", "config.yaml"), "utf8"), new RegExp(`workspace: "${join(dir, "ws")}"`));
    const pub = join(dir, "p", "keys", "audit-checkpoint.pub");
    const original = readFileSync(pub, "utf8");
    rmSync(pub);
    const again = await runCli(["init", "--home", join(dir, "p")]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(readFileSync(pub, "utf8"), original);
    assert.deepEqual(readdirSync(join(dir, "p", "keys")).sort(), ["age-identity.txt", "audit-checkpoint.pem", "audit-checkpoint.pub"], "no temp files left behind");
  });

  test("logs shows control characters from the agent escaped, never raw", async (t) => {
    const dir = tempDir(t);
    const home = join(dir, "p");
    await runCli(["init", "--home", home, "--workspace", join(dir, "ws")]);
    const log = await openAuditLog(profilePaths(home));
    await log.append({ kind: "decision", actor: "model", action: "evil\u001b]0;pwned\u0007\u001b[2J", resource: "x", decision: "deny", detail: { reason: "line\rover" } });
    await log.close();
    const r = await runCli(["--home", home, "logs"]);
    assert.equal(r.code, 0);
    assert.ok(!r.stdout.includes("\u001b"), "no raw escape reaches the terminal");
    assert.match(r.stdout, /evil\\x1b\]0;pwned\\x07/);
  });

  test("commands on a missing profile say how to create one", async (t) => {
    const dir = tempDir(t);
    const r = await runCli(["--home", join(dir, "none"), "logs"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /aegisclaw init/);
  });
});

describe("aegisclaw doctor", () => {
  test("reports each check with a fix, as JSON", async (t) => {
    const dir = tempDir(t);
    const r = await runCli(["--home", join(dir, "none"), "doctor", "--json"]);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; ok: boolean; fix?: string }[] };
    const names = report.checks.map((c) => c.name);
    for (const n of ["node", "user namespaces", "bubblewrap", "seccomp", "age", "runsc (gVisor)", "docker engine", "profile"]) assert.ok(names.includes(n), n);
    assert.equal(report.checks.find((c) => c.name === "node")?.ok, true);
    for (const c of report.checks) if (!c.ok) assert.ok(c.fix, `${c.name} failed without a fix`);
    assert.equal(r.code, report.ok ? 0 : 1);
  });
});

describe("cli basics", () => {
  test("the package's bin is the built CLI with a node shebang, and it runs", (t) => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { bin: Record<string, string>; files: string[]; version: string };
    assert.equal(pkg.bin.aegisclaw, "dist/cli/main.js");
    assert.ok(pkg.files.includes("dist"));
    const built = new URL("../../dist/cli/main.js", import.meta.url);
    if (!existsSync(built)) {
      t.skip("dist/ is not built (./setup or npm run build builds it)");
      return;
    }
    assert.match(readFileSync(built, "utf8").split("\n")[0] ?? "", /^#!\/usr\/bin\/env node$/);
    const r = spawnSync(process.execPath, [fileURLToPath(built), "--version"], { encoding: "utf8" });
    assert.equal(r.stdout.trim(), pkg.version);
  });

  test("--help exits 0 and lists the commands; an unknown command exits 2", async () => {
    const help = await runCli(["--help"]);
    assert.equal(help.code, 0);
    for (const c of ["quickstart", "init", "doctor", "policy", "audit", "logs"]) assert.match(help.stdout, new RegExp(`\\b${c}\\b`));
    const bad = await runCli(["frobnicate"]);
    assert.equal(bad.code, 2);
  });
});
