/**
 * Export format: JSON Lines. Line 1 is a header with the checkpoint public
 * key; then every entry; then every checkpoint; then an end record with the
 * counts, so a file cut at a line boundary is refused rather than read as a
 * shorter log. An offline verifier (the same CLI, `audit verify --file`)
 * checks it with a key it trusts.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { AegisError } from "../errors.ts";
import type { AuditEntry } from "./entry.ts";
import { keyIdOf, parsePublicKey, type Checkpoint } from "./checkpoint.ts";
import type { AuditStore } from "./store.ts";

export const EXPORT_FORMAT = "aegisclaw-audit-export";
export const EXPORT_VERSION = 1;

export interface ExportHeader {
  readonly type: typeof EXPORT_FORMAT;
  readonly version: number;
  readonly exportedAt: string;
  readonly publicKey: string;
  readonly keyId: string;
}

export function headerLine(h: ExportHeader): string {
  return JSON.stringify(h);
}
export function entryLine(e: AuditEntry): string {
  return JSON.stringify({ type: "entry", ...e });
}
export function checkpointLine(c: Checkpoint): string {
  return JSON.stringify({ type: "checkpoint", ...c });
}
export function endLine(entries: number, checkpoints: number): string {
  return JSON.stringify({ type: "end", entries, checkpoints });
}

/** The whole export as text chunks (each ends with a newline), read page by page from the store. */
export async function* exportAuditLog(store: AuditStore, publicKeyPem: string, exportedAt = new Date()): AsyncIterable<string> {
  yield `${headerLine({ type: EXPORT_FORMAT, version: EXPORT_VERSION, exportedAt: exportedAt.toISOString(), publicKey: publicKeyPem, keyId: keyIdOf(parsePublicKey(publicKeyPem)) })}\n`;
  let entries = 0;
  for await (const batch of store.scan()) {
    entries += batch.length;
    yield `${batch.map(entryLine).join("\n")}\n`;
  }
  const checkpoints = await store.checkpoints();
  if (checkpoints.length > 0) yield `${checkpoints.map(checkpointLine).join("\n")}\n`;
  yield `${endLine(entries, checkpoints.length)}\n`;
}

const str = (v: unknown): v is string => typeof v === "string";
const int = (v: unknown): v is number => Number.isSafeInteger(v);

function asEntry(o: Record<string, unknown>, line: number, file: string): AuditEntry {
  if (!int(o.seq) || !str(o.ts) || !str(o.kind) || !str(o.actor) || !str(o.action) || !str(o.resource) || !str(o.decision) || !str(o.detail) || !str(o.prevHash) || !str(o.hash)) {
    throw new AegisError("AUDIT_CORRUPT", `${file}:${line}: not a well-formed audit entry`);
  }
  return { seq: o.seq, ts: o.ts, kind: o.kind, actor: o.actor, action: o.action, resource: o.resource, decision: o.decision, detail: o.detail, prevHash: o.prevHash, hash: o.hash };
}

function asCheckpoint(o: Record<string, unknown>, line: number, file: string): Checkpoint {
  if (!int(o.treeSize) || !str(o.rootHash) || !str(o.ts) || !int(o.prevSize) || !str(o.keyId) || !str(o.signature)) {
    throw new AegisError("AUDIT_CORRUPT", `${file}:${line}: not a well-formed checkpoint`);
  }
  return { treeSize: o.treeSize, rootHash: o.rootHash, ts: o.ts, prevSize: o.prevSize, keyId: o.keyId, signature: o.signature };
}

/** Reads an export in one pass: entries are buffered in batches, checkpoints collected (they come last). */
export async function readExportFile(file: string): Promise<{ header: ExportHeader; checkpoints: Checkpoint[]; entries: AuditEntry[][] }> {
  const rl = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
  let header: ExportHeader | undefined;
  let end: { entries: number; checkpoints: number } | undefined;
  let entryCount = 0;
  const checkpoints: Checkpoint[] = [];
  const batches: AuditEntry[][] = [[]];
  let line = 0;
  try {
    for await (const text of rl) {
      line += 1;
      if (text.trim() === "") continue;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new AegisError("AUDIT_CORRUPT", `${file}:${line}: not JSON (the export is truncated or damaged)`);
      }
      if (end !== undefined) throw new AegisError("AUDIT_CORRUPT", `${file}:${line}: data after the end record (the file was edited)`);
      if (line === 1) {
        if (o.type !== EXPORT_FORMAT || !str(o.publicKey) || !str(o.keyId) || !int(o.version)) throw new AegisError("AUDIT_CORRUPT", `${file}: not an AegisClaw audit export (bad header)`);
        if (o.version > EXPORT_VERSION) throw new AegisError("AUDIT_TOO_NEW", `${file} is export format ${o.version}; this AegisClaw reads up to ${EXPORT_VERSION}. Upgrade to verify it.`);
        header = o as unknown as ExportHeader;
      } else if (o.type === "entry") {
        let last = batches.at(-1);
        if (!last || last.length >= 4096) batches.push((last = []));
        last.push(asEntry(o, line, file));
        entryCount += 1;
      } else if (o.type === "checkpoint") {
        checkpoints.push(asCheckpoint(o, line, file));
      } else if (o.type === "end") {
        if (!int(o.entries) || !int(o.checkpoints)) throw new AegisError("AUDIT_CORRUPT", `${file}:${line}: malformed end record`);
        end = { entries: o.entries, checkpoints: o.checkpoints };
      } else {
        throw new AegisError("AUDIT_CORRUPT", `${file}:${line}: unknown record type`);
      }
    }
  } catch (err) {
    if (err instanceof AegisError) throw err;
    throw new AegisError("AUDIT_NOT_FOUND", `Cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  if (!header) throw new AegisError("AUDIT_CORRUPT", `${file} is empty: not an AegisClaw audit export`);
  if (!end) throw new AegisError("AUDIT_CORRUPT", `${file} is truncated: it has no end record (read ${entryCount} entries and ${checkpoints.length} checkpoints). Export again, or find the complete copy.`);
  if (end.entries !== entryCount || end.checkpoints !== checkpoints.length) {
    throw new AegisError("AUDIT_CORRUPT", `${file}: the end record counts ${end.entries} entries and ${end.checkpoints} checkpoints, but the file holds ${entryCount} and ${checkpoints.length}: lines were removed or added`);
  }
  return { header, checkpoints, entries: batches };
}
