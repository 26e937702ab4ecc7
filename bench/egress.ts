/**
 * Egress proxy overhead (DESIGN.md §5: ≥ 80 % of direct loopback throughput,
 * ≤ +1 ms per request). Run alone with `scripts/node bench/egress.ts`
 * (`--json` for raw numbers), or call `egressBench()` from bench/run.ts.
 *
 * Layout, one event loop each, as in real use: a loopback HTTP server in a
 * worker thread (the "internet"); the proxy in this process (AegisClaw on the
 * host); the bridge in a child process (inside the sandbox); the client in
 * the bridge's child (the tool). The client speaks a minimal keep-alive
 * HTTP/1.1 over raw sockets in every mode, so only the path differs:
 *
 *   direct    client → server
 *   forward   client → bridge → proxy (plain-HTTP, absolute URI; a new upstream connection per request) → server
 *   tunnel    client → bridge → proxy (one CONNECT tunnel, requests inside it, as HTTPS does) → server
 *   socket    client → proxy's UNIX socket directly (forward mode without the bridge), for the breakdown
 *   relay     client → bridge → a bare UNIX-socket-to-TCP pipe (no HTTP, no checks) → server: the cost of
 *             the two-hop topology itself, which no proxy logic can beat on the same machine
 *
 * Each mode measures the best of 5 downloads of 64 MiB, then p50/p99 over
 * 1,000 sequential small requests after 200 warm-up ones; the whole set runs
 * twice and each mode keeps its better round.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as netConnect, createServer as createNetServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { EgressProxy, bridgeScriptPath, parseAllowlist } from "../src/sandbox/egress/index.ts";

export interface EgressBenchRow {
  readonly what: string;
  readonly value: string;
  readonly baseline: string;
  readonly ratio: string;
  readonly goal: string;
  readonly met: boolean;
}

const BIG_BYTES = 64 * 1024 * 1024;
const SMALL_REQUESTS = 1000;
const WARMUP_REQUESTS = 200;
/** 64 MiB moves in tens of milliseconds on loopback: take the best of several. */
const TRANSFERS = 5;
const HOST = "bench.test";

type Mode = "direct" | "forward" | "tunnel" | "socket" | "relay";

interface ClientResult {
  readonly mode: Mode;
  /** Best of TRANSFERS downloads, MB/s (10^6 bytes). */
  readonly mbPerSecond: number;
  /** Latency samples summary, microseconds. */
  readonly p50Us: number;
  readonly p99Us: number;
}

// --- the client (runs in a child process, through the bridge for forward/tunnel) ---------------

/** A minimal keep-alive HTTP/1.1 client on one socket; counts body bytes without keeping them. */
class RawHttp {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: { resolve: () => void; reject: (err: Error) => void } | undefined;
  private readonly socket: Socket;
  constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      const w = this.waiter;
      this.waiter = undefined;
      w?.resolve();
    });
    socket.on("close", () => {
      this.waiter?.reject(new Error("connection closed"));
    });
  }
  private more(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }
  /** Sends a request head, reads one response; returns its status and body length. */
  async request(head: string): Promise<{ status: number; bytes: number }> {
    this.socket.write(head);
    let end: number;
    while ((end = this.buf.indexOf("\r\n\r\n")) === -1) await this.more();
    const text = this.buf.subarray(0, end).toString("latin1");
    const status = Number(text.slice(9, 12));
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text)?.[1] ?? "0");
    this.buf = this.buf.subarray(end + 4);
    let got = 0;
    while (got < length) {
      if (this.buf.length === 0) await this.more();
      const take = Math.min(this.buf.length, length - got);
      got += take;
      this.buf = this.buf.subarray(take);
    }
    return { status, bytes: got };
  }
  /** Reads the proxy's answer to CONNECT. */
  async connectTunnel(authority: string): Promise<void> {
    this.socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    let end: number;
    while ((end = this.buf.indexOf("\r\n\r\n")) === -1) await this.more();
    const status = this.buf.subarray(9, 12).toString();
    this.buf = this.buf.subarray(end + 4);
    if (status !== "200") throw new Error(`CONNECT refused: ${status}`);
  }
  close(): void {
    this.socket.destroy();
  }
}

function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function openSocket(target: { path: string } | { host: string; port: number }): Promise<Socket> {
  const socket = "path" in target ? netConnect({ path: target.path }) : netConnect({ host: target.host, port: target.port });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return socket;
}

