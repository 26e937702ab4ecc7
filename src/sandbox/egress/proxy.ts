/**
 * The default-deny egress proxy: the only way out of a sandbox whose network
 * namespace is empty. It listens on a UNIX socket (mode 0600) that the sandbox
 * backend bind-mounts inside, where `bridge.ts` exposes it on 127.0.0.1.
 *
 * Every request is judged on its own, in this order:
 *  1. the host (and port, and for plain HTTP the method and path) against the
 *     skill's allowlist (`allowlist.ts`); an IP literal only through an entry
 *     that names it;
 *  2. the name is resolved once, and refused if *any* answer is not a public
 *     unicast address (loopback, private, link-local, metadata, CGNAT,
 *     unique-local, multicast, reserved…) unless the operator's `allowPrivate`
 *     covers it — metadata addresses only when `allowPrivate` names that exact
 *     address;
 *  3. the proxy connects to the first checked address. It never resolves the
 *     name a second time, so a DNS answer that changes between check and
 *     connect (rebinding) changes nothing.
 *
 * Two kinds of request:
 *  - `CONNECT host:port`: a tunnel; TLS passes through unmodified. Before any
 *    client byte is forwarded, the proxy reads the TLS ClientHello: if it
 *    names a server (SNI), that name must be the CONNECT host, else both ends
 *    are closed and a violation recorded (domain fronting). A ClientHello
 *    without SNI, or a stream that is not TLS at all, passes: the host and
 *    port were already judged, and what runs inside the tunnel is opaque (so
 *    a Host header inside it goes unseen; `requireSni` insists on TLS with
 *    SNI in every tunnel).
 *  - absolute-URI HTTP (`GET http://host/path HTTP/1.1`): the Host header
 *    is rewritten to the URI's authority (a Host naming another site would
 *    be fronting); hop-by-hop headers (Connection and the headers it lists,
 *    Keep-Alive, Proxy-Authorization, Proxy-Connection, TE, Trailer,
 *    Upgrade, Expect) are removed; the body keeps its framing; the path is
 *    forwarded in the normal form that was checked (`/v1/../admin` is
 *    checked and sent as `/admin`). Client connections are kept alive and
 *    every request on them is judged afresh (allowlist, one resolution,
 *    address check). An upstream connection a request leaves open is reused
 *    only by a later request on the same client connection, and only if
 *    that request was allowed to the same address and port; others open
 *    their own. (On this machine kind a loopback TCP connect costs ~250 µs,
 *    so a connection per request alone would spend much of the +1 ms budget.)
 *
 * Refusals answer `403 Forbidden` with `X-AegisClaw-Denied: 1` and a
 * plain-text body naming the host and the reason; malformed requests 400,
 * oversized headers 431, requests for other schemes 400, upgrades over plain
 * HTTP 501, upstream failures 502/504. Every decision and violation is passed
 * to `onDecision`. Bytes are counted per host in both directions; with
 * `maxBytes`, the proxy carries at most that many bytes in total (both
 * directions, all connections: one proxy serves one sandbox run) — the
 * connection that crosses the cap is closed, and later requests are refused.
 */
import { chmod, lstat, unlink } from "node:fs/promises";
import { Agent, createServer, request as httpRequest, type ClientRequestArgs, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect as netConnect, type Socket } from "node:net";
import { lookup } from "node:dns/promises";
import type { Duplex } from "node:stream";
import { AegisError, errorMessage } from "../../errors.ts";
import { classifyAddress, cidrContains, formatIp, parseCidr, parseIp, unmapIp, type AddressClass, type Cidr, type IpAddress } from "./addresses.ts";
import { canonicalHost, matchAllow, type AllowRule } from "./allowlist.ts";
import { MAX_CLIENT_HELLO_BYTES, peekClientHello } from "./sni.ts";

