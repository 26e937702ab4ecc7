/**
 * A real `aegisclaw run` daemon for tests: a profile made with the CLI, the
 * daemon started as its own process on 127.0.0.1:0, and small clients for its
 * API (JSON, Server-Sent Events, raw requests) and for the audit log.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { ScriptedTurnInput } from "../../src/agent/providers/scripted.ts";
import { COMPILE_CACHE, MAIN, runCli } from "./cli.ts";
import { tempDir } from "./tmp.ts";

export interface Profile {
  readonly home: string;
  readonly workspace: string;
  readonly token: string;
}

export interface ProfileOptions {
  /** Turns of the scripted model `scripted/test`. */
  readonly script?: readonly ScriptedTurnInput[];
  /** config.yaml approvals.timeout. */
  readonly approvalTimeout?: string;
  /** Lines appended under `agent:` in config.yaml. */
  readonly agentConfig?: string;
  readonly withToken?: boolean;
}

export async function makeProfile(t: TestContext, options: ProfileOptions = {}): Promise<Profile> {
  const dir = tempDir(t);
  const home = join(dir, "profile");
  const workspace = join(dir, "workspace");
  const init = await runCli(["init", "--home", home, "--workspace", workspace]);
  assert.equal(init.code, 0, init.stderr);
  mkdirSync(workspace, { recursive: true, mode: 0o700 });
  writeFileSync(join(workspace, "notes.txt"), "dentist tuesday\n");
  mkdirSync(join(home, "scripts"), { recursive: true, mode: 0o700 });
  writeFileSync(join(home, "scripts", "test.yaml"), JSON.stringify({ turns: options.script ?? [{ text: "Hello." }] }), { mode: 0o600 });
  let config = readFileSync(join(home, "config.yaml"), "utf8");
  if (options.approvalTimeout !== undefined) config = config.replace(/^(\s+timeout:) 10m/m, `$1 ${options.approvalTimeout}`);
  config += `\nagent:\n  model: scripted/test\n${options.agentConfig ?? ""}`;
  writeFileSync(join(home, "config.yaml"), config, { mode: 0o600 });
  let token = "";
  if (options.withToken !== false) {
    const r = await runCli(["--home", home, "run", "--init-token", "--json"], { detached: true });
    assert.equal(r.code, 0, r.stderr);
    token = (JSON.parse(r.stdout) as { token: string }).token;
  }
  return { home, workspace, token };
}

export interface Daemon {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
}

/** Starts `aegisclaw run --port 0 --json` in its own session and waits for its listening line. */
export async function startDaemon(t: TestContext, home: string, extra: readonly string[] = []): Promise<Daemon> {
  const child = spawn(process.execPath, [MAIN, "--home", home, "run", "--port", "0", "--json", ...extra], {
    env: { ...process.env, NO_COLOR: "1", NODE_COMPILE_CACHE: COMPILE_CACHE },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => {
    resolve({ code, signal });
  }));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const listening = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`no listening line within 20 s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 20_000);
    const onData = (): void => {
      const line = stdout.split("\n")[0];
      if (line === undefined || !stdout.includes("\n")) return;
      clearTimeout(timer);
      child.stdout.off("data", onData);
      try {
        resolve(JSON.parse(line) as { url: string; port: number });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
    child.stdout.on("data", onData);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`aegisclaw run exited (${String(code)}) before listening\nstdout: ${stdout}\nstderr: ${stderr}`));
    });
  });
  return { ...listening, child, exited, stdout: () => stdout, stderr: () => stderr };
}

export async function stop(d: Daemon, signal: NodeJS.Signals = "SIGTERM"): Promise<{ code: number | null; ms: number }> {
  const t0 = Date.now();
  d.child.kill(signal);
  const { code } = await d.exited;
  return { code, ms: Date.now() - t0 };
}

export interface ApiInit {
  readonly method?: string;
  readonly body?: unknown;
  readonly token?: string | null;
  readonly headers?: Record<string, string>;
}

export async function api(d: Daemon, p: Profile, path: string, init: ApiInit = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const token = init.token === undefined ? p.token : init.token;
  const res = await fetch(`${d.url}${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** A request with headers fetch will not let us set (Host). */
export function rawGet(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, headers, agent: false }, (res: IncomingMessage) => {
      let body = "";
      res.on("data", (b: Buffer) => (body += b.toString()));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

export interface SseEvent {
  readonly event: string;
  readonly data: Record<string, unknown>;
}

/** Posts a message with Accept: text/event-stream and yields the events as they arrive. */
export async function* streamMessage(d: Daemon, p: Profile, session: string, text: string): AsyncGenerator<SseEvent> {
  const res = await fetch(`${d.url}/api/sessions/${session}/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${p.token}`, "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ text }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  assert.ok(res.body !== null);
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = block
        .split("\n")
        .filter((l) => l.startsWith("data: "))
        .map((l) => l.slice(6))
        .join("\n");
      if (event !== undefined) yield { event, data: JSON.parse(data) as Record<string, unknown> };
    }
  }
}

export interface LogEntry {
  readonly kind: string;
  readonly actor: string;
  readonly action: string;
  readonly decision: string;
  readonly resource: string;
  readonly detail: Record<string, unknown>;
}

export async function auditEntries(home: string): Promise<LogEntry[]> {
  const r = await runCli(["--home", home, "logs", "--json", "--limit", "10000"]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as LogEntry);
}

export async function auditVerifies(home: string): Promise<void> {
  const r = await runCli(["--home", home, "audit", "verify"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
}

export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

