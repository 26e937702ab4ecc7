import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { openAuditLog } from "../../src/audit/open.ts";
import { profilePaths } from "../../src/config/paths.ts";
import { MAIN, runCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/tmp.ts";


test("logs --follow prints entries another process appends, and stops on Ctrl-C", async (t) => {
  const dir = tempDir(t);
  const home = join(dir, "p");
  assert.equal((await runCli(["init", "--home", home, "--workspace", join(dir, "ws")])).code, 0);
  const child = spawn(process.execPath, [MAIN, "--home", home, "logs", "--follow", "--json", "--decision", "deny"], { stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => child.kill("SIGKILL"));
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  const waitFor = async (pred: () => boolean, what: string): Promise<void> => {
    for (let i = 0; i < 100 && !pred(); i += 1) await new Promise((r) => setTimeout(r, 100));
    assert.ok(pred(), `timed out waiting for ${what}; output so far: ${out}`);
  };
  // Give the follower time to print the (empty) backlog and start polling.
  await new Promise((r) => setTimeout(r, 1500));
  const log = await openAuditLog(profilePaths(home));
  await log.append({ kind: "decision", actor: "test", action: "files.read", resource: "files.read:/etc/shadow", decision: "deny", detail: { reason: "no rule" } });
  await log.append({ kind: "decision", actor: "test", action: "files.read", resource: "files.read:/ws/a", decision: "allow", detail: {} });
  await log.append({ kind: "decision", actor: "test", action: "email.send", resource: "email.send", decision: "deny", detail: {} });
  await log.close();
  await waitFor(() => out.trim().split("\n").filter((l) => l.startsWith("{")).length >= 2, "two followed deny entries");
  const rows = out.trim().split("\n").map((l) => JSON.parse(l) as { action: string; decision: string });
  assert.deepEqual(rows.map((r) => [r.action, r.decision]), [["files.read", "deny"], ["email.send", "deny"]]);
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  child.kill("SIGINT");
  assert.equal(await exited, 0);
});
