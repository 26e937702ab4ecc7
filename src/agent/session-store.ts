/**
 * Agent sessions, persisted in the profile (`sessions.db`, node:sqlite, WAL):
 * every message the model saw or wrote, with the
 * provenance label of its content, and every tool call with the envelope's
 * decision. A message is committed before it is acknowledged, so a crash
 * loses nothing that was acknowledged. Content is stored as the runtime
 * scrubbed it (tool output arrives redacted from the envelope). Messages
 * from people are fsynced before they are acknowledged; see `append`.
 */
import { chmodSync, closeSync, existsSync, openSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { z } from "zod";
import { AegisError, errorMessage } from "../errors.ts";
import type { Label } from "../policy/labels.ts";
import { normaliseLabel } from "../policy/labels.ts";
import type { ChatMessage } from "./providers/types.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  created TEXT NOT NULL,
  updated TEXT NOT NULL,
  channel TEXT NOT NULL,
  model TEXT NOT NULL,
  title TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  session TEXT NOT NULL REFERENCES sessions(id),
  ts TEXT NOT NULL,
  role TEXT NOT NULL,
  body TEXT NOT NULL,
  label TEXT NOT NULL,
  item TEXT
);
CREATE INDEX IF NOT EXISTS messages_session ON messages(session, seq);
CREATE TABLE IF NOT EXISTS tool_calls (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  session TEXT NOT NULL REFERENCES sessions(id),
  ts TEXT NOT NULL,
  call_id TEXT NOT NULL,
  tool TEXT NOT NULL,
  envelope_tool TEXT,
  args TEXT NOT NULL,
  skill TEXT,
  action_id TEXT,
  decision TEXT NOT NULL,
  outcome TEXT NOT NULL,
  reason TEXT NOT NULL,
  rule TEXT,
  duration_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tool_calls_session ON tool_calls(session, seq);
`;
const SCHEMA_VERSION = "1";

/** Session ids are chosen by clients (`main`, `email-triage`) or generated; they appear in paths and logs. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function newSessionId(): string {
  return `s-${randomBytes(6).toString("hex")}`;
}

export function assertSessionId(id: string): string {
  if (!SESSION_ID_PATTERN.test(id)) {
    throw new AegisError("USAGE", `"${id.slice(0, 80)}" is not a session id: use 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit.`, { exitCode: 2 });
  }
  return id;
}

export interface SessionInfo {
  readonly id: string;
  readonly created: string;
  readonly updated: string;
  /** Where the session talks: `terminal`, `http`, `inbound:email`… */
  readonly channel: string;
  readonly model: string;
  readonly title: string;
  readonly messages: number;
  readonly toolCalls: number;
}

export interface StoredMessage {
  readonly seq: number;
  readonly ts: string;
  readonly message: ChatMessage;
  /** Where the content came from: `trusted:owner`, `trusted:system`, `untrusted:<source>`. */
  readonly label: Label;
  /** The inbound item this content is, when it is one (an e-mail's id). */
  readonly item: string | undefined;
}

export interface ToolCallRecord {
  readonly callId: string;
  /** The name the model used (`exec`). */
  readonly tool: string;
  /** The envelope tool it became (`shell.exec`), when it became one. */
  readonly envelopeTool: string | undefined;
  /** Arguments as judged (scrubbed). */
  readonly args: string;
  readonly skill: string | undefined;
  readonly actionId: string | undefined;
  readonly decision: string;
  readonly outcome: string;
  readonly reason: string;
  readonly rule: string | undefined;
  readonly durationMs: number;
}

export interface StoredToolCall extends ToolCallRecord {
  readonly seq: number;
  readonly ts: string;
}

const ToolCallSchema = z.object({ id: z.string(), name: z.string(), input: z.unknown(), inputError: z.string().optional() });
const MessageSchema = z.discriminatedUnion("role", [
  z.object({ role: z.literal("user"), text: z.string() }),
  z.object({ role: z.literal("assistant"), text: z.string(), toolCalls: z.array(ToolCallSchema) }),
  z.object({ role: z.literal("tool"), results: z.array(z.object({ callId: z.string(), name: z.string(), content: z.string(), isError: z.boolean() })) }),
]);

interface SessionRow {
  id: string;
  created: string;
  updated: string;
  channel: string;
  model: string;
  title: string;
  messages: number;
  tool_calls: number;
}

export class SessionStore {
  readonly location: string;
  readonly #db: DatabaseSync;

  private constructor(location: string, db: DatabaseSync) {
    this.location = location;
    this.#db = db;
  }

  /** Opens (creating if needed, mode 0600) the sessions database. */
  static open(path: string): SessionStore {
    const created = !existsSync(path);
    if (created) closeSync(openSync(path, "a", 0o600));
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path, { timeout: 5000 });
      db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
      db.exec(SCHEMA);
      const version = (db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value?: string } | undefined)?.value;
      if (version === undefined) db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(SCHEMA_VERSION);
      else if (version !== SCHEMA_VERSION) {
        db.close();
        throw new AegisError("SESSION_STORE_FAILED", `${path} has session schema ${version}; this AegisClaw reads schema ${SCHEMA_VERSION}. Upgrade AegisClaw, or move the file aside to start with no sessions.`);
      }
    } catch (err) {
      if (err instanceof AegisError) throw err;
      throw new AegisError("SESSION_STORE_FAILED", `Cannot open the sessions database ${path}: ${errorMessage(err)}. If the file is damaged, move it aside (sessions are also summarised in the audit log) and retry.`, { cause: err });
    }
    if (created) chmodSync(path, 0o600);
    return new SessionStore(path, db);
  }

  #write<T>(doing: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw new AegisError("SESSION_STORE_FAILED", `Cannot write the sessions database ${this.location} while ${doing}: ${errorMessage(err)}. Nothing was acknowledged; check the disk and retry.`, { cause: err });
    }
  }

  /** The session, created on first use with this channel and model. */
  ensure(id: string, init: { channel: string; model: string; title?: string }): SessionInfo {
    assertSessionId(id);
    const existing = this.get(id);
    if (existing !== undefined) return existing;
    const now = new Date().toISOString();
    this.#write("creating a session", () =>
      this.#db.prepare("INSERT OR IGNORE INTO sessions (id, created, updated, channel, model, title) VALUES (?, ?, ?, ?, ?, ?)").run(id, now, now, init.channel, init.model, (init.title ?? "").slice(0, 200)),
    );
    const made = this.get(id);
    if (made === undefined) throw new AegisError("SESSION_STORE_FAILED", `session ${id} vanished right after it was created in ${this.location}`);
    return made;
  }

  get(id: string): SessionInfo | undefined {
    const row = this.#db
      .prepare(
        "SELECT s.*, (SELECT COUNT(*) FROM messages m WHERE m.session = s.id) AS messages, (SELECT COUNT(*) FROM tool_calls t WHERE t.session = s.id) AS tool_calls FROM sessions s WHERE s.id = ?",
      )
      .get(id) as SessionRow | undefined;
    return row === undefined ? undefined : rowToInfo(row);
  }

  /** Most recently active first. */
  list(limit = 100): SessionInfo[] {
    const rows = this.#db
      .prepare(
        "SELECT s.*, (SELECT COUNT(*) FROM messages m WHERE m.session = s.id) AS messages, (SELECT COUNT(*) FROM tool_calls t WHERE t.session = s.id) AS tool_calls FROM sessions s ORDER BY s.updated DESC, s.id LIMIT ?",
      )
      .all(Math.max(1, Math.min(limit, 10_000))) as unknown as SessionRow[];
    return rows.map(rowToInfo);
  }

  /**
   * Appends one message and returns its sequence number. A user (or inbound) message is acknowledged to its
   * sender, so its commit is fsynced (synchronous=FULL for that transaction, which also makes every earlier
   * WAL frame durable). The runtime's own records (model replies, tool results, tool calls) commit with
   * synchronous=NORMAL: safe against a process crash; a power cut may lose the last few, which the audit log
   * (durable per action) still holds, and the next turn repairs the history.
   */
  append(session: string, message: ChatMessage, label: Label, item?: string): number {
    const now = new Date().toISOString();
    const durable = message.role === "user";
    return this.#write("recording a message", () => {
      if (durable) this.#db.exec("PRAGMA synchronous=FULL");
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        const r = this.#db.prepare("INSERT INTO messages (session, ts, role, body, label, item) VALUES (?, ?, ?, ?, ?, ?)").run(session, now, message.role, JSON.stringify(message), label, item ?? null);
        this.#db.prepare("UPDATE sessions SET updated = ?, title = CASE WHEN title = '' AND ? = 'user' THEN ? ELSE title END WHERE id = ?").run(now, message.role, message.role === "user" ? message.text.slice(0, 80) : "", session);
        this.#db.exec("COMMIT");
        return Number(r.lastInsertRowid);
      } catch (err) {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
        throw err;
      } finally {
        if (durable) this.#db.exec("PRAGMA synchronous=NORMAL");
      }
    });
  }

  messages(session: string): StoredMessage[] {
    const rows = this.#db.prepare("SELECT seq, ts, body, label, item FROM messages WHERE session = ? ORDER BY seq").all(session) as unknown as { seq: number; ts: string; body: string; label: string; item: string | null }[];
    return rows.map((r) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(r.body);
      } catch {
        parsed = undefined;
      }
      const message = MessageSchema.safeParse(parsed);
      if (!message.success) throw new AegisError("SESSION_STORE_FAILED", `message ${String(r.seq)} of session ${session} in ${this.location} is damaged (${message.error.issues[0]?.message ?? "not JSON"}); the session cannot be continued. Start a new session; the damaged one stays readable with \`aegisclaw sessions show\`.`);
      return { seq: r.seq, ts: r.ts, message: message.data, label: normaliseLabel(r.label), item: r.item ?? undefined };
    });
  }

  /** Every distinct untrusted label and item the session ever held, oldest first (taint never expires with the history window). */
  untrustedItems(session: string): { label: Label; item: string | undefined }[] {
    const rows = this.#db.prepare("SELECT label, item, MIN(seq) AS first FROM messages WHERE session = ? AND label LIKE 'untrusted:%' GROUP BY label, item ORDER BY first").all(session) as unknown as { label: string; item: string | null }[];
    return rows.map((r) => ({ label: normaliseLabel(r.label), item: r.item ?? undefined }));
  }

  recordToolCall(session: string, rec: ToolCallRecord): void {
    this.#write("recording a tool call", () =>
      this.#db
        .prepare("INSERT INTO tool_calls (session, ts, call_id, tool, envelope_tool, args, skill, action_id, decision, outcome, reason, rule, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .run(session, new Date().toISOString(), rec.callId, rec.tool, rec.envelopeTool ?? null, rec.args, rec.skill ?? null, rec.actionId ?? null, rec.decision, rec.outcome, rec.reason, rec.rule ?? null, rec.durationMs),
    );
  }

  toolCalls(session: string): StoredToolCall[] {
    const rows = this.#db.prepare("SELECT * FROM tool_calls WHERE session = ? ORDER BY seq").all(session) as unknown as {
      seq: number;
      ts: string;
      call_id: string;
      tool: string;
      envelope_tool: string | null;
      args: string;
      skill: string | null;
      action_id: string | null;
      decision: string;
      outcome: string;
      reason: string;
      rule: string | null;
      duration_ms: number;
    }[];
    return rows.map((r) => ({
      seq: r.seq,
      ts: r.ts,
      callId: r.call_id,
      tool: r.tool,
      envelopeTool: r.envelope_tool ?? undefined,
      args: r.args,
      skill: r.skill ?? undefined,
      actionId: r.action_id ?? undefined,
      decision: r.decision,
      outcome: r.outcome,
      reason: r.reason,
      rule: r.rule ?? undefined,
      durationMs: r.duration_ms,
    }));
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

function rowToInfo(r: SessionRow): SessionInfo {
  return { id: r.id, created: r.created, updated: r.updated, channel: r.channel, model: r.model, title: r.title, messages: r.messages, toolCalls: r.tool_calls };
}
