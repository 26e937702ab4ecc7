/**
 * The HTTP API app in-process (hono's app.request), with the real session store and approval queue and a
 * stand-in agent that stores the message like the real loop does and then waits until the test lets it finish.
 * The daemon end to end (real process, real sockets, real agent) is test/cli/run.test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import type { Hono } from "hono";
import type { AgentEvent, IncomingMessage, TurnResult } from "../../src/agent/loop.ts";
import { SessionStore } from "../../src/agent/session-store.ts";
import { PendingApprovals } from "../../src/approvals/pending.ts";
import { BearerToken, generateApiToken, type AuthFailure } from "../../src/channels/auth.ts";
import { MAX_BODY_BYTES, createHttpApi, type MessageSink } from "../../src/channels/http.ts";
import { tempDir } from "../helpers/tmp.ts";

const HOST = "127.0.0.1:4567";

/** Stores the message (the acknowledgement), then finishes when `release()` is called. */
class GatedAgent implements MessageSink {
  readonly received: IncomingMessage[] = [];
  readonly #store: SessionStore;
  #gates: (() => void)[] = [];

  constructor(store: SessionStore) {
    this.#store = store;
  }

  async send(msg: IncomingMessage, onEvent: (e: AgentEvent) => void = () => undefined): Promise<TurnResult> {
    this.received.push(msg);
    this.#store.ensure(msg.session, { channel: msg.channel, model: "test/gated" });
    const seq = this.#store.append(msg.session, { role: "user", text: msg.text }, msg.label, msg.item);
    onEvent({ type: "accepted", session: msg.session, seq });
    await new Promise<void>((resolve) => this.#gates.push(resolve));
    onEvent({ type: "text", delta: "ok" });
    const result: TurnResult = { session: msg.session, text: "ok", stopReason: "end_turn", modelCalls: 1, toolCalls: 0, usage: { inputTokens: 0, outputTokens: 0 }, durationMs: 1 };
    onEvent({ type: "done", result });
    return result;
  }

  release(): void {
    for (const g of this.#gates.splice(0)) g();
  }

  get waiting(): number {
    return this.#gates.length;
  }
}

interface Fixture {
  app: Hono;
  agent: GatedAgent;
  store: SessionStore;
  token: string;
  failures: AuthFailure[];
  turns: Promise<TurnResult>[];
  setAccepting(v: boolean): void;
  req(path: string, init?: { method?: string; headers?: Record<string, string>; body?: string; auth?: boolean }): Promise<Response>;
}

function fixture(t: TestContext): Fixture {
  const store = SessionStore.open(join(tempDir(t), "sessions.db"));
  t.after(() => {
    store.close();
  });
  const agent = new GatedAgent(store);
  const token = generateApiToken();
  const failures: AuthFailure[] = [];
  const turns: Promise<TurnResult>[] = [];
  let accepting = true;
  const app = createHttpApi({
    agent,
    sessions: store,
    approvals: new PendingApprovals(),
    modelRef: "test/gated",
    version: "9.9.9",
    token: new BearerToken(token),
    origin: () => ({ scheme: "http", hosts: new Set([HOST, "localhost:4567"]) }),
    turnSignal: new AbortController().signal,
    accepting: () => accepting,
    onTurn: (turn) => {
      turns.push(turn);
    },
    onAuthFailure: (f) => failures.push(f),
  });
  return {
    app,
    agent,
    store,
    token,
    failures,
    turns,
    setAccepting: (v) => (accepting = v),
    req: async (path, init = {}) =>
      app.request(`http://${HOST}${path}`, {
        method: init.method ?? "GET",
        headers: { host: HOST, ...(init.auth === false ? {} : { authorization: `Bearer ${token}` }), ...(init.body === undefined ? {} : { "content-type": "application/json" }), ...init.headers },
        ...(init.body === undefined ? {} : { body: init.body }),
      }),
  };
}

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

describe("HTTP API app", () => {
  test("every answer — success, 401, 404, 400 — carries no-store, nosniff and a CSP that loads nothing", async (t) => {
    const f = fixture(t);
    for (const res of [await f.req("/health", { auth: false }), await f.req("/api/sessions", { auth: false }), await f.req("/api/nothing"), await f.req("/api/sessions?limit=0")]) {
      assert.equal(res.headers.get("cache-control"), "no-store");
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'none'/);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
      await res.body?.cancel();
    }
  });

  test("/health says ok and the version, nothing more", async (t) => {
    const f = fixture(t);
    assert.deepEqual(await json(await f.req("/health", { auth: false })), { ok: true, version: "9.9.9" });
  });

  test("a failed check never reaches a handler, and is reported for the audit log", async (t) => {
    const f = fixture(t);
    const res = await f.req("/api/sessions/main/messages", { method: "POST", auth: false, body: JSON.stringify({ text: "hi" }) });
    assert.equal(res.status, 401);
    assert.equal(f.agent.received.length, 0);
    const wrong = await f.req("/api/sessions", { auth: false, headers: { authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get("www-authenticate") ?? "", /^Bearer .*error="invalid_token"/);
    assert.deepEqual(
      f.failures.map((x) => x.reason),
      ["missing", "wrong"],
    );
  });

  test("a token in the query is refused even next to a valid header, and its value is not echoed", async (t) => {
    const f = fixture(t);
    const res = await f.req(`/api/sessions?api_key=${f.token}`);
    assert.equal(res.status, 400);
    const text = await res.text();
    assert.match(text, /TOKEN_IN_URL/);
    assert.ok(!text.includes(f.token));
    assert.equal(f.failures[0]?.reason, "token_in_url");
  });

  test("bodies: JSON only, at most 1 MiB, strict schemas, clear error codes", async (t) => {
    const f = fixture(t);
    const post = (body: string, headers: Record<string, string> = {}): Promise<Response> => f.req("/api/sessions/main/messages", { method: "POST", body, headers });
    const cases: [Response, number, string][] = [
      [await post("text=hi", { "content-type": "application/x-www-form-urlencoded" }), 415, "UNSUPPORTED_MEDIA_TYPE"],
      [await post("{not json"), 400, "INVALID_JSON"],
      [await post(JSON.stringify({ text: "" })), 400, "INVALID_BODY"],
      [await post(JSON.stringify({ text: "hi", label: "trusted:owner" })), 400, "INVALID_BODY"],
      [await post(JSON.stringify({ text: "x".repeat(MAX_BODY_BYTES) })), 413, "BODY_TOO_LARGE"],
      [await f.req("/api/sessions/..%2Fetc/messages", { method: "POST", body: JSON.stringify({ text: "hi" }) }), 400, "INVALID_SESSION_ID"],
    ];
    for (const [res, status, code] of cases) {
      assert.equal(res.status, status, code);
      const body = await json(res);
      assert.equal(body.error, code);
      assert.equal(typeof body.message, "string");
    }
    assert.equal(f.agent.received.length, 0);
  });

  test("a chunked body over 1 MiB is cut off while it streams in", async (t) => {
    const f = fixture(t);
    const big = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new Uint8Array(128 * 1024).fill(0x20));
        controller.close();
      },
    });
    const res = await f.app.request(`http://${HOST}/inbound`, { method: "POST", headers: { host: HOST, authorization: `Bearer ${f.token}`, "content-type": "application/json" }, body: big, duplex: "half" });
    assert.equal(res.status, 413);
  });

