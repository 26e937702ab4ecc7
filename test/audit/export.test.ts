/**
 * The JSONL export: written as `aegisclaw audit export` writes it (header, entries, checkpoints), read back with
 * readExportFile and verified offline. Edits are detected; a damaged or truncated file is a clear AegisError.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { KeyObject } from "node:crypto";

import { keyIdOf, parsePublicKey, type Checkpoint } from "../../src/audit/checkpoint.ts";
import { computeEntryHash, type AuditEntry, entryLeaf } from "../../src/audit/entry.ts";
import { checkpointLine, endLine, exportAuditLog, readExportFile } from "../../src/audit/export.ts";
import { AuditLog } from "../../src/audit/log.ts";
import { merkleRoot } from "../../src/audit/merkle.ts";
import { SqliteAuditStore } from "../../src/audit/sqlite-store.ts";
import { verifyAuditLog, type VerifyReport } from "../../src/audit/verify.ts";
import { isAegis } from "../helpers/errors.ts";
import { tempDir } from "../helpers/tmp.ts";
import { input, makeKey, type TestKey } from "./helpers.ts";

/** Writes an export of the store with the same function `aegisclaw audit export` uses. */
async function writeExport(store: SqliteAuditStore, publicKeyPem: string, out: string): Promise<void> {
  let text = "";
  for await (const chunk of exportAuditLog(store, publicKeyPem)) text += chunk;
  writeFileSync(out, text, { mode: 0o600 });
}

interface Exported {
  readonly dir: string;
  readonly file: string;
  readonly key: TestKey;
  readonly lines: string[];
}

async function exported(t: TestContext, count = 130): Promise<Exported> {
  const dir = tempDir(t);
  const key = makeKey();
  const path = join(dir, "audit.db");
  const log = await AuditLog.open(new SqliteAuditStore(path), key.signer, { checkpointEvery: 50 });
  // Small logs one append at a time (checkpoints land exactly every 50); big ones in bursts, for speed.
  if (count <= 1000) for (let i = 0; i < count; i++) await log.append(input(i));
  else for (let i = 0; i < count; i += 500) await Promise.all(Array.from({ length: Math.min(500, count - i) }, (_, k) => log.append(input(i + k))));
  await log.close();
  const store = new SqliteAuditStore(path, { readOnly: true });
  const file = join(dir, "export.jsonl");
  try {
    await writeExport(store, key.publicKeyPem, file);
  } finally {
    await store.close();
  }
  return { dir, file, key, lines: readFileSync(file, "utf8").split("\n") };
}

async function verifyFile(file: string, key?: KeyObject): Promise<VerifyReport> {
  const exp = await readExportFile(file);
  return verifyAuditLog(exp.entries, exp.checkpoints, key ?? parsePublicKey(exp.header.publicKey));
}


/** Line index of entry `seq` (line 0 is the header). */
const entryAt = (seq: number): number => seq;

/** An editor who knows the format: drops the end record and writes one that matches what is left. */
function withEnd(lines: readonly (string | undefined)[]): string {
  const kept = lines.filter((l): l is string => l !== undefined && l !== "" && !l.startsWith('{"type":"end"'));
  const count = (type: string): number => kept.filter((l) => l.startsWith(`{"type":"${type}"`)).length;
  return `${[...kept, endLine(count("entry"), count("checkpoint"))].join("\n")}\n`;
}

test("an export reads back and verifies offline, against the key inside it and against the trusted key", async (t) => {
  const { file, key, lines } = await exported(t);
  assert.equal(lines.at(-1), "", "the file ends with a newline");
  const exp = await readExportFile(file);
  assert.equal(exp.header.type, "aegisclaw-audit-export");
  assert.equal(exp.header.version, 1);
  assert.match(lines.at(-2) ?? "", /^\{"type":"end","entries":130,"checkpoints":3\}$/);
  assert.equal(exp.header.keyId, keyIdOf(key.publicKey));
  assert.equal(exp.header.publicKey, key.publicKeyPem);
  const entries = exp.entries.flat();
  assert.equal(entries.length, 130);
  assert.deepEqual(entries.map((e) => e.seq), Array.from({ length: 130 }, (_, i) => i + 1));
  for (const e of entries) assert.equal(e.hash, computeEntryHash(e));
  assert.deepEqual(exp.checkpoints.map((c) => c.treeSize), [50, 100, 130]);
  assert.equal(exp.checkpoints.at(-1)?.rootHash, merkleRoot(entries.map((e) => entryLeaf(e))).toString("hex"));

  for (const report of [await verifyFile(file), await verifyFile(file, key.publicKey)]) {
    assert.equal(report.ok, true, report.damage?.message);
    assert.equal(report.entries, 130);
    assert.equal(report.checkpoints, 3);
    assert.equal(report.unsealed, 0);
    assert.deepEqual(report.warnings, []);
  }
});

