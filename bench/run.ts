/**
 * `npm run bench`: the figures from DESIGN.md §5, each beside a baseline
 * measured in the same run on the same machine, so the ratio means something
 * whatever the hardware. Prints a table; `--json` prints the raw numbers.
 */
import { spawn } from "node:child_process";
import { createCipheriv, createDecipheriv, hash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { z } from "zod";
import { AuditLog } from "../src/audit/log.ts";
import { createCheckpointSigner, generateCheckpointKey, parsePublicKey } from "../src/audit/checkpoint.ts";
import { SqliteAuditStore } from "../src/audit/sqlite-store.ts";
import { verifyAuditLog } from "../src/audit/verify.ts";
import type { AuditEntry, AuditInput } from "../src/audit/entry.ts";
import { Envelope } from "../src/envelope/envelope.ts";
import { LocalExecutor, hostProcessRunner } from "../src/envelope/local-executor.ts";
import { NO_SECRETS, NoApprover, NoSecretBroker, type AuditSink } from "../src/envelope/stages.ts";
import { defineTool } from "../src/envelope/tool.ts";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import { KnownSecretRedactor, OutputRedactor } from "../src/guard/redact.ts";
import { BubblewrapBackend } from "../src/sandbox/bubblewrap.ts";
import { GVisorBackend } from "../src/sandbox/gvisor.ts";
import { egressBench, type EgressBenchRow as BenchRow } from "./egress.ts";
import { agentTurnBench } from "./agent.ts";
import { ALL_DETECTORS } from "../src/guard/detectors/index.ts";
import { decryptSopsFile, encryptSopsFile } from "../src/secrets/sops/index.ts";
import { ALNUM, Rng, mixedText } from "../test/guard/detectors/corpus.ts";
import { parsePolicy } from "../src/policy/load.ts";
import { parseScope } from "../src/policy/scope.ts";
import type { PolicyRequest } from "../src/policy/engine.ts";

// One row shape for every benchmark (defined with the egress rows, which bench/egress.ts also prints alone).
const rows: BenchRow[] = [];
const raw: Record<string, number> = {};

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function timeEach(n: number, fn: () => void): number[] {
  const out: number[] = new Array<number>(n);
  for (let i = 0; i < n; i += 1) {
    const t0 = process.hrtime.bigint();
    fn();
    out[i] = Number(process.hrtime.bigint() - t0) / 1000; // µs
  }
  return out;
}

async function timeEachAsync(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = new Array<number>(n);
  for (let i = 0; i < n; i += 1) {
    const t0 = process.hrtime.bigint();
    await fn();
    out[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return out;
}

const fmtUs = (us: number): string => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`);
const fmtRate = (r: number): string => `${Math.round(r).toLocaleString("en-US")}/s`;

// --- 1. Policy decision with 1,000 rules ------------------------------------------------
function policyBench(): void {
  const families = ["email", "calendar", "files", "net", "messages", "payments", "notes", "contacts", "drive", "tasks"];
  const verbs = ["read", "write", "send", "delete", "list"];
  let text = "version: 1\nrules:\n";
  for (let i = 0; i < 1000; i += 1) {
    const fam = families[i % families.length] ?? "x";
    const verb = verbs[Math.floor(i / families.length) % verbs.length] ?? "y";
    const decision = i % 7 === 0 ? "deny" : i % 5 === 0 ? "ask" : "allow";
    let scope = `${fam}.${verb}`;
    if (fam === "files") scope += `:/srv/data/d${i}/**`;
    if (fam === "net") scope += `:api${i}.example.com`;
    const when = i % 50 === 0 ? "\n    when: { tainted: true }" : "";
    const skill = i % 11 === 0 ? `, skill: "skill-${i}"` : "";
    text += `  - id: r${i}\n    match: { scope: "${scope}"${skill} }${when}\n    decision: ${decision}\n    reason: generated rule ${i}\n`;
  }
  const policy = parsePolicy(text);
  const requests: PolicyRequest[] = [
    { tool: "files.read", scopes: [parseScope("files.read:/srv/data/d502/report.txt", { resolveSymlinks: false })], args: {}, labels: [] },
    { tool: "email.send", scopes: [parseScope("email.send")], args: {}, labels: ["untrusted:email"] },
    { tool: "net.fetch", scopes: [parseScope("net.read:api31.example.com")], args: {}, labels: [] },
    { tool: "x", scopes: [parseScope("unknown.thing")], args: {}, labels: [] },
  ];
  const pick = (i: number): PolicyRequest => requests[i % requests.length] as PolicyRequest;
  for (let i = 0; i < 4000; i += 1) policy.decide(pick(i)); // warm-up
  let k = 0;
  const samples = timeEach(40_000, () => {
    policy.decide(pick(k++));
  });
  // Baseline: one compiled RegExp test per call, the unit of work a naive engine does per rule.
  const re = /^files\.read:\/srv\/data\/d502(?:\/.*)?$/;
  const base = timeEach(20_000, () => {
    re.test("files.read:/srv/data/d502/report.txt");
  });
  const p50 = percentile(samples, 50);
  const p99 = percentile(samples, 99);
  raw.policy_p50_us = p50;
  raw.policy_p99_us = p99;
  rows.push({ what: "policy decision, 1,000 rules, p50", value: fmtUs(p50), baseline: `1 regex test ${fmtUs(percentile(base, 50))}`, ratio: `${(p50 / Math.max(percentile(base, 50), 0.01)).toFixed(0)}×`, goal: "-", met: true });
  rows.push({ what: "policy decision, 1,000 rules, p99", value: fmtUs(p99), baseline: `1 regex test ${fmtUs(percentile(base, 99))}`, ratio: `${(p99 / Math.max(percentile(base, 99), 0.01)).toFixed(0)}×`, goal: "≤ 20 µs", met: p99 <= 20 });
}

// --- 2. Envelope overhead per call (no sandbox) ------------------------------------------
async function envelopeBench(dir: string): Promise<void> {
  const noop = defineTool({
    name: "bench.noop",
    description: "does nothing",
    risk: "low",
    args: z.object({ n: z.number() }).strict(),
    spawnsProcess: false,
    scopes: () => ["bench.noop"],
    run: () => Promise.resolve({ text: "ok" }),
  });
  const policy = parsePolicy("version: 1\nrules:\n  - match: { scope: bench.noop }\n    decision: allow\n    reason: bench\n");
  const memoryAudit: AuditSink = { append: (input: AuditInput) => Promise.resolve({ seq: 0, ts: "", kind: input.kind, actor: "", action: "", resource: "", decision: "", detail: "", prevHash: "", hash: "" } satisfies AuditEntry) };
  const make = (audit: AuditSink): Envelope => {
    const env = new Envelope({ policy, audit, approver: new NoApprover(), broker: new NoSecretBroker(), executor: new LocalExecutor({ workspace: dir, dataDir: dir }), redactor: new KnownSecretRedactor(), workspace: dir });
    env.register(noop);
    return env;
  };
  const pure = make(memoryAudit);
  for (let i = 0; i < 2000; i += 1) await pure.submit({ tool: "bench.noop", args: { n: i }, session: "b", actor: "bench" });
  const samples = await timeEachAsync(10_000, () => pure.submit({ tool: "bench.noop", args: { n: 1 }, session: "b", actor: "bench" }));
  const direct = await timeEachAsync(10_000, () => noop.run({ n: 1 }, { workspace: dir, dataDir: dir, scopes: [], secrets: NO_SECRETS, signal: new AbortController().signal, runProcess: hostProcessRunner }));
  const p99 = percentile(samples, 99);
  raw.envelope_p99_us = p99;
  rows.push({ what: "envelope overhead/call, p99 (audit in memory)", value: fmtUs(p99), baseline: `direct tool call ${fmtUs(percentile(direct, 99))}`, ratio: `+${fmtUs(p99 - percentile(direct, 99))}`, goal: "≤ 1 ms", met: p99 <= 1000 });

  const store = new SqliteAuditStore(join(dir, "env-audit.db"));
  const log = await AuditLog.open(store, createCheckpointSigner(generateCheckpointKey().privateKeyPem));
  const durable = make(log);
  const dsamples = await timeEachAsync(1000, () => durable.submit({ tool: "bench.noop", args: { n: 1 }, session: "b", actor: "bench" }));
  await log.close();
  raw.envelope_durable_p50_us = percentile(dsamples, 50);
  raw.envelope_durable_p99_us = percentile(dsamples, 99);
  rows.push({ what: "whole call with 2 durable audit writes, p50/p99", value: `${fmtUs(percentile(dsamples, 50))} / ${fmtUs(percentile(dsamples, 99))}`, baseline: "(two fsyncs; see below)", ratio: "-", goal: "-", met: true });
}

// --- 3/4. Audit append: group commit throughput and single durable append ---------------
function bareInsertBaseline(path: string, rowsPerTx: number, total: number): number {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (seq INTEGER PRIMARY KEY, a TEXT, b TEXT, c TEXT)");
  const ins = db.prepare("INSERT INTO t (a, b, c) VALUES (?, ?, ?)");
  const t0 = performance.now();
  for (let done = 0; done < total; done += rowsPerTx) {
    db.exec("BEGIN");
    for (let i = 0; i < rowsPerTx; i += 1) ins.run("decision", "files.read", '{"id":"x","reason":"bench"}');
    db.exec("COMMIT");
  }
  const ms = performance.now() - t0;
  db.close();
  return (total / ms) * 1000;
}

async function auditBench(dir: string): Promise<void> {
  const signer = createCheckpointSigner(generateCheckpointKey().privateKeyPem);
  const input: AuditInput = { kind: "decision", actor: "session:bench", action: "files.read", resource: "files.read:/home/u/docs/a.txt", decision: "allow", detail: { id: "0190f3d2-7c4e-7b1a-9f00-aaaaaaaaaaaa", reason: "The agent may read files inside its workspace.", rule: "files-read-workspace" } };

  // Group commit: many appends in flight, as when several sessions act at once.
  const store = new SqliteAuditStore(join(dir, "group.db"));
  const log = await AuditLog.open(store, signer, { checkpointEvery: 10_000 });
  const total = 60_000;
  const inFlight = 256;
  const t0 = performance.now();
  let issued = 0;
  const worker = async (): Promise<void> => {
    while (issued < total) {
      issued += 1;
      await log.append(input);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const groupRate = (total / (performance.now() - t0)) * 1000;
  await log.close();
  const bareBatched = bareInsertBaseline(join(dir, "bare1.db"), 256, total);
  raw.audit_group_per_s = groupRate;
  raw.bare_insert_batched_per_s = bareBatched;
  rows.push({ what: `audit append, group commit (${inFlight} in flight)`, value: fmtRate(groupRate), baseline: `bare SQLite insert, 256/tx ${fmtRate(bareBatched)}`, ratio: `${((groupRate / bareBatched) * 100).toFixed(0)} %`, goal: "≥ 20,000/s", met: groupRate >= 20_000 });

  // Single durable append: one at a time, each waits for its own commit.
  const store2 = new SqliteAuditStore(join(dir, "single.db"));
  const log2 = await AuditLog.open(store2, signer, { checkpointEvery: 100_000 });
  const samples = await timeEachAsync(2000, () => log2.append(input));
  await log2.close();
  const db = new DatabaseSync(join(dir, "bare2.db"));
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (seq INTEGER PRIMARY KEY, a TEXT)");
  const ins = db.prepare("INSERT INTO t (a) VALUES (?)");
  const base = timeEach(2000, () => {
    ins.run("x");
  });
  db.close();
  const p99 = percentile(samples, 99);
  raw.audit_single_p99_us = p99;
  raw.bare_commit_p99_us = percentile(base, 99);
  rows.push({ what: "single durable audit append, p50/p99", value: `${fmtUs(percentile(samples, 50))} / ${fmtUs(p99)}`, baseline: `bare autocommit insert ${fmtUs(percentile(base, 50))} / ${fmtUs(percentile(base, 99))}`, ratio: `${(p99 / Math.max(percentile(base, 99), 0.01)).toFixed(2)}×`, goal: "p99 ≤ 2 ms", met: p99 <= 2000 });
}

// --- 5. Verify rate -------------------------------------------------------------------------
async function verifyBench(dir: string): Promise<void> {
  const key = generateCheckpointKey();
  const signer = createCheckpointSigner(key.privateKeyPem);
  const path = join(dir, "verify.db");
  const store = new SqliteAuditStore(path);
  const log = await AuditLog.open(store, signer, { checkpointEvery: 50_000 });
  const n = 200_000;
  const input: AuditInput = { kind: "outcome", actor: "session:bench", action: "email.send", resource: "email.send", decision: "ok", detail: { id: "0190f3d2-7c4e-7b1a-9f00-aaaaaaaaaaaa", outputSha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", outputBytes: 120 } };
  for (let done = 0; done < n; done += 5000) await Promise.all(Array.from({ length: 5000 }, () => log.append(input)));
  await log.close();

  const reader = new SqliteAuditStore(path, { readOnly: true });
  const checkpoints = await reader.checkpoints();
  const t0 = performance.now();
  const report = await verifyAuditLog(reader.scan(), checkpoints, parsePublicKey(key.publicKeyPem));
  const ms = performance.now() - t0;
  if (!report.ok) throw new Error("bench log did not verify");
  const rate = (n / ms) * 1000;
  // Baselines: reading the rows alone, and SHA-256 of a typical encoded entry alone.
  const t1 = performance.now();
  let count = 0;
  for await (const batch of reader.scan()) count += batch.length;
  const scanRate = (count / (performance.now() - t1)) * 1000;
  await reader.close();
  const sample = Buffer.alloc(320, 7);
  const t2 = performance.now();
  for (let i = 0; i < n; i += 1) hash("sha256", sample, "hex");
  const shaRate = (n / (performance.now() - t2)) * 1000;
  // Where the time goes: the same verification over entries already in memory (no SQLite).
  const inMemory: AuditEntry[][] = [];
  const reader2 = new SqliteAuditStore(path, { readOnly: true });
  for await (const batch of reader2.scan()) inMemory.push(batch);
  await reader2.close();
  const t3 = performance.now();
  await verifyAuditLog(inMemory, checkpoints, parsePublicKey(key.publicKeyPem));
  const memRate = (n / (performance.now() - t3)) * 1000;
  raw.verify_in_memory_per_s = memRate;
  raw.verify_per_s = rate;
  raw.scan_per_s = scanRate;
  raw.sha256_per_s = shaRate;
  rows.push({ what: `audit verify (${n.toLocaleString("en-US")} entries, SQLite)`, value: fmtRate(rate), baseline: `row scan alone ${fmtRate(scanRate)}; SHA-256 alone ${fmtRate(shaRate)}`, ratio: `${((rate / scanRate) * 100).toFixed(0)} % of scan`, goal: "≥ 500,000/s", met: rate >= 500_000 });
  rows.push({ what: "  of which: verify, entries already in memory", value: fmtRate(memRate), baseline: `2 SHA-256/entry alone ${fmtRate(shaRate / 2)}`, ratio: `${((memRate / (shaRate / 2)) * 100).toFixed(0)} %`, goal: "-", met: true });
}

// --- 5. Redaction: 10 MB of mixed text, 1,000 known secrets, every detector -----------------
function redactionBench(): void {
  const { text } = mixedText(10e6);
  const mb = text.length / 1e6;
  const rng = new Rng(9);
  const known = Array.from({ length: 1000 }, () => rng.str(ALNUM, rng.int(16, 40)));
  // Plant a hundred of them, in assorted encodings, so the benchmark also pays for replacements.
  const planted = text.slice(0, 5e6) + known.slice(0, 100).map((k, i) => (i % 3 === 0 ? k : i % 3 === 1 ? Buffer.from(k).toString("base64") : encodeURIComponent(k))).join(" ") + text.slice(5e6);
  const redactor = new OutputRedactor({ detectors: ALL_DETECTORS });
  redactor.redact("warm-up", known);
  let salt = 0;
  // A fresh string each run, so no cache keyed on the text is measured; made flat (as tool output decoded from a
  // Buffer is) outside the timed region, so V8 flattening a concatenation is not measured either.
  const fresh = (): string => Buffer.from(`${planted}${String(salt++)}`, "utf8").toString("utf8");
  const best = (fn: (input: string) => unknown): number => {
    let min = Infinity;
    for (let i = 0; i < 5; i += 1) {
      const input = fresh();
      const t0 = performance.now();
      fn(input);
      min = Math.min(min, performance.now() - t0);
    }
    return min;
  };
  let replaced = 0;
  const all = best((input) => (replaced = redactor.redact(input, known).count));
  const knownOnly = new OutputRedactor();
  const knownMs = best((input) => knownOnly.redact(input, known));
  const floor = best((input) => input.indexOf("\u0000absent\u0000"));
  const rate = mb / (all / 1000);
  raw.redaction_mb_s = rate;
  raw.redaction_known_only_mb_s = mb / (knownMs / 1000);
  rows.push({ what: `redaction, ${mb.toFixed(0)} MB, 1,000 secrets + all ${ALL_DETECTORS.length} detectors (${String(replaced)} spans)`, value: `${rate.toFixed(1)} MB/s`, baseline: `one indexOf pass ${(mb / (floor / 1000)).toFixed(0)} MB/s`, ratio: `${(all / floor).toFixed(0)}× indexOf`, goal: "≥ 50 MB/s", met: rate >= 50 });
  rows.push({ what: "  of which: known secrets only (all encodings)", value: `${(mb / (knownMs / 1000)).toFixed(1)} MB/s`, baseline: "-", ratio: "-", goal: "-", met: true });
}

// --- 6. SOPS: decrypt and verify a 500-key file -------------------------------------------
async function sopsBench(): Promise<void> {
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const plain: Record<string, string> = {};
  const rng = new Rng(3);
  for (let i = 0; i < 500; i += 1) plain[`SECRET_${String(i)}`] = rng.str(ALNUM, 40);
  const text = await encryptSopsFile(plain, "yaml", { recipients: [recipient] });
  const samples: number[] = [];
  for (let i = 0; i < 12; i += 1) {
    const t0 = performance.now();
    await decryptSopsFile(text, "yaml", { ageIdentities: [identity] });
    samples.push(performance.now() - t0);
  }
  // Baseline: the AES-256-GCM work alone, 500 values, no parsing, no age, no MAC.
  const key = randomBytes(32);
  const values = Object.values(plain).map((v) => {
    const iv = randomBytes(32);
    const c = createCipheriv("aes-256-gcm", key, iv);
    const ct = Buffer.concat([c.update(v), c.final()]);
    return { iv, ct, tag: c.getAuthTag() };
  });
  const base: number[] = [];
  for (let i = 0; i < 12; i += 1) {
    const t0 = performance.now();
    for (const v of values) {
      const d = createDecipheriv("aes-256-gcm", key, v.iv);
      d.setAuthTag(v.tag);
      Buffer.concat([d.update(v.ct), d.final()]);
    }
    base.push(performance.now() - t0);
  }
  const p50 = percentile(samples, 50);
  raw.sops_decrypt_500_ms = p50;
  rows.push({ what: "SOPS decrypt + MAC verify, 500 keys (age X25519), p50", value: `${p50.toFixed(1)} ms`, baseline: `AES-GCM of 500 values alone ${percentile(base, 50).toFixed(2)} ms`, ratio: `${(p50 / Math.max(percentile(base, 50), 0.001)).toFixed(0)}×`, goal: "-", met: true });
}

// --- 7b. gVisor start: /bin/true under runsc vs a bare spawn (DESIGN.md has no goal for it; the figure is for choosing)
async function gvisorBench(): Promise<void> {
  const backend = new GVisorBackend();
  const caps = await backend.detect();
  if (!caps.available) {
    rows.push({ what: "gVisor start-to-exit of /bin/true", value: "skipped", baseline: caps.notes.join("; "), ratio: "-", goal: "-", met: true });
    return;
  }
  const spec = { argv: ["/bin/true"], cwd: "/", env: {}, mounts: [], network: { mode: "none" as const }, limits: { timeoutMs: 20_000, outputBytes: 65_536, memoryMb: 256, pids: 64 } };
  const bare = await timeEachAsync(10, () => new Promise<void>((resolve) => spawn("/bin/true").on("close", () => { resolve(); })));
  const boxed = await timeEachAsync(10, () => backend.run(spec));
  raw.gvisor_start_p50_ms = percentile(boxed, 50) / 1000;
  rows.push({ what: "gVisor (runsc, ptrace) start-to-exit of /bin/true, p50", value: fmtUs(percentile(boxed, 50)), baseline: `bare spawn ${fmtUs(percentile(bare, 50))}`, ratio: `+${((percentile(boxed, 50) - percentile(bare, 50)) / 1000).toFixed(0)} ms`, goal: "-", met: true });
}

// --- 7. Sandbox start: bubblewrap /bin/true vs a bare spawn of it --------------------------
async function sandboxBench(dir: string): Promise<void> {
  await gvisorBench();
  const backend = new BubblewrapBackend();
  const caps = await backend.detect();
  if (!caps.available) {
    rows.push({ what: "bubblewrap start-to-exit of /bin/true", value: "skipped", baseline: caps.notes.join("; "), ratio: "-", goal: "≤ +25 ms", met: false });
    return;
  }
  const spawnTrue = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const c = spawn("/bin/true", [], { stdio: "ignore" });
      c.on("error", reject);
      c.on("close", () => {
        resolve();
      });
    });
  const spec = { argv: ["/bin/true"], cwd: dir, env: {}, mounts: [{ host: dir, target: dir, mode: "ro" as const }], network: { mode: "none" as const }, limits: { timeoutMs: 10_000, outputBytes: 65_536, memoryMb: 256, pids: 64 } };
  for (let i = 0; i < 5; i += 1) {
    await spawnTrue();
    await backend.run(spec);
  }
  const bare = await timeEachAsync(40, spawnTrue);
  const boxed = await timeEachAsync(40, () => backend.run(spec));
  const extra = (percentile(boxed, 50) - percentile(bare, 50)) / 1000;
  raw.bwrap_start_p50_ms = percentile(boxed, 50) / 1000;
  raw.bare_spawn_p50_ms = percentile(bare, 50) / 1000;
  rows.push({
    what: "bubblewrap start-to-exit of /bin/true, p50 (cgroup, seccomp, limits)",
    value: fmtUs(percentile(boxed, 50)),
    baseline: `bare spawn ${fmtUs(percentile(bare, 50))}`,
    ratio: `+${extra.toFixed(1)} ms`,
    goal: "≤ +25 ms",
    met: extra <= 25,
  });
}

const dir = mkdtempSync(join(tmpdir(), "aegisclaw-bench-"));
try {
  // CPU-bound measurements first: the sandbox and egress runs leave processes and sockets winding down.
  policyBench();
  redactionBench();
  await sopsBench();
  await sandboxBench(dir);
  rows.push(...(await egressBench()));
  await envelopeBench(dir);
  await auditBench(dir);
  await verifyBench(dir);
  const agent = await agentTurnBench(dir);
  rows.push(...agent.rows);
  Object.assign(raw, agent.raw);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (process.argv.includes("--json")) {
  process.stdout.write(`${JSON.stringify({ node: process.versions.node, raw, rows }, null, 2)}\n`);
} else {
  const table = [["what", "value", "baseline (same run)", "ratio", "goal", ""], ...rows.map((r) => [r.what, r.value, r.baseline, r.ratio, r.goal, r.goal === "-" ? "" : r.met ? "met" : "MISSED"])];
  const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => (row[i] ?? "").length))) ?? [];
  for (const row of table) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")}\n`);
  process.stdout.write(`\nNode ${process.versions.node}, ${new Date().toISOString()}\n`);
}