  test("inbound: 202 as soon as the item is stored, while its turn still runs; labelled untrusted:<source>", async (t) => {
    const f = fixture(t);
    const res = await f.req("/inbound", { method: "POST", body: JSON.stringify({ source: "webhook", from: "ci@example.org", body: "build failed", id: "build-77", session: "ci" }) });
    assert.equal(res.status, 202);
    const body = await json(res);
    assert.deepEqual({ item: body.item, session: body.session }, { item: "build-77", session: "ci" });
    assert.equal(f.agent.waiting, 1, "the turn has not finished");
    const msg = f.agent.received[0];
    assert.equal(msg?.label, "untrusted:webhook");
    assert.equal(msg.channel, "inbound:webhook");
    assert.equal(msg.item, "build-77");
    assert.match(msg.text, /^From: ci@example\.org\n\nbuild failed$/);
    assert.equal(f.store.messages("ci")[0]?.label, "untrusted:webhook");
    // The sender retries the same delivery: stored once.
    const again = await f.req("/inbound", { method: "POST", body: JSON.stringify({ source: "webhook", body: "build failed", id: "build-77", session: "ci" }) });
    assert.equal(again.status, 200);
    assert.equal((await json(again)).duplicate, true);
    assert.equal(f.agent.received.length, 1);
    f.agent.release();
    await Promise.all(f.turns);
  });

  test("inbound: an unknown source, a multi-line From and a body-less item are refused", async (t) => {
    const f = fixture(t);
    for (const body of [{ source: "owner", body: "x" }, { source: "email", from: "a@b\nSubject: fake", body: "x" }, { source: "email" }]) {
      const res = await f.req("/inbound", { method: "POST", body: JSON.stringify(body) });
      assert.equal(res.status, 400, JSON.stringify(body));
    }
    assert.equal(f.agent.received.length, 0);
  });

  test("while shutting down, new messages get 503 and are not stored", async (t) => {
    const f = fixture(t);
    f.setAccepting(false);
    const res = await f.req("/api/sessions/main/messages", { method: "POST", body: JSON.stringify({ text: "hi" }) });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "5");
    const inbound = await f.req("/inbound", { method: "POST", body: JSON.stringify({ source: "email", body: "x" }) });
    assert.equal(inbound.status, 503);
    assert.equal(f.agent.received.length, 0);
    assert.equal(f.store.list().length, 0);
  });

  test("approvals: an unknown id is 404, and an answer needs a boolean", async (t) => {
    const f = fixture(t);
    assert.deepEqual(await json(await f.req("/api/approvals")), { approvals: [] });
    const missing = await f.req("/api/approvals/abc123", { method: "POST", body: JSON.stringify({ approve: true }) });
    assert.equal(missing.status, 404);
    assert.equal((await json(missing)).error, "APPROVAL_NOT_FOUND");
    const bad = await f.req("/api/approvals/abc123", { method: "POST", body: JSON.stringify({ approve: "yes" }) });
    assert.equal(bad.status, 400);
  });
});