export interface EgressDecision {
  readonly allowed: boolean;
  /** What was judged: a CONNECT tunnel, a plain-HTTP request, a tunnel's TLS server name, or the byte cap. */
  readonly kind: "connect" | "http" | "sni" | "bytes";
  /** The host as canonicalised (lower case, punycode, IP in canonical form), or as received when invalid. */
  readonly host: string;
  readonly port: number;
  readonly method?: string;
  readonly path?: string;
  /** The address connected to (allowed) or refused (a non-public answer). */
  readonly address?: string;
  /** The allowlist entry that admitted the request. */
  readonly rule?: string;
  readonly reason: string;
  /** The HTTP status the client got, for refusals. */
  readonly status?: number;
}

export interface EgressViolation {
  readonly kind: "sni" | "bytes";
  readonly host: string;
  readonly port: number;
  readonly message: string;
}

export interface EgressFlow {
  readonly kind: "connect" | "http";
  readonly host: string;
  readonly port: number;
  readonly address: string;
  readonly bytesUp: number;
  readonly bytesDown: number;
}

export interface EgressStats {
  /** Client connections accepted on the socket. */
  readonly connections: number;
  /** Requests and tunnels judged. */
  readonly requests: number;
  /** Refused by policy (403): not allowlisted, non-public address, byte budget used up. */
  readonly denied: number;
  /** Allowed by policy but not carried out: unresolvable, unreachable, timed out (502/504), invalid host (400). */
  readonly failed: number;
  readonly violations: readonly EgressViolation[];
  /** Bytes sent upstream (requests, tunnel client→server), headers included. */
  readonly bytesUp: number;
  /** Bytes received from upstream (responses, tunnel server→client), headers included. */
  readonly bytesDown: number;
  readonly byHost: Readonly<Record<string, { readonly up: number; readonly down: number }>>;
}

export interface EgressProxyOptions {
  readonly socketPath: string;
  readonly allow: readonly AllowRule[];
  /** Name → addresses. Default: the system resolver (`dns.promises.lookup`, all answers). Called once per request. */
  readonly resolve?: (host: string) => Promise<string[]>;
  /** Opens the upstream TCP connection to a checked address. Default `net.connect`. */
  readonly connect?: (address: string, port: number) => Socket;
  /** CIDR blocks (or single addresses) of non-public space that may be reached, e.g. a local model server. */
  readonly allowPrivate?: readonly string[];
  readonly onDecision?: (event: EgressDecision) => void;
  /** Called when an upstream connection ends, with its byte counts. */
  readonly onFlowEnd?: (flow: EgressFlow) => void;
  /** The most bytes, both directions and all connections together, this proxy carries. */
  readonly maxBytes?: number;
  /** Largest request head (request line + headers) accepted; beyond it, 431. Default 16 KiB. */
  readonly maxHeaderBytes?: number;
  /** Time allowed for DNS resolution and for the upstream TCP connect, each. Default 10 s. */
  readonly upstreamTimeoutMs?: number;
  /** Most client connections open at once; more are refused at accept. Default 256. */
  readonly maxConnections?: number;
  /**
   * Tunnels must begin with a TLS ClientHello that names the CONNECT host. Off by default:
   * then a ClientHello without SNI, or a stream that is not TLS, passes (see the module comment).
   */
  readonly requireSni?: boolean;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade", "expect", "host"]);
const STATUS_TEXT: Record<number, string> = { 400: "Bad Request", 403: "Forbidden", 408: "Request Timeout", 431: "Request Header Fields Too Large", 501: "Not Implemented", 502: "Bad Gateway", 504: "Gateway Timeout" };
const PREFIX = "aegisclaw egress: ";

async function systemResolve(host: string): Promise<string[]> {
  const answers = await lookup(host, { all: true, order: "verbatim" });
  return answers.map((a) => a.address);
}

function rawResponse(status: number, body: string, denied: boolean): string {
  const text = `${body}\n`;
  return [
    `HTTP/1.1 ${String(status)} ${STATUS_TEXT[status] ?? "Error"}`,
    "Content-Type: text/plain; charset=utf-8",
    `Content-Length: ${String(Buffer.byteLength(text))}`,
    ...(denied ? ["X-AegisClaw-Denied: 1"] : []),
    "Connection: close",
    "",
    text,
  ].join("\r\n");
}

/** Header names listed in Connection headers: hop-by-hop by declaration. */
function connectionListed(raw: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] ?? "").toLowerCase() !== "connection") continue;
    for (const token of (raw[i + 1] ?? "").split(",")) out.add(token.trim().toLowerCase());
  }
  return out;
}

