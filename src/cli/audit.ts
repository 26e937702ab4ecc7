/** `aegisclaw audit verify|proof|export` and `aegisclaw logs`: read and prove the audit trail. */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import type { Command } from "commander";
import { AegisError, EXIT } from "../errors.ts";
import { openProfile } from "../config/profile.ts";
import { profilePaths } from "../config/paths.ts";
import { keyIdOf, parsePublicKey, verifyCheckpointSignature } from "../audit/checkpoint.ts";
import { exportAuditLog, readExportFile } from "../audit/export.ts";
import { inclusionProof, verifyInclusion } from "../audit/merkle.ts";
import { openAuditLog, openAuditReader, trustedCheckpointKey } from "../audit/open.ts";
import { verifyAuditLog, type VerifyReport } from "../audit/verify.ts";
import type { AuditEntry } from "../audit/entry.ts";
import { entryLeaf } from "../audit/entry.ts";
import { parseDuration } from "../policy/constraints.ts";
import type { Cli } from "./program.ts";
import { decisionBadge, printable, printJson, println, style, table } from "./output.ts";

function printReport(r: VerifyReport, source: string, extraWarnings: readonly string[] = []): void {
  if (r.ok) {
    println(style.green(`✔ audit log intact: ${source}`));
    println(`  ${r.entries} entries, ${r.checkpoints} signed checkpoint(s)`);
    if (r.latestCheckpoint) println(`  latest checkpoint: size ${r.latestCheckpoint.treeSize}, root ${r.latestCheckpoint.rootHash.slice(0, 16)}…, key ${r.latestCheckpoint.keyId}, ${r.latestCheckpoint.ts}`);
  } else if (r.damage) {
    println(style.red(`✘ audit log DAMAGED at entry ${r.damage.seq}: ${r.damage.kind}`));
    println(`  ${r.damage.message}`);
    println("  Keep this file for investigation; entries before the damaged one are still verifiable.");
  }
  for (const w of [...extraWarnings, ...r.warnings]) println(style.yellow(`  note: ${w}`));
}

