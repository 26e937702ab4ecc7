/**
 * Crash safety: a writer killed with SIGKILL in the middle of a burst of appends loses no entry it acknowledged,
 * and leaves a log that verifies (entries after the last checkpoint are unsealed, which is a warning, not damage).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { AuditLog } from "../../src/audit/log.ts";
import { SqliteAuditStore } from "../../src/audit/sqlite-store.ts";
import { tempDir } from "../helpers/tmp.ts";
import { input, makeKey, readAll, verifyStore } from "./helpers.ts";

const APPENDER = new URL("./fixtures/appender.ts", import.meta.url).pathname;

interface Acked {
  readonly id: number;
  readonly hash: string;
}

/** Starts the appender, lets it acknowledge at least `killAfter` entries, then SIGKILLs it mid-burst. */
function runAndKill(args: readonly string[], killAfter: number): Promise<{ acked: Map<number, Acked>; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [APPENDER, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const acked = new Map<number, Acked>();
    let buffered = "";
    let stderr = "";
    let killed = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the appender acknowledged only ${acked.size} entries in 20 s; stderr: ${stderr}`));
    }, 20_000);
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        const [seq, id, hash] = line.split(" ");
        if (id === undefined || hash === undefined) continue; // "ready"
        acked.set(Number(seq), { id: Number(id), hash });
      }
      if (!killed && acked.size >= killAfter) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    child.on("error", reject);
    child.on("close", (_code, signal) => {
      clearTimeout(timer);
      // A partial last line was never fully acknowledged to us; only whole lines count.
      resolve({ acked, signal });
    });
  });
}

test("kill -9 during a burst of appends loses no acknowledged entry and leaves a verifiable log", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, "audit.db");
  const key = makeKey();
  const keyFile = join(dir, "checkpoint.key");
  writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });

  const allAcked = new Map<number, Acked>();
  const rounds = 3;
  let sawUnsealed = false;
  for (let round = 0; round < rounds; round++) {
    const killAfter = 300 + round * 97;
    const { acked, signal } = await runAndKill([path, keyFile, String(round * 100_000), "0", "150"], killAfter);
    assert.equal(signal, "SIGKILL", "the writer was killed, not finished");
    assert.ok(acked.size >= killAfter, `round ${round}: ${acked.size} acknowledged`);
    for (const [seq, a] of acked) {
      assert.ok(!allAcked.has(seq), `seq ${seq} acknowledged in two rounds`);
      allAcked.set(seq, a);
    }

    // Reopen read-only, as `aegisclaw audit verify` does right after the crash.
    const reader = new SqliteAuditStore(path, { readOnly: true });
    try {
      const entries = await readAll(reader);
      const bySeq = new Map(entries.map((e) => [e.seq, e]));
      for (const [seq, a] of allAcked) {
        const e = bySeq.get(seq);
        assert.ok(e, `round ${round}: acknowledged entry ${seq} survived the crash`);
        assert.equal(e.hash, a.hash);
        assert.equal(e.detail, JSON.stringify(input(a.id).detail));
      }
      // Entries committed but not yet acknowledged when the kill landed may be there too; nothing else.
      assert.ok(entries.length >= allAcked.size);
      assert.ok(entries.length - allAcked.size <= 64 * 2, `${entries.length - allAcked.size} unacknowledged entries`);
      const { report } = await verifyStore(reader, key.publicKey);
      assert.equal(report.ok, true, `round ${round}: ${report.damage?.message ?? ""}`);
      assert.equal(report.entries, entries.length);
      if (report.unsealed > 0) {
        sawUnsealed = true;
        assert.ok(report.warnings.some((w) => w.includes("not yet covered by a signed checkpoint")), report.warnings.join("; "));
      }
    } finally {
      await reader.close();
    }
  }
  assert.ok(sawUnsealed, "at least one kill left unsealed entries after the last checkpoint (checkpoints every 150)");

  // The next clean run continues the chain and seals everything.
  const log = await AuditLog.open(new SqliteAuditStore(path), key.signer);
  const next = await log.append(input(999_999));
  await log.close();
  const reader = new SqliteAuditStore(path, { readOnly: true });
  t.after(() => reader.close());
  const { report } = await verifyStore(reader, key.publicKey);
  assert.equal(report.ok, true, report.damage?.message);
  assert.equal(report.unsealed, 0);
  assert.equal(report.entries, next.seq);
  assert.deepEqual(report.warnings, []);
});
