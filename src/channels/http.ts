/**
 * The local HTTP API of `aegisclaw run`: the owner's messages, inbound items
 * from other sources, sessions and pending approvals, behind one gate.
 *
 * Every request passes the same checks, in this order, before any handler:
 * the Host header names this server (DNS rebinding), no credential in the URL
 * (refused, never used), a browser Origin is this server's own, and — for all
 * but `/health` — the bearer token. Bodies are JSON, at most 1 MiB, parsed
 * with a schema; every answer is JSON (or an event stream) with headers that
 * keep it out of caches, frames and sniffers.
 *
 * What the API adds is provenance, never authority: the authenticated
 * owner's messages are `trusted:owner`; an inbound item (an e-mail, a chat
 * message, a web page, a webhook) is `untrusted:<source>` even though the
 * same token submitted it. Tool calls still go through the envelope like any
 * other: this file holds no reference that can run a tool.
 *
 * A message is acknowledged (the `accepted` event, or 202 for inbound items)
 * only after the session store has committed it.
 */
import type { IncomingMessage as NodeIncomingMessage } from "node:http";
import { randomBytes } from "node:crypto";
import { Hono, type Context } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import { AegisError, errorMessage } from "../errors.ts";
import type { AgentEvent, IncomingMessage, TurnResult } from "../agent/loop.ts";
import { SESSION_ID_PATTERN, newSessionId, type SessionStore, type StoredMessage } from "../agent/session-store.ts";
import type { PendingApprovals } from "../approvals/pending.ts";
import type { Label } from "../policy/labels.ts";
import { credentialQueryParams, foreignOrigin, normaliseHostHeader, type AuthFailure, type BearerToken, type RequestOrigin } from "./auth.ts";

/** Request bodies larger than this are refused (413) before they are parsed. */
export const MAX_BODY_BYTES = 1024 * 1024;

export const INBOUND_SOURCES = ["email", "chat", "web", "webhook"] as const;
export type InboundSource = (typeof INBOUND_SOURCES)[number];

/** What the API needs from the agent: a message in, events out. */
export interface MessageSink {
  send(msg: IncomingMessage, onEvent?: (e: AgentEvent) => void): Promise<TurnResult>;
}

export interface TurnInfo {
  readonly session: string;
  readonly label: Label;
  readonly item: string | undefined;
}

export interface HttpApiOptions {
  readonly agent: MessageSink;
  readonly sessions: SessionStore;
  readonly approvals: PendingApprovals;
  /** `provider/model`, recorded on sessions the API creates. */
  readonly modelRef: string;
  readonly version: string;
  readonly token: BearerToken;
  /** The scheme and Host values this server answers to (known once it listens). */
  readonly origin: () => RequestOrigin;
  /** Every turn runs under this signal: aborted at shutdown to cancel turns still running. */
  readonly turnSignal: AbortSignal;
  /** False once shutdown has begun: new messages are refused with 503. */
  readonly accepting: () => boolean;
  /** Told about every turn the API starts (shutdown bookkeeping, background errors). */
  readonly onTurn: (turn: Promise<TurnResult>, info: TurnInfo) => void;
  /** Told about every refused request (the caller audits them, rate-limited). */
  readonly onAuthFailure: (failure: AuthFailure) => void;
  /** Errors no response can carry (a handler's unexpected failure); scrubbed by the caller. */
  readonly onError?: (message: string) => void;
  /** Comment lines keep an event stream open through proxies; default every 15 s. */
  readonly heartbeatMs?: number;
}

// ---------------------------------------------------------------------------
// Schemas: what crosses the boundary

const MessageBody = z.object({ text: z.string().min(1, "text is empty") }).strict();

const SingleLine = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[^\r\n]*$/, "must be one line");

const InboundBody = z
  .object({
    source: z.enum(INBOUND_SOURCES),
    from: SingleLine(1000).optional(),
    subject: SingleLine(2000).optional(),
    body: z.string().min(1, "body is empty"),
    session: z.string().regex(SESSION_ID_PATTERN, "1–64 letters, digits, '.', '_' or '-', starting with a letter or digit").optional(),
    id: z
      .string()
      .regex(/^[\x21-\x7e]{1,200}$/, "1–200 printable ASCII characters, no spaces")
      .optional(),
  })
  .strict();

const ApprovalBody = z.object({ approve: z.boolean(), note: z.string().max(2000).optional() }).strict();

// ---------------------------------------------------------------------------
// Responses

type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 500 | 503;