async function runClient(mode: Mode, serverPort: number, socketPath: string): Promise<ClientResult> {
  const authority = `${HOST}:${String(serverPort)}`;
  const proxyUrl = process.env.HTTP_PROXY;
  const open = async (): Promise<RawHttp> => {
    if (mode === "direct") return new RawHttp(await openSocket({ host: "127.0.0.1", port: serverPort }));
    if (mode === "socket") return new RawHttp(await openSocket({ path: socketPath }));
    if (proxyUrl === undefined) throw new Error("HTTP_PROXY is not set: run through the bridge");
    const url = new URL(proxyUrl);
    const client = new RawHttp(await openSocket({ host: url.hostname, port: Number(url.port) }));
    if (mode === "tunnel") await client.connectTunnel(authority);
    return client;
  };
  // Origin-form inside a tunnel, direct or through the bare relay; absolute form to the proxy.
  const target = (path: string): string => (mode === "forward" || mode === "socket" ? `http://${authority}${path}` : path);
  // In relay mode the bridge's "proxy" is a bare pipe to the server: requests go as to the server itself.
  const head = (path: string): string => `GET ${target(path)} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;

  let best = 0;
  for (let i = 0; i < TRANSFERS; i += 1) {
    const client = await open();
    const t0 = performance.now();
    const res = await client.request(head("/big"));
    const ms = performance.now() - t0;
    client.close();
    if (res.status !== 200 || res.bytes !== BIG_BYTES) throw new Error(`${mode}: big transfer got ${String(res.status)} / ${String(res.bytes)} bytes`);
    best = Math.max(best, BIG_BYTES / 1e6 / (ms / 1000));
  }
  const client = await open();
  const small = head("/small");
  for (let i = 0; i < WARMUP_REQUESTS; i += 1) await client.request(small);
  const samples: number[] = [];
  for (let i = 0; i < SMALL_REQUESTS; i += 1) {
    const t0 = process.hrtime.bigint();
    const res = await client.request(small);
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
    if (res.status !== 200) throw new Error(`${mode}: small request got ${String(res.status)}`);
  }
  client.close();
  return { mode, mbPerSecond: best, p50Us: percentile(samples, 50), p99Us: percentile(samples, 99) };
}

// --- the server (a worker thread) and the orchestration ------------------------------------------

const SERVER_CODE = `
const http = require("node:http");
const { parentPort } = require("node:worker_threads");
const chunk = Buffer.alloc(1024 * 1024, 0x61);
const server = http.createServer({ keepAliveTimeout: 60000 }, (req, res) => {
  if (req.url === "/big") {
    res.writeHead(200, { "Content-Length": String(${String(BIG_BYTES)}) });
    let left = ${String(BIG_BYTES / (1024 * 1024))};
    const pump = () => {
      while (left > 0) { left -= 1; if (!res.write(chunk)) { res.once("drain", pump); return; } }
      res.end();
    };
    pump();
  } else {
    res.writeHead(200, { "Content-Length": "2" });
    res.end("ok");
  }
});
server.listen(0, "127.0.0.1", () => parentPort.postMessage(server.address().port));
parentPort.on("message", (m) => { if (m === "stop") { server.closeAllConnections(); server.close(); } });
`;

function runChild(argv: readonly string[]): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) {
        reject(new Error(`bench client exited ${String(code)}: ${out}`));
        return;
      }
      resolve(JSON.parse(out.trim().split("\n").pop() ?? "{}") as ClientResult);
    });
  });
}

const fmtUs = (us: number): string => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(0)} µs`);
const fmtDelta = (us: number): string => (us >= 0 ? `+${fmtUs(us)}` : `-${fmtUs(-us)}`);

