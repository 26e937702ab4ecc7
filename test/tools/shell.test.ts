/**
 * shell.exec: the program is resolved when the call is judged (PATH lookup,
 * symlinks, `..`) and named every way a rule may spell it; the run spawns
 * exactly the judged path in exactly the judged directory.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { NO_SECRETS } from "../../src/envelope/stages.ts";
import { hostProcessRunner } from "../../src/envelope/local-executor.ts";
import type { ToolOutput } from "../../src/envelope/tool.ts";
import { parsePolicy } from "../../src/policy/load.ts";
import { parseScope, type Scope } from "../../src/policy/scope.ts";
import { shellExecTool as tool } from "../../src/tools/shell.ts";
import { tempDir } from "../helpers/tmp.ts";

const LS = realpathSync("/usr/bin/ls");
const ENV = realpathSync("/usr/bin/env");

/** Runs `fn` with process.env.PATH set to `path`, restoring it afterwards. */
function withPath<T>(path: string | undefined, fn: () => T): T {
  const saved = process.env.PATH;
  if (path === undefined) delete process.env.PATH;
  else process.env.PATH = path;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.PATH;
    else process.env.PATH = saved;
  }
}

/** Every name the call's program is judged under: its scopes, then its aliases (which can only tighten). */
function scopesOf(args: Record<string, unknown>, workspace: string): string[] {
  const all = [...tool.scopes(args, { workspace }), ...(tool.aliases?.(args, { workspace }) ?? [])].filter((s) => s.startsWith("shell.exec"));
  // Listed as: the generic scope, then names (as given, then real), then the path — whichever of them is primary.
  const rank = (s: string): number => (s === "shell.exec" ? 0 : s.includes("/") ? 2 : 1);
  return all.sort((a, b) => rank(a) - rank(b));
}

/** Judges like the envelope: the tool's scope strings, parsed and canonicalised. */
function judge(args: Record<string, unknown>, workspace: string): Scope[] {
  return [...tool.scopes(args, { workspace }), ...(tool.aliases?.(args, { workspace }) ?? [])].map((s) => parseScope(s, { cwd: workspace }));
}

function run(args: Record<string, unknown>, workspace: string, scopes: readonly Scope[]): Promise<ToolOutput> {
  return tool.run(args, { workspace, scopes, dataDir: workspace, secrets: NO_SECRETS, signal: new AbortController().signal, runProcess: hostProcessRunner });
}

function script(t: TestContext, dir: string, name: string, body: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  t.after(() => {
    rmSync(path, { force: true });
  });
  return path;
}

describe("shell.exec scopes: the program as judged", () => {
  test("a bare name is looked up on PATH and named as given and by its real path", (t) => {
    const ws = tempDir(t);
    assert.deepEqual(scopesOf({ argv: ["ls", "-l"] }, ws), ["shell.exec:ls", `shell.exec:${LS}`]);
    assert.deepEqual(scopesOf({ argv: ["env"] }, ws), ["shell.exec:env", `shell.exec:${ENV}`]);
  });

  test("every spelling of one program gives the same name scope and the same path scope", (t) => {
    const ws = tempDir(t);
    for (const spelling of ["ls", "/bin/ls", "/usr/bin/ls", "/usr/bin/../bin/ls", "/usr//bin/./ls", relative(ws, "/usr/bin/ls")]) {
      const scopes = scopesOf({ argv: [spelling] }, ws);
      assert.deepEqual(scopes, ["shell.exec:ls", `shell.exec:${LS}`], spelling);
    }
  });

  test("a relative program is resolved against cwd, which is resolved against the workspace", (t) => {
    const ws = tempDir(t);
    assert.deepEqual(scopesOf({ argv: ["./ls"], cwd: "/usr/bin" }, ws), ["shell.exec:ls", `shell.exec:${LS}`]);
    assert.deepEqual(scopesOf({ argv: ["../bin/ls"], cwd: "/usr/lib" }, ws), ["shell.exec:ls", `shell.exec:${LS}`]);
  });

  test("a symlink that renames a program is named both ways", (t) => {
    const ws = tempDir(t);
    const bin = join(ws, "bin");
    mkdirSync(bin);
    symlinkSync("/usr/bin/ls", join(bin, "innocent"));
    const expected = ["shell.exec:innocent", "shell.exec:ls", `shell.exec:${LS}`];
    assert.deepEqual(scopesOf({ argv: ["bin/innocent"] }, ws), expected);
    assert.deepEqual(
      withPath(`${bin}:/usr/bin:/bin`, () => scopesOf({ argv: ["innocent"] }, ws)),
      expected,
    );
  });

  test("the PATH lookup takes the first regular executable file in an absolute entry", (t) => {
    const ws = tempDir(t);
    const first = join(ws, "first");
    const second = join(ws, "second");
    mkdirSync(join(first, "tool"), { recursive: true }); // a directory of that name is skipped
    mkdirSync(second);
    writeFileSync(join(second, "tool"), "not executable"); // so is a file that is not executable
    const third = script(t, join(ws, "third"), "tool", "echo third");
    const rel = script(t, join(ws, "rel"), "tool", "echo relative");
    const path = `rel:${first}:${second}:${join(ws, "third")}/:/usr/bin`;
    assert.deepEqual(
      withPath(path, () => scopesOf({ argv: ["tool"], cwd: ws }, ws)),
      ["shell.exec:tool", `shell.exec:${third}`],
    );
    assert.notEqual(third, rel);
  });

  test("without PATH, the lookup uses /usr/bin:/bin like the spawn does", (t) => {
    const ws = tempDir(t);
    assert.deepEqual(
      withPath(undefined, () => scopesOf({ argv: ["ls"] }, ws)),
      ["shell.exec:ls", `shell.exec:${LS}`],
    );
  });

  test("a program that cannot be found or is not an executable file cannot be judged", (t) => {
    const ws = tempDir(t);
    writeFileSync(join(ws, "data.txt"), "x");
    symlinkSync(join(ws, "nowhere"), join(ws, "dangling"));
    const refused: [string, RegExp][] = [
      ["no-such-program-aegisclaw", /not on the PATH/],
      ["/nonexistent/ls", /does not exist/],
      ["./missing", /does not exist/],
      ["dangling", /not on the PATH/],
      ["./dangling", /does not exist/],
      ["/usr/bin", /not an executable file/],
      ["./data.txt", /not an executable file/],
      ["", /not a plain program name/],
      ["ls;rm", /not a plain program name/],
      ["ls\n", /control/],
    ];
    for (const [program, message] of refused) {
      assert.throws(() => scopesOf({ argv: [program] }, ws), message, JSON.stringify(program));
    }
    // A program found only through a relative PATH entry is not found: it would depend on the cwd.
    script(t, join(ws, "rel"), "onlyhere", "echo x");
    assert.throws(() => withPath("rel:/usr/bin", () => scopesOf({ argv: ["onlyhere"], cwd: ws }, ws)), /not on the PATH/);
  });
});

