/**
 * Fixtures for egress proxy tests. Every byte stays on loopback: test host
 * names resolve through an injected resolver, and the injected `connect`
 * records every call and refuses (failing the test) to open anything but
 * 127.0.0.1 — a refused address must never reach it at all.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer as createHttpServer, request as httpRequest, type Agent, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { EgressProxy, parseAllowlist, type EgressDecision, type EgressFlow, type EgressProxyOptions } from "../../../src/sandbox/egress/index.ts";
import { tempDir } from "../../helpers/tmp.ts";

export interface ConnectCall {
  readonly address: string;
  readonly port: number;
}

export interface ProxyWorld {
  readonly proxy: EgressProxy;
  readonly socketPath: string;
  readonly decisions: EgressDecision[];
  readonly flows: EgressFlow[];
  /** Every call the proxy made to `connect`, refused ones included. */
  readonly connectCalls: ConnectCall[];
  /** Names the proxy asked the resolver about, in order. */
  readonly lookups: string[];
}

export interface WorldOptions extends Partial<Omit<EgressProxyOptions, "allow" | "socketPath" | "resolve" | "connect">> {
  readonly allow: readonly string[];
  /** Test DNS: name → answers (or a function giving this lookup's answers). Unknown names fail to resolve (ENOTFOUND). */
  readonly hosts?: Readonly<Record<string, readonly string[] | (() => readonly string[])>>;
  /** Addresses the proxy may connect to, and where each really goes (always loopback). Default: 127.0.0.1 → 127.0.0.1. */
  readonly reachable?: Readonly<Record<string, string>>;
}

export async function startProxy(t: TestContext, options: WorldOptions): Promise<ProxyWorld> {
  const dir = tempDir(t, "aegisclaw-egress-");
  const socketPath = join(dir, "egress.sock");
  const decisions: EgressDecision[] = [];
  const flows: EgressFlow[] = [];
  const connectCalls: ConnectCall[] = [];
  const lookups: string[] = [];
  const hosts = options.hosts ?? {};
  const reachable = options.reachable ?? { "127.0.0.1": "127.0.0.1" };
  const { allow, hosts: _h, reachable: _r, ...rest } = options;
  const proxy = await EgressProxy.start({
    ...rest,
    socketPath,
    allow: parseAllowlist(allow),
    resolve: (host) => {
      lookups.push(host);
      const entry = hosts[host];
      const answers = typeof entry === "function" ? entry() : entry;
      if (answers === undefined) return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" }));
      return Promise.resolve([...answers]);
    },
    connect: (address, port) => {
      connectCalls.push({ address, port });
      const target = reachable[address];
      if (target === undefined) throw new Error(`test fixture: the proxy tried to connect to ${address}:${String(port)}, which it must never reach`);
      assert.equal(target, "127.0.0.1", "fixtures only ever connect to loopback");
      return netConnect({ host: target, port });
    },
    onDecision: (e) => {
      decisions.push(e);
      options.onDecision?.(e);
    },
    onFlowEnd: (f) => {
      flows.push(f);
    },
  });
  t.after(() => proxy.close());
  return { proxy, socketPath, decisions, flows, connectCalls, lookups };
}

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: string;
}

/** A loopback HTTP server that records what reaches it. */
export async function httpServer(t: TestContext, handler?: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ port: number; seen: SeenRequest[] }> {
  const seen: SeenRequest[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, rawHeaders: req.rawHeaders, body });
      if (handler) handler(req, res, body);
      else res.end(`hello from ${req.url ?? ""}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, seen };
}

/** A loopback TCP server that echoes and counts what it receives. */
export async function tcpServer(t: TestContext, opts: { echo?: boolean; greeting?: string } = {}): Promise<{ port: number; received: () => number; accepted: () => number }> {
  let received = 0;
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    accepted += 1;
    sockets.add(s);
    s.on("error", () => undefined);
    s.on("close", () => sockets.delete(s));
    if (opts.greeting !== undefined) s.write(opts.greeting);
    s.on("data", (c: Buffer) => {
      received += c.length;
      if (opts.echo === true) s.write(c);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, received: () => received, accepted: () => accepted };
}

export interface ProxyResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One request through the proxy's socket, in absolute form. */
export function proxyRequest(socketPath: string, target: string, options: { method?: string; headers?: Record<string, string>; body?: string; agent?: Agent } = {}): Promise<ProxyResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, path: target, method: options.method ?? "GET", headers: options.headers ?? {}, ...(options.agent ? { agent: options.agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

/** Writes raw bytes to the proxy socket and collects everything until the proxy closes (or `ms` passes). */
export function rawExchange(socketPath: string, bytes: string | Buffer, ms = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = netConnect({ path: socketPath });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => s.destroy(), ms);
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", () => undefined);
    s.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
    s.write(bytes);
  });
}

export interface Tunnel {
  readonly status: number;
  /** The full response head (and body, for refusals). */
  readonly response: string;
  /** The connected socket, positioned after the 200 response; undefined when refused. */
  readonly socket: Socket | undefined;
}

/** Sends CONNECT and waits for the proxy's answer. */
export function openTunnel(socketPath: string, authority: string): Promise<Tunnel> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ path: socketPath });
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = buf.subarray(0, end).toString("latin1");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? "0");
      if (status === 200) {
        s.off("data", onData);
        s.pause();
        const rest = buf.subarray(end + 4);
        if (rest.length > 0) s.unshift(rest);
        resolve({ status, response: head, socket: s });
      } else {
        s.off("data", onData);
        const chunks: Buffer[] = [buf];
        s.on("data", (d: Buffer) => {
          chunks.push(d);
        });
        s.on("close", () => {
          resolve({ status, response: Buffer.concat(chunks).toString("latin1"), socket: undefined });
        });
      }
    };
    s.on("data", onData);
    s.on("error", reject);
    s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  });
}

/** Resolves when the socket closes; with the bytes it received before. */
export function untilClosed(s: Socket, ms = 3000): Promise<{ closed: boolean; data: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ closed: false, data: Buffer.concat(chunks).toString("latin1") });
    }, ms);
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", () => undefined);
    s.once("close", () => {
      clearTimeout(timer);
      resolve({ closed: true, data: Buffer.concat(chunks).toString("latin1") });
    });
    s.resume();
  });
}

export interface TlsFixture {
  readonly key: string;
  readonly cert: string;
}

/** A self-signed certificate for the given names, made with openssl; undefined when openssl is absent. */
export function selfSignedCert(t: TestContext, names: readonly string[]): TlsFixture | undefined {
  const openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].find((p) => existsSync(p));
  if (openssl === undefined) return undefined;
  const dir = tempDir(t, "aegisclaw-tls-");
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  const san = names.map((n) => `DNS:${n}`).join(",");
  execFileSync(openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", `/CN=${names[0] ?? "test"}`, "-addext", `subjectAltName=${san}`], { stdio: "ignore" });
  return { key: readFileSync(key, "utf8"), cert: readFileSync(cert, "utf8") };
}