/** Runs every mode and returns rows in bench/run.ts's shape. */
export async function egressBench(): Promise<EgressBenchRow[]> {
  const self = fileURLToPath(import.meta.url);
  const worker = new Worker(SERVER_CODE, { eval: true });
  const serverPort = await new Promise<number>((resolve) => worker.once("message", resolve));
  const dir = mkdtempSync(join(tmpdir(), "aegisclaw-egress-bench-"));
  const socketPath = join(dir, "egress.sock");
  const proxy = await EgressProxy.start({
    socketPath,
    allow: parseAllowlist([`${HOST}:${String(serverPort)}`]),
    resolve: (host) => Promise.resolve(host === HOST ? ["127.0.0.1"] : []),
    allowPrivate: ["127.0.0.1/32"],
  });
  // The bare relay: what the proxy's position costs with no HTTP parsing and no checks at all.
  const relayPath = join(dir, "relay.sock");
  const relay: Server = createNetServer((c) => {
    const u = netConnect({ host: "127.0.0.1", port: serverPort });
    u.setNoDelay(true);
    c.pipe(u).pipe(c);
    c.on("error", () => u.destroy());
    u.on("error", () => c.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(relayPath, resolve));
  try {
    const clientArgs = (mode: Mode): string[] => [self, "--client", mode, String(serverPort), socketPath];
    const viaBridge = (mode: Mode, socket = socketPath): string[] => [bridgeScriptPath(), "--socket", socket, "--port", "0", "--", process.execPath, ...clientArgs(mode)];
    // Two rounds, best of each mode, so a burst of noise on this shared machine does not decide a row.
    const best = (a: ClientResult | undefined, b: ClientResult): ClientResult =>
      a === undefined ? b : { mode: b.mode, mbPerSecond: Math.max(a.mbPerSecond, b.mbPerSecond), p50Us: Math.min(a.p50Us, b.p50Us), p99Us: Math.min(a.p99Us, b.p99Us) };
    const results = new Map<Mode, ClientResult>();
    for (let round = 0; round < 2; round += 1) {
      for (const [mode, argv] of [
        ["direct", clientArgs("direct")],
        ["relay", viaBridge("relay", relayPath)],
        ["tunnel", viaBridge("tunnel")],
        ["forward", viaBridge("forward")],
        ["socket", clientArgs("socket")],
      ] as const) {
        results.set(mode, best(results.get(mode), await runChild(argv)));
      }
    }
    const get = (mode: Mode): ClientResult => {
      const r = results.get(mode);
      if (r === undefined) throw new Error(`no result for ${mode}`);
      return r;
    };
    const [direct, relayed, tunnel, forward, socket] = [get("direct"), get("relay"), get("tunnel"), get("forward"), get("socket")];
    const stats = proxy.stats();
    if (stats.denied !== 0) throw new Error("the bench's own requests were denied");

    const rows: EgressBenchRow[] = [];
    const throughput = (r: ClientResult, label: string, goal: boolean): void => {
      const ratio = r.mbPerSecond / direct.mbPerSecond;
      const floor = goal ? `; bare relay ${relayed.mbPerSecond.toFixed(0)} MB/s (${((r.mbPerSecond / relayed.mbPerSecond) * 100).toFixed(0)} % of it)` : "";
      rows.push({ what: `egress 64 MiB ${label}`, value: `${r.mbPerSecond.toFixed(0)} MB/s`, baseline: `direct ${direct.mbPerSecond.toFixed(0)} MB/s${floor}`, ratio: `${(ratio * 100).toFixed(0)} %`, goal: goal ? "≥ 80 %" : "-", met: !goal || ratio >= 0.8 });
    };
    const latency = (r: ClientResult, label: string, goal: boolean): void => {
      const d50 = r.p50Us - direct.p50Us;
      const d99 = r.p99Us - direct.p99Us;
      rows.push({
        what: `egress 1,000 small requests ${label}, p50/p99`,
        value: `${fmtUs(r.p50Us)} / ${fmtUs(r.p99Us)}`,
        baseline: `direct ${fmtUs(direct.p50Us)} / ${fmtUs(direct.p99Us)}`,
        ratio: `${fmtDelta(d50)} / ${fmtDelta(d99)}`,
        goal: goal ? "≤ +1 ms (p50)" : "-",
        // The figure is per request: the typical (p50) added latency. p99 is shown; on a machine with fewer
        // cores than the path has processes, it mostly measures the scheduler.
        met: !goal || d50 <= 1000,
      });
    };
    throughput(tunnel, "via bridge+proxy, CONNECT tunnel", true);
    throughput(forward, "via bridge+proxy, plain-HTTP forward", true);
    throughput(relayed, "  bare two-hop relay, no proxy logic (topology floor)", false);
    throughput(socket, "  proxy socket only (no bridge), plain-HTTP forward", false);
    latency(tunnel, "via bridge+proxy, in one CONNECT tunnel", true);
    latency(forward, "via bridge+proxy, plain-HTTP forward", true);
    latency(relayed, "  bare two-hop relay (topology floor)", false);
    latency(socket, "  proxy socket only (no bridge), plain-HTTP forward", false);
    return rows;
  } finally {
    relay.close();
    await proxy.close();
    worker.postMessage("stop");
    await worker.terminate();
    rmSync(dir, { recursive: true, force: true });
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain && process.argv[2] === "--client") {
  const [, , , mode, port, socketPath] = process.argv;
  const result = await runClient(mode as Mode, Number(port), socketPath ?? "");
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} else if (isMain) {
  const rows = await egressBench();
  if (process.argv.includes("--json")) {
    process.stdout.write(`${JSON.stringify({ node: process.versions.node, rows }, null, 2)}\n`);
  } else {
    const table = [["what", "value", "baseline (same run)", "ratio", "goal", ""], ...rows.map((r) => [r.what, r.value, r.baseline, r.ratio, r.goal, r.goal === "-" ? "" : r.met ? "met" : "MISSED"])];
    const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => (row[i] ?? "").length))) ?? [];
    for (const row of table) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")}\n`);
    process.stdout.write(`\nNode ${process.versions.node}, ${new Date().toISOString()}\n`);
  }
}