test("an export larger than one read batch keeps every entry in order", async (t) => {
  const { file } = await exported(t, 4200);
  const exp = await readExportFile(file);
  assert.ok(exp.entries.length >= 2, "entries come in more than one batch");
  const seqs = exp.entries.flat().map((e) => e.seq);
  assert.equal(seqs.length, 4200);
  assert.ok(seqs.every((s, i) => s === i + 1));
  const report = await verifyAuditLog(exp.entries, exp.checkpoints, parsePublicKey(exp.header.publicKey));
  assert.equal(report.ok, true, report.damage?.message);
});

test("edited exports are detected", async (t) => {
  const { dir, key, lines } = await exported(t);
  const entryLineOf = (seq: number): AuditEntry => JSON.parse(lines[entryAt(seq)] ?? "") as AuditEntry;
  const cpIndex = (size: number): number => lines.findIndex((l) => l.includes('"type":"checkpoint"') && l.includes(`"treeSize":${size},`));
  const edit = (o: Record<string, unknown>, patch: Record<string, unknown>): string => JSON.stringify({ ...o, ...patch });

  const cases: { name: string; lines: (string | undefined)[]; firstSeq: number; kinds: readonly string[]; exact?: boolean }[] = [
    {
      name: "a decision rewritten from deny to allow",
      lines: lines.map((l, i) => (i === entryAt(20) ? edit(entryLineOf(20) as unknown as Record<string, unknown>, { decision: entryLineOf(20).decision === "allow" ? "deny" : "allow" }) : l)),
      firstSeq: 20,
      kinds: ["modified"],
      exact: true,
    },
    {
      name: "an entry's detail edited and its hash recomputed",
      lines: lines.map((l, i) => {
        if (i !== entryAt(77)) return l;
        const e = { ...entryLineOf(77), detail: '{"n":77,"reason":"nothing to see"}' };
        return edit(e, { hash: computeEntryHash(e) });
      }),
      firstSeq: 77,
      // The next entry's prevHash is the hash the signed checkpoint covers, so the edited entry is named exactly.
      kinds: ["modified"],
      exact: true,
    },
    { name: "an entry line deleted", lines: lines.filter((_, i) => i !== entryAt(120)), firstSeq: 120, kinds: ["deleted"], exact: true },
    {
      name: "two entry lines swapped",
      lines: lines.map((l, i) => (i === entryAt(5) ? lines[entryAt(6)] : i === entryAt(6) ? lines[entryAt(5)] : l)),
      firstSeq: 5,
      kinds: ["deleted", "reordered", "checkpoint-mismatch"],
    },
    { name: "an entry line duplicated", lines: [...lines.slice(0, entryAt(31)), lines[entryAt(30)], ...lines.slice(entryAt(31))], firstSeq: 31, kinds: ["reordered", "checkpoint-mismatch"] },
    { name: "the last entry line removed", lines: lines.filter((_, i) => i !== entryAt(130)), firstSeq: 130, kinds: ["truncated"] },
    {
      name: "a checkpoint's root replaced",
      lines: lines.map((l, i) => (i === cpIndex(100) ? edit(JSON.parse(l) as Record<string, unknown>, { rootHash: "ab".repeat(32) }) : l)),
      firstSeq: 100,
      kinds: ["bad-signature"],
    },
    { name: "an intermediate checkpoint line removed", lines: lines.filter((_, i) => i !== cpIndex(50)), firstSeq: 50, kinds: ["checkpoint-gap"] },
  ];

  for (const c of cases) {
    const file = join(dir, "edited.jsonl");
    writeFileSync(file, withEnd(c.lines));
    const report = await verifyFile(file, key.publicKey);
    assert.equal(report.ok, false, `${c.name}: not detected`);
    assert.ok(report.damage);
    assert.ok(c.kinds.includes(report.damage.kind), `${c.name}: reported as ${report.damage.kind} (${report.damage.message})`);
    assert.ok(report.damage.seq <= c.firstSeq, `${c.name}: reported at ${report.damage.seq}, after ${c.firstSeq}`);
    if (c.exact === true) assert.equal(report.damage.seq, c.firstSeq, `${c.name}: ${report.damage.message}`);
  }
});

test("an export re-signed with another key verifies only against the key inside it, never against the trusted one", async (t) => {
  const { dir, key, lines } = await exported(t);
  const attacker = makeKey();
  // Rewrite entry 10 and re-chain, then re-sign every checkpoint and put the attacker's key in the header.
  const entries = lines.slice(1, 131).map((l) => JSON.parse(l) as AuditEntry & { type: string });
  let prev = entries[8]?.hash ?? "";
  const rewritten = entries.map((e) => {
    if (e.seq < 10) return e;
    const changed = { ...e, prevHash: prev, decision: e.seq === 10 ? "allow" : e.decision };
    const next = { ...changed, hash: computeEntryHash(changed) };
    prev = next.hash;
    return next;
  });
  const leaves = rewritten.map((e) => entryLeaf(e));
  const cps = lines.slice(131).filter((l) => l.startsWith('{"type":"checkpoint"')).map((l) => JSON.parse(l) as Checkpoint);
  const forged = cps.map((c) => attacker.signer.sign({ treeSize: c.treeSize, rootHash: merkleRoot(leaves.slice(0, c.treeSize)).toString("hex"), ts: c.ts, prevSize: c.prevSize }));
  const file = join(dir, "forged.jsonl");
  const header = { ...(JSON.parse(lines[0] ?? "") as Record<string, unknown>), publicKey: attacker.publicKeyPem, keyId: attacker.signer.keyId };
  writeFileSync(file, withEnd([JSON.stringify(header), ...rewritten.map((e) => JSON.stringify(e)), ...forged.map(checkpointLine)]));
  // This is why `audit verify --file` without --pubkey warns to compare the key: the file vouches for itself.
  assert.equal((await verifyFile(file)).ok, true);
  const trusted = await verifyFile(file, key.publicKey);
  assert.equal(trusted.ok, false);
  assert.equal(trusted.damage?.kind, "bad-signature");
  assert.equal(trusted.damage.seq, 1);
});