export function registerAudit(program: Command, cli: Cli): void {
  const audit = program.command("audit").description("verify, prove and export the tamper-evident audit log");

  audit
    .command("verify")
    .description("recompute the hash chain, Merkle tree and checkpoint signatures; exit 5 naming the first damaged entry")
    .option("--file <export>", "verify an exported JSONL file instead of the profile's log")
    .option("--pubkey <pem>", "trusted checkpoint public key file (default: the profile's)")
    .option("--key-id <id>", "for --file: trust the key inside the export only if its id is this one (as printed by audit verify where it was written)")
    .option("--json", "print the report as JSON")
    .action(
      cli.action(async (opts: { file?: string; pubkey?: string; keyId?: string; json?: boolean }, cmd: Command) => {
        let report: VerifyReport;
        const warnings: string[] = [];
        let source: string;
        if (opts.file) {
          const exp = await readExportFile(opts.file);
          // The key inside an export proves nothing by itself (whoever forged the file signed it): trust comes from
          // outside the file — a key file, a key id checked out of band, or this machine's own profile.
          let key;
          if (opts.pubkey) key = parsePublicKey(readTextFile(opts.pubkey, "the --pubkey file"), opts.pubkey);
          else if (opts.keyId) {
            key = parsePublicKey(exp.header.publicKey, `the key in ${opts.file}`);
            if (keyIdOf(key) !== opts.keyId.trim().toLowerCase()) {
              throw new AegisError("KEY_INVALID", `${opts.file} is signed by key ${keyIdOf(key)}, not the key ${opts.keyId} you trust: treat it as forged.`, { exitCode: EXIT.tampered });
            }
          } else if (existsSync(profilePaths(cli.home(cmd)).checkpointPub)) {
            key = trustedCheckpointKey(openProfile(cli.home(cmd)).paths);
            warnings.push(`checked against this profile's key (id ${keyIdOf(key)}); for an export from another machine pass --pubkey or --key-id`);
          } else {
            throw new AegisError("USAGE", `An export carries its own public key, which proves nothing on its own. Pass --pubkey FILE (the writer's keys/audit-checkpoint.pub) or --key-id ID (the key id its \`audit verify\` prints).`, { exitCode: EXIT.usage });
          }
          source = opts.file;
          report = await verifyAuditLog(exp.entries, exp.checkpoints, key);
          if (report.ok && report.unsealed > 0) {
            // `audit export` seals the log first, so every entry of an untouched export is covered by a checkpoint.
            report = { ...report, ok: false, damage: { kind: "truncated", seq: report.entries - report.unsealed + 1, message: `${report.unsealed} entries are not covered by any signed checkpoint; an export is sealed when written, so checkpoints were removed from this file` } };
          }
        } else {
          const profile = openProfile(cli.home(cmd));
          const key = trustedCheckpointKey(profile.paths);
          const store = openAuditReader(profile.paths);
          try {
            report = await verifyAuditLog(store.scan(), await store.checkpoints(), key);
          } finally {
            await store.close();
          }
          source = profile.paths.auditDb;
        }
        if (opts.json) printJson({ source, ...report, warnings: [...warnings, ...report.warnings] });
        else printReport(report, source, warnings);
        return report.ok ? EXIT.ok : EXIT.tampered;
      }),
    );

  audit
    .command("proof")
    .description("print an RFC 6962 inclusion proof that entry SEQ is in the latest signed checkpoint")
    .argument("<seq>", "sequence number of the entry")
    .option("--json", "print JSON (the default output is JSON too; --json only drops the summary line)")
    .action(
      cli.action(async (seqText: string, opts: { json?: boolean }, cmd: Command) => {
        const seq = Number(seqText);
        if (!Number.isSafeInteger(seq) || seq < 1) throw new AegisError("USAGE", `"${seqText}" is not a sequence number`, { exitCode: EXIT.usage });
        const profile = openProfile(cli.home(cmd));
        const store = openAuditReader(profile.paths);
        try {
          const checkpoint = (await store.checkpoints()).at(-1);
          if (!checkpoint) throw new AegisError("AUDIT_NOT_FOUND", "There is no signed checkpoint yet; one is written on clean shutdown and every N entries.");
          if (!verifyCheckpointSignature(checkpoint, trustedCheckpointKey(profile.paths))) {
            throw new AegisError("AUDIT_CORRUPT", `The latest checkpoint (size ${checkpoint.treeSize}) is not signed by this profile's key: no proof against it means anything. Run \`aegisclaw audit verify\`.`, { exitCode: EXIT.tampered });
          }
          if (seq > checkpoint.treeSize) throw new AegisError("AUDIT_NOT_FOUND", `Entry ${seq} is not covered by the latest checkpoint (size ${checkpoint.treeSize}) yet.`);
          const leaves: Buffer[] = [];
          let entry: AuditEntry | undefined;
          for await (const batch of store.scan(0)) {
            for (const e of batch) {
              if (e.seq > checkpoint.treeSize) break;
              leaves.push(entryLeaf(e));
              if (e.seq === seq) entry = e;
            }
          }
          if (!entry) throw new AegisError("AUDIT_NOT_FOUND", `Entry ${seq} does not exist.`);
          const proof = inclusionProof(seq - 1, leaves);
          const leaf = entryLeaf(entry);
          const valid = verifyInclusion(seq - 1, checkpoint.treeSize, leaf, proof, Buffer.from(checkpoint.rootHash, "hex"));
          printJson({ seq, entryHash: entry.hash, leafHash: leaf.toString("hex"), leafIndex: seq - 1, treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash, checkpoint, proof: proof.map((p) => p.toString("hex")), valid });
          if (!opts.json) process.stderr.write(valid ? `inclusion of entry ${seq} in the checkpoint of size ${checkpoint.treeSize}: verified\n` : "the proof does not verify: run aegisclaw audit verify\n");
          return valid ? EXIT.ok : EXIT.tampered;
        } finally {
          await store.close();
        }
      }),
    );

  audit
    .command("export")
    .description("write the log as JSONL with its checkpoints and public key, for offline verification (audit verify --file)")
    .option("--out <file>", "write to this file (atomically) instead of stdout")
    .action(
      cli.action(async (opts: { out?: string }, cmd: Command) => {
        const profile = openProfile(cli.home(cmd));
        const pubPem = readTextFile(profile.paths.checkpointPub, "the checkpoint public key");
        // Seal first: a checkpoint over every entry, so the export proves it is complete up to now.
        const log = await openAuditLog(profile.paths, { checkpointEvery: profile.config.audit.checkpoint_every });
        await log.close();
        const store = openAuditReader(profile.paths);
        const tmp = opts.out ? `${opts.out}.tmp-${process.pid}` : undefined;
        let fd = 1;
        if (tmp) {
          try {
            fd = openSync(tmp, "wx", 0o600);
          } catch (err) {
            await store.close();
            throw new AegisError("USAGE", `Cannot write ${opts.out ?? ""} (${(err as NodeJS.ErrnoException).code ?? String(err)}): check that its directory exists and is writable.`, { exitCode: EXIT.usage });
          }
        }
        let done = false;
        try {
          for await (const chunk of exportAuditLog(store, pubPem)) writeSync(fd, chunk);
          if (tmp) fsyncSync(fd);
          done = true;
        } finally {
          if (tmp) {
            closeSync(fd);
            // Atomic: the file appears complete or not at all.
            if (done && opts.out) renameSync(tmp, opts.out);
            else rmSync(tmp, { force: true });
          }
          await store.close();
        }
        if (opts.out) process.stderr.write(`exported to ${opts.out}\n`);
        return EXIT.ok;
      }),
    );

  program
    .command("logs")
    .description("show the audit trail: what was decided, approved and run")
    .option("--since <duration>", "only entries newer than this, e.g. 30m, 2h, 1d")
    .option("--decision <decision>", "only this decision: allow, deny, ask, approved, rejected, ok, error")
    .option("--limit <n>", "newest N entries", "50")
    .option("--follow", "keep printing new entries as they are written (Ctrl-C to stop)")
    .option("--json", "one JSON object per line")
    .action(
      cli.action(async (opts: { since?: string; decision?: string; limit: string; follow?: boolean; json?: boolean }, cmd: Command) => {
        const profile = openProfile(cli.home(cmd));
        const limit = Number(opts.limit);
        if (!Number.isSafeInteger(limit) || limit < 1) throw new AegisError("USAGE", "--limit needs a positive whole number", { exitCode: EXIT.usage });
        let sinceTs: string | undefined;
        if (opts.since) {
          const ms = parseDuration(opts.since);
          if (ms === undefined) throw new AegisError("USAGE", `--since ${opts.since}: use a duration like 30m, 2h, 1d`, { exitCode: EXIT.usage });
          sinceTs = new Date(Date.now() - ms).toISOString();
        }
        const store = openAuditReader(profile.paths);
        const print = (entries: readonly AuditEntry[], header: boolean): void => {
          if (opts.json) {
            for (const e of entries) println(JSON.stringify({ ...e, detail: parseDetail(e.detail) }));
            return;
          }
          const rows = entries.map((e) => [style.dim(String(e.seq)), printable(e.ts.replace("T", " ").slice(0, 19)), printable(e.kind), decisionBadge(printable(e.decision)), printable(e.action), printable(summarise(e))]);
          if (rows.length > 0) println(table(header ? [["SEQ", "TIME (UTC)", "KIND", "DECISION", "ACTION", "DETAIL"].map(style.bold), ...rows] : rows));
        };
        try {
          const filter = { ...(sinceTs !== undefined ? { sinceTs } : {}), ...(opts.decision !== undefined ? { decision: opts.decision } : {}) };
          const first = await store.query({ ...filter, limit });
          if (first.length === 0 && !opts.follow && !opts.json) println("No audit entries match.");
          print(first, true);
          if (!opts.follow) return EXIT.ok;
          let last = (await store.head())?.seq ?? 0;
          // Poll: the store is a file another process writes; stop on Ctrl-C.
          await new Promise<void>((resolve) => {
            const timer = setInterval(() => {
              store
                .query({ ...filter, afterSeq: last })
                .then((rows) => {
                  print(rows, false);
                  last = rows.at(-1)?.seq ?? last;
                })
                .catch((err: unknown) => {
                  // A locked or busy database is transient while another process writes: say so and keep following.
                  process.stderr.write(`aegisclaw logs: ${err instanceof Error ? err.message : String(err)}\n`);
                });
            }, 500);
            process.once("SIGINT", () => {
              clearInterval(timer);
              resolve();
            });
          });
          return EXIT.ok;
        } finally {
          await store.close();
        }
      }),
    );
}

function readTextFile(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new AegisError("USAGE", `Cannot read ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)}).`, { exitCode: EXIT.usage });
  }
}

/** The stored detail as JSON, or the raw text when it is not JSON (a damaged row is shown, not fatal). */
function parseDetail(detail: string): unknown {
  try {
    return JSON.parse(detail) as unknown;
  } catch {
    return detail;
  }
}

function summarise(e: AuditEntry): string {
  try {
    const d = JSON.parse(e.detail) as Record<string, unknown>;
    const parts: string[] = [];
    if (e.resource) parts.push(e.resource.length > 60 ? `${e.resource.slice(0, 57)}…` : e.resource);
    if (typeof d.reason === "string" && e.kind === "decision") parts.push(d.reason.length > 80 ? `${d.reason.slice(0, 77)}…` : d.reason);
    if (typeof d.channel === "string") parts.push(`via ${d.channel}`);
    if (typeof d.error === "string") parts.push(d.error.slice(0, 80));
    if (Array.isArray(d.labels) && d.labels.length > 0) parts.push(`[${(d.labels as string[]).join(",")}]`);
    return parts.join("  ");
  } catch {
    return "";
  }
}