function endToEndHeaders(raw: readonly string[]): string[] {
  const listed = connectionListed(raw);
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? "";
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed.has(lower)) continue;
    out.push(name, raw[i + 1] ?? "");
  }
  return out;
}

type Judgement =
  | { readonly ok: true; readonly host: string; readonly address: string; readonly rule: string }
  | { readonly ok: false; readonly host: string; readonly status: number; readonly reason: string; readonly address?: string };

class Timeout extends Error {}

/**
 * The keep-alive pool of one client connection. Its pool key is the checked
 * address and port (requests pass `host: address`), so a parked connection is
 * only ever reused for a request that was allowed to that same address and
 * port. New connections are the ones the proxy opened (and waited for) after
 * judging; if none is waiting, it connects to the checked address itself.
 */
class PinnedAgent extends Agent {
  private readonly opened = new Map<string, Socket[]>();
  private readonly connectTo: (address: string, port: number) => Socket;
  constructor(connectTo: (address: string, port: number) => Socket) {
    super({ keepAlive: true, maxFreeSockets: 2, timeout: 60_000 });
    this.connectTo = connectTo;
  }
  static key(address: string, port: number): string {
    return `${address}|${String(port)}`;
  }
  /** Whether a parked connection to this address and port is ready for reuse. */
  hasIdle(address: string, port: number): boolean {
    return (this.freeSockets[this.getName({ host: address, port })]?.length ?? 0) > 0;
  }
  /** Hands over a connection opened for the next request to this address and port. */
  offer(address: string, port: number, socket: Socket): void {
    const key = PinnedAgent.key(address, port);
    this.opened.set(key, [...(this.opened.get(key) ?? []), socket]);
  }
  override createConnection(options: ClientRequestArgs): Duplex {
    const address = options.host ?? "";
    const port = Number(options.port);
    const key = PinnedAgent.key(address, port);
    const queue = this.opened.get(key);
    const socket = queue?.shift();
    if (queue?.length === 0) this.opened.delete(key);
    return socket ?? this.connectTo(address, port);
  }
  override destroy(): void {
    for (const queue of this.opened.values()) for (const s of queue) s.destroy();
    this.opened.clear();
    super.destroy();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Timeout(`${what} took longer than ${String(ms)} ms`));
    }, ms);
  });
  return Promise.race([promise, expiry]).finally(() => {
    clearTimeout(timer);
  });
}

export class EgressProxy {
  readonly socketPath: string;
  private readonly server: Server;
  private readonly allow: readonly AllowRule[];
  private readonly resolve: (host: string) => Promise<string[]>;
  private readonly connectUpstream: (address: string, port: number) => Socket;
  private readonly allowPrivate: readonly Cidr[];
  private readonly onDecision: ((event: EgressDecision) => void) | undefined;
  private readonly onFlowEnd: ((flow: EgressFlow) => void) | undefined;
  private readonly maxBytes: number | undefined;
  private readonly timeoutMs: number;
  private readonly requireSni: boolean;
  private readonly sockets = new Set<Duplex>();
  /** Per client connection: the pool of upstream connections its plain-HTTP requests left open. */
  private readonly agents = new WeakMap<Duplex, PinnedAgent>();
  /** Upstream bytes already counted, per upstream connection (kept-alive connections carry several requests). */
  private readonly lastWritten = new WeakMap<Socket, number>();
  private closed = false;
  private connections = 0;
  private requests = 0;
  private denied = 0;
  private failed = 0;
  private bytesUp = 0;
  private bytesDown = 0;
  private readonly violations: EgressViolation[] = [];
  private readonly byHost = new Map<string, { up: number; down: number }>();