describe("shell.exec through the policy engine", () => {
  const judgeWith = (policyBody: string, ws: string, args: Record<string, unknown>): string => {
    // The working directory is judged too (files.read); these tests are about the program, so it is allowed.
    const cwdOk = `  - id: cwd\n    match: { scope: "files.read:\${workspace}/**" }\n    decision: allow\n    reason: the workspace\n`;
    const policy = parsePolicy(`version: 1\nrules:\n${policyBody}${cwdOk}`, { vars: { workspace: ws } });
    let scopes: Scope[];
    let aliases: Scope[];
    try {
      scopes = tool.scopes(args, { workspace: ws }).map((s) => parseScope(s, { cwd: ws }));
      aliases = (tool.aliases?.(args, { workspace: ws }) ?? []).map((s) => parseScope(s, { cwd: ws }));
    } catch {
      return "deny (cannot be judged)";
    }
    return policy.decide({ tool: tool.name, scopes, aliases, args, labels: [], argRoles: tool.argRoles, cwd: ws }).decision;
  };
  const rules = (deny: string): string =>
    `  - id: shell\n    match: { scope: "shell.exec" }\n    decision: allow\n    reason: commands in general\n` +
    `  - id: no-ls\n    match: { scope: "${deny}" }\n    decision: deny\n    reason: not this one\n`;

  test("a name-based deny rule matches every spelling of the program", (t) => {
    const ws = tempDir(t);
    const bin = join(ws, "bin");
    mkdirSync(bin);
    symlinkSync("/usr/bin/ls", join(bin, "innocent"));
    const p = rules("shell.exec:ls");
    assert.equal(judgeWith(p, ws, { argv: ["env"] }), "allow", "control: another program is allowed");
    for (const spelling of ["ls", "/bin/ls", "/usr/bin/ls", "/usr/bin/../bin/ls", relative(ws, "/usr/bin/ls"), "bin/innocent", "./bin/innocent"]) {
      assert.equal(judgeWith(p, ws, { argv: [spelling, "-la"] }), "deny", spelling);
    }
    assert.equal(
      withPath(`${bin}:/usr/bin`, () => judgeWith(p, ws, { argv: ["innocent"] })),
      "deny",
      "a renamed link found on PATH",
    );
    // A spelling that names no program on PATH cannot be judged at all.
    assert.equal(judgeWith(p, ws, { argv: ["LS"] }), "deny (cannot be judged)");
  });

  test("allow by name covers the program found on PATH, never a path that happens to have that name", (t) => {
    const ws = tempDir(t);
    script(t, ws, "ls", "echo not really ls");
    const p = `  - id: ls-ok\n    match: { scope: "shell.exec:ls" }\n    decision: allow\n    reason: skill needs ls\n`;
    assert.equal(judgeWith(p, ws, { argv: ["ls"] }), "allow", "the bare name, found on the trusted PATH");
    assert.equal(judgeWith(p, ws, { argv: ["./ls"] }), "deny", "a workspace script called ls is judged by its path");
    assert.equal(judgeWith(p, ws, { argv: ["/usr/bin/ls"] }), "deny", "a path needs an allow for the path");
  });

  test("a path-based deny rule matches a bare name", (t) => {
    const ws = tempDir(t);
    const p = rules(`shell.exec:${LS}`);
    assert.equal(judgeWith(p, ws, { argv: ["env"] }), "allow");
    assert.equal(judgeWith(p, ws, { argv: ["ls"] }), "deny");
    assert.equal(judgeWith(p, ws, { argv: ["/usr/bin/../bin/ls"] }), "deny");
  });

  test("a path rule tells a workspace script called env from the real env", (t) => {
    const ws = tempDir(t);
    const fake = script(t, join(ws, "bin"), "env", "echo fake");
    const p = rules(`shell.exec:${ws}/**`);
    assert.equal(judgeWith(p, ws, { argv: ["env"] }), "allow");
    assert.equal(judgeWith(p, ws, { argv: [fake] }), "deny");
    assert.equal(judgeWith(p, ws, { argv: ["./bin/env"] }), "deny");
    assert.equal(
      withPath(`${join(ws, "bin")}:/usr/bin`, () => judgeWith(p, ws, { argv: ["env"] })),
      "deny",
      "the workspace script is first on PATH, and that is what would run",
    );
  });
});

