/** Shared helpers for the audit tests: keys, inputs, and reading a store back. */
import type { KeyObject } from "node:crypto";
import { createCheckpointSigner, generateCheckpointKey, parsePublicKey, type Checkpoint, type CheckpointSigner } from "../../src/audit/checkpoint.ts";
import type { AuditEntry, AuditInput } from "../../src/audit/entry.ts";
import type { AuditStore } from "../../src/audit/store.ts";
import { verifyAuditLog, type VerifyReport } from "../../src/audit/verify.ts";

export interface TestKey {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
  readonly signer: CheckpointSigner;
  readonly publicKey: KeyObject;
}

export function makeKey(): TestKey {
  const { privateKeyPem, publicKeyPem } = generateCheckpointKey();
  return { privateKeyPem, publicKeyPem, signer: createCheckpointSigner(privateKeyPem), publicKey: parsePublicKey(publicKeyPem) };
}

const KINDS = ["decision", "approval", "outcome", "system"] as const;
const DECISIONS = ["allow", "deny", "ask", "approved", "rejected", "ok", "error", "info"] as const;

/** A varied, deterministic input; `n` shows up in the detail so every entry is distinguishable. */
export function input(n: number, extra: Record<string, unknown> = {}): AuditInput {
  return {
    kind: KINDS[n % KINDS.length] ?? "system",
    actor: n % 3 === 0 ? `session:s-${n % 7}` : `skill:mailer-${n % 5}`,
    action: ["files.read", "email.send", "shell.exec", "net.fetch"][n % 4] ?? "files.read",
    resource: n % 2 === 0 ? `files.read:/home/u/docs/${n}.txt` : `net.fetch:api.example.com/${n}`,
    decision: DECISIONS[n % DECISIONS.length] ?? "info",
    detail: { n, reason: n % 11 === 0 ? "größe ✓ — ünïcode 🦀" : `rule r${n % 13}`, ...extra },
  };
}

export async function readAll(store: AuditStore): Promise<AuditEntry[]> {
  const all: AuditEntry[] = [];
  for await (const batch of store.scan()) all.push(...batch);
  return all;
}

export async function verifyStore(store: AuditStore, publicKey: KeyObject): Promise<{ report: VerifyReport; checkpoints: Checkpoint[] }> {
  const checkpoints = await store.checkpoints();
  return { report: await verifyAuditLog(store.scan(), checkpoints, publicKey), checkpoints };
}