  private constructor(options: EgressProxyOptions) {
    this.socketPath = options.socketPath;
    this.allow = [...options.allow];
    this.resolve = options.resolve ?? systemResolve;
    this.connectUpstream = options.connect ?? ((address, port) => netConnect({ host: address, port }));
    this.allowPrivate = (options.allowPrivate ?? []).map((c) => parseCidr(c, "allowPrivate entry"));
    this.onDecision = options.onDecision;
    this.onFlowEnd = options.onFlowEnd;
    if (options.maxBytes !== undefined && !(Number.isSafeInteger(options.maxBytes) && options.maxBytes > 0)) {
      throw new AegisError("CONFIG_INVALID", `egress maxBytes must be a positive integer, got ${String(options.maxBytes)}`);
    }
    this.maxBytes = options.maxBytes;
    this.timeoutMs = options.upstreamTimeoutMs ?? 10_000;
    this.requireSni = options.requireSni ?? false;
    this.server = createServer({
      maxHeaderSize: options.maxHeaderBytes ?? 16 * 1024,
      requireHostHeader: false, // the Host header is ignored and rewritten anyway
      requestTimeout: 0, // long uploads are the sandbox's timeout to stop, not ours
      headersTimeout: 30_000,
      keepAliveTimeout: 5_000,
    });
    this.server.maxConnections = options.maxConnections ?? 256;
    this.server.on("connection", (socket: Socket) => {
      this.connections += 1;
      this.track(socket);
      socket.once("close", () => {
        this.agents.get(socket)?.destroy();
        this.agents.delete(socket);
      });
    });
    this.server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      this.handleHttp(req, res).catch((err: unknown) => {
        this.failHttp(res, 502, `${PREFIX}internal error: ${errorMessage(err)}`);
      });
    });
    this.server.on("connect", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.handleConnect(req, socket, head).catch((err: unknown) => {
        socket.destroy(err instanceof Error ? err : undefined);
      });
    });
    this.server.on("upgrade", (_req: IncomingMessage, socket: Duplex) => {
      socket.end(rawResponse(501, `${PREFIX}protocol upgrades (WebSocket) over plain http:// are not proxied; use wss:// or https://, which go through CONNECT`, false));
    });
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (!socket.writable || err.code === "ECONNRESET") {
        socket.destroy();
        return;
      }
      const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "HPE_HEADERS_TIMEOUT" || err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
      const why = status === 431 ? "the request head is larger than the proxy accepts" : status === 408 ? "the request head did not arrive in time" : `malformed request (${err.code ?? err.message})`;
      socket.end(rawResponse(status, `${PREFIX}${why}`, false));
    });
  }

  /** Starts a proxy listening on `socketPath` (which must not exist yet), mode 0600. */
  static async start(options: EgressProxyOptions): Promise<EgressProxy> {
    const proxy = new EgressProxy(options);
    const existing = await lstat(options.socketPath).catch(() => undefined);
    if (existing !== undefined) {
      throw new AegisError("EXECUTOR_REFUSED", `egress proxy socket ${options.socketPath} already exists; remove it if no proxy is using it, or choose another path`);
    }
    await new Promise<void>((resolve, reject) => {
      proxy.server.once("error", reject);
      proxy.server.listen(options.socketPath, () => {
        proxy.server.off("error", reject);
        resolve();
      });
    }).catch((err: unknown) => {
      throw new AegisError("EXECUTOR_REFUSED", `egress proxy cannot listen on ${options.socketPath}: ${errorMessage(err)}`, { cause: err });
    });
    // Only the owner (AegisClaw, and the sandbox it maps to the same user) may connect.
    // The socket's directory should also be private, which closes the window before this chmod.
    await chmod(options.socketPath, 0o600);
    return proxy;
  }

  stats(): EgressStats {
    const byHost: Record<string, { up: number; down: number }> = {};
    for (const [host, counts] of this.byHost) byHost[host] = { ...counts };
    return { connections: this.connections, requests: this.requests, denied: this.denied, failed: this.failed, violations: [...this.violations], bytesUp: this.bytesUp, bytesDown: this.bytesDown, byHost };
  }

  /** Stops listening, cuts every open connection, removes the socket file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    for (const s of this.sockets) s.destroy();
    this.server.closeAllConnections();
    await done;
    await unlink(this.socketPath).catch(() => undefined);
  }

  // --- bookkeeping -------------------------------------------------------------------------

  private track(socket: Duplex): void {
    this.sockets.add(socket);
    socket.on("error", () => undefined); // errors end the flow; they are reported through its callbacks
    socket.once("close", () => this.sockets.delete(socket));
  }

  private decide(event: EgressDecision): void {
    this.requests += 1;
    if (!event.allowed && event.status === 403) this.denied += 1;
    else if (!event.allowed) this.failed += 1;
    this.emit(event);
  }

  private emit(event: EgressDecision): void {
    try {
      this.onDecision?.(event);
    } catch {
      // A failing observer must not change what the proxy does.
    }
  }

  private violation(kind: "sni" | "bytes", host: string, port: number, message: string): void {
    if (this.violations.length < 1000) this.violations.push({ kind, host, port, message });
    this.emit({ allowed: false, kind, host, port, reason: message });
  }

  private budgetLeft(): boolean {
    return this.maxBytes === undefined || this.bytesUp + this.bytesDown < this.maxBytes;
  }

  /** Counts bytes for a host; false when the byte cap is now exceeded (the caller closes the flow). */
  private account(host: string, up: number, down: number): boolean {
    this.bytesUp += up;
    this.bytesDown += down;
    let counts = this.byHost.get(host);
    if (counts === undefined) {
      counts = { up: 0, down: 0 };
      this.byHost.set(host, counts);
    }
    counts.up += up;
    counts.down += down;
    return this.maxBytes === undefined || this.bytesUp + this.bytesDown <= this.maxBytes;
  }

  // --- judging -----------------------------------------------------------------------------

  private privateAllowed(ip: IpAddress, kind: AddressClass): boolean {
    if (kind === "metadata") {
      const single = unmapIp(ip);
      return this.allowPrivate.some((c) => c.prefix === (c.family === 4 ? 32 : 128) && cidrContains(c, single));
    }
    return this.allowPrivate.some((c) => cidrContains(c, ip));
  }

  private async judge(rawHost: string, port: number, method: string | undefined, path: string | undefined): Promise<Judgement> {
    const canonical = canonicalHost(rawHost);
    if (canonical === undefined) return { ok: false, host: rawHost, status: 400, reason: `${JSON.stringify(rawHost)} is not a valid host name` };
    const host = canonical.kind === "name" ? canonical.name : canonical.text;
    if (!this.budgetLeft()) {
      return { ok: false, host, status: 403, reason: `the byte budget for this run (${String(this.maxBytes)} bytes) is used up; no further connections are made` };
    }
    const match = matchAllow(this.allow, { host, port, ...(method === undefined ? {} : { method }), ...(path === undefined ? {} : { path }) });
    if (!match.allowed) return { ok: false, host, status: 403, reason: match.reason };

    let addresses: IpAddress[];
    if (canonical.kind === "ip") {
      addresses = [canonical.ip];
    } else {
      let answers: string[];
      try {
        answers = await withTimeout(this.resolve(canonical.name), this.timeoutMs, `resolving ${host}`);
      } catch (err) {
        return { ok: false, host, status: err instanceof Timeout ? 504 : 502, reason: `could not resolve ${host}: ${errorMessage(err)}` };
      }
      if (answers.length === 0) return { ok: false, host, status: 502, reason: `${host} has no addresses` };
      addresses = [];
      for (const answer of answers) {
        const ip = parseIp(answer);
        if (ip === undefined) return { ok: false, host, status: 502, reason: `the resolver answered ${JSON.stringify(answer)} for ${host}, which is not an IP address` };
        addresses.push(ip);
      }
    }
    for (const ip of addresses) {
      const kind = classifyAddress(ip);
      if (kind === "public" || this.privateAllowed(ip, kind)) continue;
      const shown = formatIp(ip);
      const subject = canonical.kind === "ip" ? `${host} is` : `${host} resolves to ${shown}, which is`;
      return {
        ok: false,
        host,
        status: 403,
        address: shown,
        reason: `${subject} ${kind === "unspecified" ? "an" : "a"} ${kind} address; the proxy connects only to public addresses${kind === "metadata" ? " (cloud metadata services are never reachable unless allowPrivate names that exact address)" : ", unless the operator lists the range in allowPrivate"}`,
      };
    }
    const first = addresses[0];
    if (first === undefined) return { ok: false, host, status: 502, reason: `${host} has no addresses` };
    return { ok: true, host, address: formatIp(unmapIp(first)), rule: match.rule.entry };
  }

  /** Opens the upstream connection to an already-checked address. */
  private async openUpstream(address: string, port: number): Promise<Socket> {
    if (this.closed) throw new Error("the egress proxy is closing");
    const socket = this.connectUpstream(address, port);
    this.track(socket);
    socket.setNoDelay(true);
    if (!socket.connecting && socket.readyState === "open") return socket;
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          socket.once("connect", resolve);
          socket.once("error", reject);
        }),
        this.timeoutMs,
        `connecting to ${address}:${String(port)}`,
      );
    } catch (err) {
      socket.destroy();
      throw err;
    }
    return socket;
  }

  // --- CONNECT -----------------------------------------------------------------------------

  private async handleConnect(req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    const authority = req.url ?? "";
    const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/?#@[\]\\]+):([0-9]{1,5})$/.exec(authority);
    const port = Number(m?.[2] ?? "0");
    if (m === null || port < 1 || port > 65535) {
      client.end(rawResponse(400, `${PREFIX}CONNECT needs host:port (got ${JSON.stringify(authority.slice(0, 200))})`, false));
      return;
    }
    const verdict = await this.judge(m[1] ?? "", port, undefined, undefined);
    if (!verdict.ok) {
      this.decide({ allowed: false, kind: "connect", host: verdict.host, port, reason: verdict.reason, status: verdict.status, ...(verdict.address === undefined ? {} : { address: verdict.address }) });
      client.end(rawResponse(verdict.status, `${PREFIX}${verdict.reason}`, verdict.status === 403));
      return;
    }
    let upstream: Socket;
    try {
      upstream = await this.openUpstream(verdict.address, port);
    } catch (err) {
      const status = err instanceof Timeout ? 504 : 502;
      const reason = `could not connect to ${verdict.host}:${String(port)} (${verdict.address}): ${errorMessage(err)}`;
      this.decide({ allowed: false, kind: "connect", host: verdict.host, port, address: verdict.address, reason, status });
      client.end(rawResponse(status, `${PREFIX}${reason}`, false));
      return;
    }
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    this.decide({ allowed: true, kind: "connect", host: verdict.host, port, address: verdict.address, rule: verdict.rule, reason: `allowed by ${verdict.rule}` });
    client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    this.tunnel(client, upstream, head, verdict.host, port, verdict.address);
  }

  private tunnel(client: Duplex, upstream: Socket, head: Buffer, host: string, port: number, address: string): void {
    let up = 0;
    let down = 0;
    let reported = false;
    let open = 2;
    const report = (): void => {
      if (reported) return;
      reported = true;
      this.onFlowEnd?.({ kind: "connect", host, port, address, bytesUp: up, bytesDown: down });
    };
    const abort = (): void => {
      client.destroy();
      upstream.destroy();
      report();
    };
    const count = (u: number, d: number): void => {
      up += u;
      down += d;
      if (!this.account(host, u, d)) {
        this.violation("bytes", host, port, `the byte cap of ${String(this.maxBytes)} bytes was exceeded; the tunnel to ${host}:${String(port)} was closed`);
        abort();
      }
    };
    client.on("error", abort);
    upstream.on("error", abort);
    // A clean end on one side is passed on by pipe(); a side that is gone takes the other with it.
    client.once("close", () => {
      upstream.destroy();
      if (--open === 0) report();
    });
    upstream.once("close", () => {
      if (!client.writableEnded) client.end();
      if (--open === 0) report();
    });

    // Server → client flows at once (some protocols speak first); client → server waits for the SNI check.
    upstream.on("data", (chunk: Buffer) => {
      count(0, chunk.length);
    });
    upstream.pipe(client);

    const peeked: Buffer[] = head.length > 0 ? [head] : [];
    let decided = false;
    // A client that half-closes before its first bytes are judged: nothing was held back worth sending.
    client.once("end", () => {
      if (!decided) upstream.end();
    });
    const judgeFirstBytes = (): void => {
      const buf = Buffer.concat(peeked);
      const hello = peekClientHello(buf);
      if (hello.state === "need-more" && buf.length <= MAX_CLIENT_HELLO_BYTES + 64) return;
      decided = true;
      client.off("data", onPeek);
      let refusal: string | undefined;
      if (hello.state === "need-more") refusal = `the TLS ClientHello sent to ${host}:${String(port)} is larger than the proxy reads`;
      else if (hello.state === "malformed") refusal = `the tunnel to ${host}:${String(port)} began with a malformed TLS ClientHello (${hello.reason})`;
      else if (hello.state === "client-hello" && hello.serverName !== undefined && hello.serverName !== host) {
        refusal = `the tunnel was opened to ${host}:${String(port)} but its TLS handshake asks for ${hello.serverName} (SNI); a tunnel may only carry the host it was allowed for`;
      } else if (this.requireSni && (hello.state !== "client-hello" || hello.serverName === undefined)) {
        refusal = `the tunnel to ${host}:${String(port)} did not begin with a TLS handshake naming ${host} (SNI), which this proxy requires`;
      }
      if (refusal !== undefined) {
        this.violation("sni", host, port, refusal);
        abort();
        return;
      }
      // Allowed: send what was held back, then stream.
      client.pause();
      count(buf.length, 0);
      if (client.destroyed) return;
      upstream.write(buf);
      client.on("data", (chunk: Buffer) => {
        count(chunk.length, 0);
      });
      client.pipe(upstream);
    };
    const onPeek = (chunk: Buffer): void => {
      peeked.push(chunk);
      judgeFirstBytes();
    };
    client.on("data", onPeek);
    if (head.length > 0) judgeFirstBytes();
  }

  // --- absolute-URI HTTP ---------------------------------------------------------------------

  private failHttp(res: ServerResponse, status: number, body: string, denied = false): void {
    if (res.destroyed || res.writableEnded) return;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const text = `${body}\n`;
    res.shouldKeepAlive = false;
    res.writeHead(status, {
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Length": Buffer.byteLength(text),
      Connection: "close",
      ...(denied ? { "X-AegisClaw-Denied": "1" } : {}),
    });
    res.end(text);
  }

  private async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.sendDate = false;
    const target = req.url ?? "";
    const method = req.method ?? "GET";
    if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(target)) {
      this.failHttp(res, 400, `${PREFIX}this is a proxy: send requests in absolute form (GET http://host/path) by setting HTTP_PROXY, or CONNECT host:port for HTTPS`);
      return;
    }
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      this.failHttp(res, 400, `${PREFIX}the request target is not a valid URL`);
      return;
    }
    if (url.protocol !== "http:") {
      this.failHttp(res, 400, `${PREFIX}only http:// URLs are forwarded in absolute form; ${url.protocol}// goes through CONNECT (set HTTPS_PROXY)`);
      return;
    }
    if (url.username !== "" || url.password !== "") {
      this.failHttp(res, 400, `${PREFIX}user info in the URL (user@host) is not forwarded; send an Authorization header instead`);
      return;
    }
    const port = url.port === "" ? 80 : Number(url.port);
    const hostname = url.hostname;
    const path = url.pathname;
    const verdict = await this.judge(hostname, port, method, path);
    if (!verdict.ok) {
      this.decide({ allowed: false, kind: "http", host: verdict.host, port, method, path, reason: verdict.reason, status: verdict.status, ...(verdict.address === undefined ? {} : { address: verdict.address }) });
      this.failHttp(res, verdict.status, `${PREFIX}${verdict.reason}`, verdict.status === 403);
      return;
    }
    // A connection parked by an earlier request on this client connection is reused only when
    // this request, judged afresh, was allowed to the same address and port.
    const agent = this.agentFor(req.socket);
    if (!agent.hasIdle(verdict.address, port)) {
      try {
        agent.offer(verdict.address, port, await this.openUpstream(verdict.address, port));
      } catch (err) {
        const status = err instanceof Timeout ? 504 : 502;
        const reason = `could not connect to ${verdict.host}:${String(port)} (${verdict.address}): ${errorMessage(err)}`;
        this.decide({ allowed: false, kind: "http", host: verdict.host, port, method, path, address: verdict.address, reason, status });
        this.failHttp(res, status, `${PREFIX}${reason}`);
        return;
      }
    }
    this.decide({ allowed: true, kind: "http", host: verdict.host, port, method, path, address: verdict.address, rule: verdict.rule, reason: `allowed by ${verdict.rule}` });
    this.forward(req, res, agent, url, verdict.host, port, verdict.address);
  }

  private agentFor(client: Duplex): PinnedAgent {
    let agent = this.agents.get(client);
    if (agent === undefined) {
      agent = new PinnedAgent((address, port) => {
        const socket = this.connectUpstream(address, port);
        this.track(socket);
        socket.setNoDelay(true);
        return socket;
      });
      this.agents.set(client, agent);
    }
    return agent;
  }

  private forward(req: IncomingMessage, res: ServerResponse, agent: PinnedAgent, url: URL, host: string, port: number, address: string): void {
    const headers = endToEndHeaders(req.rawHeaders);
    // The body keeps its framing: Content-Length survives the filter; chunked is re-declared.
    const chunked = /\bchunked\b/i.test(req.headers["transfer-encoding"] ?? "");
    const contentLength = req.headers["content-length"];
    const bodiless = !chunked && (contentLength === undefined || contentLength === "0");
    headers.push("Host", url.host);
    if (chunked) headers.push("Transfer-Encoding", "chunked");

    let up = 0;
    let down = 0;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      this.onFlowEnd?.({ kind: "http", host, port, address, bytesUp: up, bytesDown: down });
    };
    let current: Socket | undefined;
    res.once("close", () => {
      if (!res.writableFinished) current?.destroy();
    });

    const attempt = (retry: boolean): void => {
      let responded = false;
      let retrying = false;
      const upReq = httpRequest({ agent, host: address, port, method: req.method ?? "GET", path: `${url.pathname}${url.search}`, headers, setHost: false });
      upReq.on("socket", (upstream: Socket) => {
        current = upstream;
        let lastWritten = this.lastWritten.get(upstream) ?? 0;
        const syncUp = (): void => {
          const written = upstream.bytesWritten;
          const delta = written - lastWritten;
          lastWritten = written;
          this.lastWritten.set(upstream, written);
          if (delta <= 0) return;
          up += delta;
          if (!this.account(host, delta, 0)) capped();
        };
        const capped = (): void => {
          this.violation("bytes", host, port, `the byte cap of ${String(this.maxBytes)} bytes was exceeded; the request to ${host}:${String(port)} was cut off`);
          upstream.destroy();
          req.socket.destroy();
        };
        const onData = (chunk: Buffer): void => {
          down += chunk.length;
          if (!this.account(host, 0, chunk.length)) capped();
        };
        upstream.on("data", onData);
        req.on("data", syncUp);
        upReq.on("finish", syncUp);
        // 'close' comes once the exchange is over, before the agent parks or drops the connection.
        upReq.once("close", () => {
          syncUp();
          upstream.off("data", onData);
          req.off("data", syncUp);
          if (!retrying) finish();
        });
      });
      upReq.on("error", (err) => {
        // A parked connection the server closed while it sat idle: retry once on a new one,
        // when nothing of the client's request has been consumed (no body).
        if (upReq.reusedSocket && !retry && !responded && bodiless && !res.headersSent && !req.socket.destroyed) {
          retrying = true;
          attempt(true);
          return;
        }
        this.failHttp(res, 502, `${PREFIX}${host}:${String(port)} failed: ${errorMessage(err)}`);
        finish();
      });
      upReq.on("response", (upRes: IncomingMessage) => {
        responded = true;
        const out = endToEndHeaders(upRes.rawHeaders);
        res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, out);
        upRes.pipe(res);
        upRes.on("error", () => {
          res.destroy();
        });
      });
      if (bodiless) {
        req.resume();
        upReq.end();
      } else {
        req.pipe(upReq);
      }
    };
    attempt(false);
  }
}