describe("shell.exec run", () => {
  test("spawns the judged absolute path, not a fresh PATH lookup, with argv[0] as given", async (t) => {
    const ws = tempDir(t);
    const a = join(ws, "a");
    const b = join(ws, "b");
    const judgedProg = script(t, a, "prog", "echo judged");
    script(t, b, "prog", "echo other");
    const args = { argv: ["prog"] };
    const scopes = withPath(`${a}:/usr/bin:/bin`, () => judge(args, ws));
    assert.ok(scopes.some((s) => s.resource === judgedProg));
    const out = await withPath(`${b}:/usr/bin:/bin`, () => run(args, ws, scopes));
    assert.equal(out.text, "judged\n");
    assert.equal(out.exitCode, 0);

    const shArgs = { argv: ["sh", "-c", 'echo "$0"'] };
    const sh = await run(shArgs, ws, judge(shArgs, ws));
    assert.equal(sh.text, "sh\n", "argv[0] is the name the caller gave");
  });

  test("runs in the judged directory", async (t) => {
    const ws = tempDir(t);
    mkdirSync(join(ws, "sub"));
    const args = { argv: ["pwd"], cwd: "sub" };
    const out = await run(args, ws, judge(args, ws));
    assert.equal(out.text, `${join(ws, "sub")}\n`);
  });

  test("refuses when the executor's workspace is not the one the call was judged in", async (t) => {
    const ws = tempDir(t);
    const other = tempDir(t);
    const args = { argv: ["pwd"] };
    await assert.rejects(run(args, other, judge(args, ws)), /working directory changed since the decision/);
  });

  test("refuses when the cwd resolves elsewhere than when judged", async (t) => {
    const ws = tempDir(t);
    mkdirSync(join(ws, "here"));
    mkdirSync(join(ws, "there"));
    symlinkSync(join(ws, "here"), join(ws, "dir"));
    const args = { argv: ["pwd"], cwd: "dir" };
    const scopes = judge(args, ws);
    rmSync(join(ws, "dir"));
    symlinkSync(join(ws, "there"), join(ws, "dir"));
    await assert.rejects(run(args, ws, scopes), /working directory changed since the decision/);
  });

  test("attack: a judged mount swapped for a link while the call waited is refused, not mounted", async (t) => {
    const ws = tempDir(t);
    mkdirSync(join(ws, "data"));
    const elsewhere = tempDir(t);
    const args = { argv: ["ls"], mounts: [{ path: join(ws, "data") }] };
    const scopes = judge(args, ws);
    rmSync(join(ws, "data"), { recursive: true });
    symlinkSync(elsewhere, join(ws, "data"));
    await assert.rejects(run(args, ws, scopes), /changed since the decision/);
  });

  test("refuses when the judged program path became a symlink", async (t) => {
    const ws = tempDir(t);
    const prog = script(t, join(ws, "bin"), "prog", "echo judged");
    const args = { argv: [prog] };
    const scopes = judge(args, ws);
    rmSync(prog);
    symlinkSync("/usr/bin/env", prog);
    await assert.rejects(run(args, ws, scopes), /program changed since the decision/);
  });

  test("refuses without a judged program path, or with two", async (t) => {
    const ws = tempDir(t);
    const args = { argv: ["ls"] };
    const scopes = judge(args, ws);
    await assert.rejects(
      run(args, ws, scopes.filter((s) => s.resource?.startsWith("/") !== true)),
      /judged on/,
    );
    await assert.rejects(run(args, ws, [...scopes, parseScope(`shell.exec:${ENV}`)]), /one program path/);
  });
});
