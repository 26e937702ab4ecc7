/** Opening a profile's audit log for writing, or its store and trusted key for reading. */
import { readFileSync } from "node:fs";
import type { KeyObject } from "node:crypto";
import { AegisError } from "../errors.ts";
import type { ProfilePaths } from "../config/paths.ts";
import { createCheckpointSigner, parsePublicKey } from "./checkpoint.ts";
import { AuditLog, type AuditLogOptions } from "./log.ts";
import { SqliteAuditStore } from "./sqlite-store.ts";

function readKeyFile(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new AegisError("KEY_INVALID", `Cannot read ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)}). Run \`aegisclaw init\` to create missing keys; if it was deleted, restore it from backup.`, { cause: err });
  }
}

export async function openAuditLog(paths: ProfilePaths, options: AuditLogOptions = {}): Promise<AuditLog> {
  const signer = createCheckpointSigner(readKeyFile(paths.checkpointKey, "the audit checkpoint key"), paths.checkpointKey);
  const store = new SqliteAuditStore(paths.auditDb);
  try {
    return await AuditLog.open(store, signer, options);
  } catch (err) {
    await store.close();
    throw err;
  }
}

export function trustedCheckpointKey(paths: ProfilePaths): KeyObject {
  return parsePublicKey(readKeyFile(paths.checkpointPub, "the audit checkpoint public key"), paths.checkpointPub);
}

export function openAuditReader(paths: ProfilePaths): SqliteAuditStore {
  return new SqliteAuditStore(paths.auditDb, { readOnly: true });
}