class ApiError extends Error {
  readonly status: ErrorStatus;
  readonly code: string;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: ErrorStatus, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** Nothing the API answers is cached, sniffed, framed, or allowed to load anything. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Cache-Control": "no-store",
  Pragma: "no-cache",
  "X-Content-Type-Options": "nosniff",
  "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cross-Origin-Opener-Policy": "same-origin",
};

interface Bindings {
  readonly incoming?: NodeIncomingMessage;
}

function remoteAddress(c: Context): string | undefined {
  const env: unknown = c.env;
  if (typeof env !== "object" || env === null || !("incoming" in env)) return undefined;
  return (env as Bindings).incoming?.socket.remoteAddress;
}

/** Reads a JSON body: `application/json`, at most MAX_BODY_BYTES, parsed with the schema. */
async function jsonBody<T>(c: Context, schema: z.ZodType<T>): Promise<T> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) throw new ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "send the body as JSON with Content-Type: application/json");
  const declared = c.req.header("content-length");
  if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) throw new ApiError(413, "BODY_TOO_LARGE", `the body is larger than ${String(MAX_BODY_BYTES)} bytes`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const body = c.req.raw.body as ReadableStream<Uint8Array> | null;
  if (body !== null) {
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY_BYTES) {
        await reader.cancel().catch(() => undefined);
        throw new ApiError(413, "BODY_TOO_LARGE", `the body is larger than ${String(MAX_BODY_BYTES)} bytes`);
      }
      chunks.push(value);
    }
  }
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks)));
  } catch (err) {
    throw new ApiError(400, "INVALID_JSON", `the body is not valid UTF-8 JSON: ${errorMessage(err).slice(0, 200)}`);
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`);
    throw new ApiError(400, "INVALID_BODY", issues.join("; "));
  }
  return parsed.data;
}

function sessionParam(c: Context): string {
  const id = c.req.param("id") ?? "";
  if (!SESSION_ID_PATTERN.test(id)) throw new ApiError(400, "INVALID_SESSION_ID", "a session id is 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit");
  return id;
}

/** A stored message as the API shows it. */
function messageView(m: StoredMessage): Record<string, unknown> {
  const base = { seq: m.seq, ts: m.ts, role: m.message.role, label: m.label, item: m.item ?? null };
  switch (m.message.role) {
    case "user":
      return { ...base, text: m.message.text };
    case "assistant":
      return { ...base, text: m.message.text, toolCalls: m.message.toolCalls.map((t) => ({ id: t.id, name: t.name, input: t.input ?? null })) };
    case "tool":
      return { ...base, results: m.message.results };
  }
}

/** The event as sent on the wire (JSON-safe: tool inputs the model sent are kept as parsed). */
function eventData(e: AgentEvent): string {
  return JSON.stringify(e, (_key, value: unknown) => (value === undefined ? null : value));
}

type ToolCallView = Omit<Extract<AgentEvent, { type: "tool_result" }>, "type"> & { input: unknown };

/** Collects the tool calls of one turn from its events: the call's input and the envelope's verdict. */
function toolCallCollector(): { onEvent: (e: AgentEvent) => void; calls: ToolCallView[] } {
  const inputs = new Map<string, unknown>();
  const calls: ToolCallView[] = [];
  return {
    calls,
    onEvent: (e) => {
      if (e.type === "tool_call") inputs.set(e.callId, e.input);
      else if (e.type === "tool_result") {
        const { type: _type, ...rest } = e;
        calls.push({ ...rest, input: inputs.get(e.callId) ?? null });
      }
    },
  };
}

function statusForAegis(err: AegisError): ErrorStatus {
  if (err.code === "USAGE") return 400;
  if (err.code === "SESSION_NOT_FOUND") return 404;
  return 500;
}

// ---------------------------------------------------------------------------
// The app

export function createHttpApi(o: HttpApiOptions): Hono {
  const app = new Hono();
  const heartbeatMs = o.heartbeatMs ?? 15_000;

  app.onError((err, c) => {
    if (err instanceof ApiError) {
      for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
      return c.json({ error: err.code, message: err.message }, err.status);
    }
    if (err instanceof AegisError) return c.json(err.toJSON(), statusForAegis(err));
    o.onError?.(`${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`);
    return c.json({ error: "INTERNAL", message: "the request failed inside AegisClaw; see the daemon's log" }, 500);
  });

  app.notFound((c) => c.json({ error: "NOT_FOUND", message: `no such endpoint: ${c.req.method} ${c.req.path.slice(0, 200)}` }, 404));

  // Headers on every answer, errors included.
  app.use(async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(k, v);
    if (o.origin().scheme === "https") c.res.headers.set("Strict-Transport-Security", "max-age=31536000");
  });

  // The gate.
  app.use(async (c, next) => {
    const origin = o.origin();
    const refuse = (reason: AuthFailure["reason"], error: ApiError): never => {
      o.onAuthFailure({ reason, remote: remoteAddress(c), method: c.req.method.slice(0, 16), path: c.req.path });
      throw error;
    };
    const host = normaliseHostHeader(c.req.header("host"), origin.scheme === "https" ? 443 : 80);
    if (host === undefined || !origin.hosts.has(host)) {
      refuse("bad_host", new ApiError(403, "FORBIDDEN_HOST", "the Host header does not name this server (a page on another site may be trying to reach it through DNS rebinding); use the URL `aegisclaw run` printed"));
    }
    const inUrl = credentialQueryParams(new URL(c.req.url));
    if (inUrl.length > 0) {
      refuse(
        "token_in_url",
        new ApiError(400, "TOKEN_IN_URL", `refused: the URL carries ${inUrl.map((p) => `"${p}"`).join(", ")}. Tokens never go in URLs (they end up in logs, history and Referer headers); send "Authorization: Bearer <token>". If this was the real token, rotate it: aegisclaw run --rotate-token`),
      );
    }
    const foreign = foreignOrigin(c.req.header("origin"), origin);
    const fetchSite = c.req.header("sec-fetch-site");
    if (foreign !== undefined || fetchSite === "cross-site" || fetchSite === "same-site") {
      refuse("foreign_origin", new ApiError(403, "FORBIDDEN_ORIGIN", "requests from another web origin are refused: the API is for this machine's own clients"));
    }
    if (c.req.path === "/health") {
      await next();
      return;
    }
    const check = o.token.check(c.req.header("authorization"));
    if (check !== "ok") {
      refuse(
        check,
        new ApiError(401, "UNAUTHORIZED", check === "missing" ? 'send "Authorization: Bearer <token>" (the secret AEGISCLAW_API_TOKEN)' : "the token is not valid", {
          "WWW-Authenticate": check === "missing" ? 'Bearer realm="aegisclaw"' : 'Bearer realm="aegisclaw", error="invalid_token"',
        }),
      );
    }
    await next();
  });

  app.get("/health", (c) => c.json({ ok: true, version: o.version }));

  app.get("/api/sessions", (c) => {
    const raw = c.req.query("limit");
    const limit = raw === undefined ? 100 : Number(raw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ApiError(400, "INVALID_LIMIT", "limit is a whole number from 1 to 1000");
    return c.json({ sessions: o.sessions.list(limit) });
  });

  app.post("/api/sessions", (c) => {
    refuseWhenDraining();
    const session = o.sessions.ensure(newSessionId(), { channel: "http", model: o.modelRef });
    return c.json({ session }, 201);
  });

  app.get("/api/sessions/:id", (c) => {
    const id = sessionParam(c);
    const session = o.sessions.get(id);
    if (session === undefined) throw new ApiError(404, "SESSION_NOT_FOUND", `there is no session ${id}`);
    return c.json({ session, messages: o.sessions.messages(id).map(messageView), toolCalls: o.sessions.toolCalls(id) });
  });

  app.post("/api/sessions/:id/messages", async (c) => {
    const id = sessionParam(c);
    const body = await jsonBody(c, MessageBody);
    refuseWhenDraining();
    const msg: IncomingMessage = { session: id, text: body.text, label: "trusted:owner", channel: "http", signal: o.turnSignal };
    if ((c.req.header("accept") ?? "").includes("text/event-stream")) return streamTurn(c, msg);
    const collected = toolCallCollector();
    let accepted: number | undefined;
    const turn = o.agent.send(msg, (e) => {
      if (e.type === "accepted") accepted = e.seq;
      collected.onEvent(e);
    });
    o.onTurn(turn, { session: id, label: msg.label, item: undefined });
    const result = await turn;
    return c.json({ session: id, accepted: accepted ?? null, result, toolCalls: collected.calls });
  });

  app.post("/inbound", async (c) => {
    const body = await jsonBody(c, InboundBody);
    refuseWhenDraining();
    const item = body.id ?? `${body.source}-${randomBytes(8).toString("hex")}`;
    const session = body.session ?? newSessionId();
    // A delivery retried by its sender (same id, same session) is stored once.
    if (body.session !== undefined && body.id !== undefined && o.sessions.get(session) !== undefined && o.sessions.messages(session).some((m) => m.item === item)) {
      return c.json({ item, session, duplicate: true }, 200);
    }
    const text = [body.from === undefined ? undefined : `From: ${body.from}`, body.subject === undefined ? undefined : `Subject: ${body.subject}`].filter((l) => l !== undefined);
    const label: Label = `untrusted:${body.source}`;
    const msg: IncomingMessage = { session, text: text.length === 0 ? body.body : `${text.join("\n")}\n\n${body.body}`, label, item, channel: `inbound:${body.source}`, signal: o.turnSignal };
    let ack: (seq: number) => void = () => undefined;
    const accepted = new Promise<number>((resolve) => (ack = resolve));
    const turn = o.agent.send(msg, (e) => {
      if (e.type === "accepted") ack(e.seq);
    });
    o.onTurn(turn, { session, label, item });
    // Answered once the item is stored; the turn goes on without the client. A failure before that is the answer.
    const seq = await Promise.race([accepted, turn.then(() => undefined)]);
    if (seq === undefined) throw new ApiError(500, "NOT_STORED", "the item was not stored (the turn ended before it was accepted); send it again");
    return c.json({ item, session, seq }, 202);
  });

  app.get("/api/approvals", (c) => c.json({ approvals: o.approvals.list() }));

  app.get("/api/approvals/:id", (c) => {
    const id = c.req.param("id");
    const a = o.approvals.get(id);
    if (a === undefined) throw new ApiError(404, "APPROVAL_NOT_FOUND", `there is no pending approval ${id.slice(0, 16)} (answered, expired, or never made)`);
    return c.json({ approval: a });
  });

  app.post("/api/approvals/:id", async (c) => {
    const id = c.req.param("id");
    const body = await jsonBody(c, ApprovalBody);
    const answered = o.approvals.answer(id, { approved: body.approve, by: "owner", channel: "http", ...(body.note === undefined ? {} : { note: body.note }) });
    if (!answered) throw new ApiError(404, "APPROVAL_NOT_FOUND", `there is no pending approval ${id.slice(0, 16)} (answered, expired, or never made)`);
    return c.json({ id, approved: body.approve });
  });

  function refuseWhenDraining(): void {
    if (!o.accepting()) throw new ApiError(503, "SHUTTING_DOWN", "the daemon is shutting down and takes no new messages; retry once it is back", { "Retry-After": "5" });
  }

  /** The turn's events as Server-Sent Events: `accepted` first, `done` (or `error`) last; approvals of this session in between. */
  function streamTurn(c: Context, msg: IncomingMessage): Response {
    return streamSSE(c, async (stream) => {
      let open = true;
      stream.onAbort(() => {
        open = false;
      });
      // Events arrive synchronously from the loop; writes are chained so they go out in order.
      let chain: Promise<unknown> = Promise.resolve();
      const push = (event: string, data: string): void => {
        chain = chain.then(async () => {
          if (open) await stream.writeSSE({ event, data });
        });
      };
      const asked = new Set<string>();
      const unsubscribe = o.approvals.subscribe((e) => {
        if (e.type === "requested" && e.approval.session === msg.session) {
          asked.add(e.approval.id);
          push("approval", JSON.stringify({ type: "approval", approval: e.approval }));
        } else if (e.type === "answered" && asked.has(e.id)) push("approval_answered", JSON.stringify({ type: "approval_answered", id: e.id, approved: e.approved, by: e.by, channel: e.channel }));
      });
      const heartbeat = setInterval(() => {
        chain = chain.then(async () => {
          if (open) await stream.write(": keep-alive\n\n");
        });
      }, heartbeatMs);
      try {
        const turn = o.agent.send(msg, (e) => {
          push(e.type, eventData(e));
        });
        o.onTurn(turn, { session: msg.session, label: msg.label, item: undefined });
        await turn;
      } catch (err) {
        const body = err instanceof AegisError ? err.toJSON() : { error: "INTERNAL", message: "the turn failed inside AegisClaw; see the daemon's log" };
        if (!(err instanceof AegisError)) o.onError?.(`stream ${msg.session}: ${errorMessage(err)}`);
        push("error", JSON.stringify({ type: "error", ...body }));
      } finally {
        clearInterval(heartbeat);
        unsubscribe();
      }
      await chain;
    });
  }

  return app;
}