test("a truncated or damaged export file is a clear AegisError", async (t) => {
  const { dir, file, lines } = await exported(t);
  const text = readFileSync(file, "utf8");

  // Cut in the middle of a line: an entry, a checkpoint, the header.
  for (const [what, at] of [
    ["an entry line", text.indexOf(lines[entryAt(64)] ?? "") + 40],
    ["a checkpoint line", text.lastIndexOf('"type":"checkpoint"') + 30],
    ["the header", 20],
  ] as const) {
    const cut = join(dir, "cut.jsonl");
    writeFileSync(cut, text);
    truncateSync(cut, at);
    await assert.rejects(readExportFile(cut), isAegis("AUDIT_CORRUPT", /cut\.jsonl(:\d+)?: (not JSON \(the export is truncated or damaged\)|not an AegisClaw audit export)/), what);
  }

  const write = (name: string, content: string): string => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  await assert.rejects(readExportFile(write("empty.jsonl", "")), isAegis("AUDIT_CORRUPT", /is empty/));
  await assert.rejects(readExportFile(write("not-export.jsonl", '{"hello":"world"}\n')), isAegis("AUDIT_CORRUPT", /bad header/));
  const header = JSON.parse(lines[0] ?? "") as Record<string, unknown>;
  await assert.rejects(readExportFile(write("future.jsonl", `${JSON.stringify({ ...header, version: 2 })}\n`)), isAegis("AUDIT_TOO_NEW", /Upgrade/));
  await assert.rejects(readExportFile(write("unknown.jsonl", `${lines[0] ?? ""}\n{"type":"mystery"}\n`)), isAegis("AUDIT_CORRUPT", /unknown\.jsonl:2: unknown record type/));
  const badEntry = { ...(JSON.parse(lines[1] ?? "") as Record<string, unknown>), seq: "1" };
  await assert.rejects(readExportFile(write("bad-entry.jsonl", `${lines[0] ?? ""}\n${JSON.stringify(badEntry)}\n`)), isAegis("AUDIT_CORRUPT", /bad-entry\.jsonl:2: not a well-formed audit entry/));
  const badCp = { ...(JSON.parse(lines.findLast((l) => l.startsWith('{"type":"checkpoint"')) ?? "") as Record<string, unknown>), treeSize: null };
  await assert.rejects(readExportFile(write("bad-cp.jsonl", `${lines[0] ?? ""}\n${JSON.stringify(badCp)}\n`)), isAegis("AUDIT_CORRUPT", /not a well-formed checkpoint/));
  await assert.rejects(readExportFile(join(dir, "missing.jsonl")), isAegis("AUDIT_NOT_FOUND", /Cannot read .*missing\.jsonl \(ENOENT\)/));
});

test("an export cut at a line boundary is refused; one with a forged end record shows its entries unsealed", async (t) => {
  const { dir, key, lines } = await exported(t);
  const cut = join(dir, "cut.jsonl");
  writeFileSync(cut, `${lines.slice(0, entryAt(100) + 1).join("\n")}\n`);
  await assert.rejects(readExportFile(cut), isAegis("AUDIT_CORRUPT", /truncated: it has no end record \(read 100 entries and 0 checkpoints\)/));
  const recounted = join(dir, "recounted.jsonl");
  writeFileSync(recounted, `${lines.slice(0, -3).join("\n")}\n${endLine(130, 3)}\n`);
  await assert.rejects(readExportFile(recounted), isAegis("AUDIT_CORRUPT", /end record counts 130 entries and 3 checkpoints, but the file holds 130 and 2/));
  // Someone who also forges the end record: the remaining checkpoints vouch for their prefix, the rest is unsealed
  // (the CLI refuses exports with unsealed entries, because `audit export` seals the log before writing).
  const forgedEnd = join(dir, "forged-end.jsonl");
  writeFileSync(forgedEnd, withEnd(lines.slice(0, -3)));
  const report = await verifyFile(forgedEnd, key.publicKey);
  assert.equal(report.unsealed, 30);
  await writeFile(join(dir, "after-end.jsonl"), `${lines.join("\n")}${lines[1] ?? ""}\n`);
  await assert.rejects(readExportFile(join(dir, "after-end.jsonl")), isAegis("AUDIT_CORRUPT", /data after the end record/));
});
