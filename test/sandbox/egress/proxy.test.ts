/**
 * The egress proxy doing its job for allowed traffic: plain HTTP forwarded
 * with the right headers and framing, keep-alive, HTTPS through CONNECT,
 * plain TCP through CONNECT, pinned addresses, byte counts, the socket's
 * lifecycle. All servers are on loopback; test names resolve through an
 * injected resolver and 127.0.0.1 is admitted with allowPrivate.
 */
import assert from "node:assert/strict";
import { statSync, existsSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect, createServer as createTlsServer } from "node:tls";
import { describe, test } from "node:test";
import { EgressProxy, parseAllowlist } from "../../../src/sandbox/egress/index.ts";
import { isAegis } from "../../helpers/errors.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { httpServer, openTunnel, proxyRequest, rawExchange, selfSignedCert, startProxy, tcpServer, untilClosed } from "./helpers.ts";

const LOOPBACK = ["127.0.0.1/32"];

describe("plain HTTP (absolute-URI requests)", () => {
  test("forwards an allowed request, rewriting Host to the URL's authority and dropping hop-by-hop headers", async (t) => {
    const server = await httpServer(t);
    const w = await startProxy(t, { allow: [`allowed.test:${String(server.port)}`], hosts: { "allowed.test": ["127.0.0.1"] }, allowPrivate: LOOPBACK });
    const res = await proxyRequest(w.socketPath, `http://allowed.test:${String(server.port)}/x/y?q=1`, {
      headers: { Host: "elsewhere.example", Connection: "keep-alive, X-Hop", "X-Hop": "secret-hop", "Proxy-Authorization": "Basic c2VjcmV0", "Proxy-Connection": "keep-alive", "Keep-Alive": "timeout=5", "X-End-To-End": "kept" },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body, "hello from /x/y?q=1");
    const seen = server.seen[0];
    assert.ok(seen);
    assert.equal(seen.url, "/x/y?q=1", "origin-form on the upstream connection");
    assert.equal(seen.headers.host, `allowed.test:${String(server.port)}`);
    assert.equal(seen.headers["x-end-to-end"], "kept");
    for (const h of ["x-hop", "proxy-authorization", "proxy-connection", "keep-alive"]) assert.equal(seen.headers[h], undefined, `${h} must not be forwarded`);
    assert.equal(seen.headers.connection, "keep-alive", "the proxy's own hop-by-hop header, not the client's");
    assert.deepEqual(w.connectCalls, [{ address: "127.0.0.1", port: server.port }]);
    const d = w.decisions[0];
    assert.equal(d?.allowed, true);
    assert.equal(d.kind, "http");
    assert.equal(d.rule, `allowed.test:${String(server.port)}`);
    assert.equal(d.address, "127.0.0.1");
  });

  test("request bodies keep their framing, Content-Length or chunked", async (t) => {
    const server = await httpServer(t, (_req, res, body) => res.end(`got ${String(body.length)}`));
    const w = await startProxy(t, { allow: [`POST allowed.test:${String(server.port)}/in`], hosts: { "allowed.test": ["127.0.0.1"] }, allowPrivate: LOOPBACK });
    const res = await proxyRequest(w.socketPath, `http://allowed.test:${String(server.port)}/in`, { method: "POST", body: "a".repeat(1000), headers: { "Content-Length": "1000" } });
    assert.equal(res.body, "got 1000");
    const raw = await rawExchange(w.socketPath, `POST http://allowed.test:${String(server.port)}/in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 200/);
    assert.match(raw, /got 11/);
    assert.equal(server.seen[1]?.body, "hello world");
    assert.equal(server.seen[1].headers["transfer-encoding"], "chunked");
  });

  test("keeps the client connection alive, judges every request on it, and reuses the upstream connection for the same address", async (t) => {
    const server = await httpServer(t);
    const w = await startProxy(t, { allow: [`a.test:${String(server.port)}`, `b.test:${String(server.port)}`], hosts: { "a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"] }, allowPrivate: LOOPBACK });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => {
      agent.destroy();
    });
    for (const host of ["a.test", "b.test", "a.test"]) {
      const res = await proxyRequest(w.socketPath, `http://${host}:${String(server.port)}/`, { agent });
      assert.equal(res.status, 200);
    }
    const stats = w.proxy.stats();
    assert.equal(stats.connections, 1, "one client connection");
    assert.equal(stats.requests, 3);
    assert.deepEqual(w.lookups, ["a.test", "b.test", "a.test"], "each request resolved (once) and judged on its own");
    assert.deepEqual(
      server.seen.map((s) => s.headers.host),
      [`a.test:${String(server.port)}`, `b.test:${String(server.port)}`, `a.test:${String(server.port)}`],
    );
    assert.equal(w.connectCalls.length, 1, "all three were allowed to 127.0.0.1 on one port: one upstream connection");
    assert.equal(w.flows.length, 3, "one flow per request");
  });

  test("a parked upstream connection is not reused for a request allowed to another address", async (t) => {
    const server = await httpServer(t);
    const w = await startProxy(t, {
      allow: [`a.test:${String(server.port)}`, `b.test:${String(server.port)}`],
      hosts: { "a.test": ["127.0.0.1"], "b.test": ["93.184.215.14"] },
      reachable: { "127.0.0.1": "127.0.0.1", "93.184.215.14": "127.0.0.1" },
      allowPrivate: LOOPBACK,
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => {
      agent.destroy();
    });
    for (const host of ["a.test", "b.test"]) assert.equal((await proxyRequest(w.socketPath, `http://${host}:${String(server.port)}/`, { agent })).status, 200);
    assert.deepEqual(
      w.connectCalls.map((c) => c.address),
      ["127.0.0.1", "93.184.215.14"],
    );
  });

  test("a kept-alive upstream connection the server dropped is retried once on a new one (requests without a body)", async (t) => {
    // Answers the first request on each connection, then drops the connection on the second without answering.
    let connections = 0;
    const server = createNetServer((s) => {
      connections += 1;
      let requests = 0;
      s.on("data", () => {
        requests += 1;
        if (requests === 1) s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        else s.destroy();
      });
      s.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => server.close());
    const port = (server.address() as AddressInfo).port;
    const w = await startProxy(t, { allow: [`flaky.test:${String(port)}`], hosts: { "flaky.test": ["127.0.0.1"] }, allowPrivate: LOOPBACK });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => {
      agent.destroy();
    });
    for (let i = 0; i < 2; i += 1) {
      const res = await proxyRequest(w.socketPath, `http://flaky.test:${String(port)}/`, { agent });
      assert.equal(res.status, 200);
      assert.equal(res.body, "ok");
    }
    assert.equal(connections, 2);
  });

  test("a public answer is connected to by that address, and the name is resolved exactly once", async (t) => {
    const server = await httpServer(t);
    // pub.test "resolves" to public addresses; the fixture's connect maps the first one onto the loopback server.
    const w = await startProxy(t, { allow: [`pub.test:${String(server.port)}`], hosts: { "pub.test": ["93.184.215.14", "93.184.215.15"] }, reachable: { "93.184.215.14": "127.0.0.1" } });
    const res = await proxyRequest(w.socketPath, `http://pub.test:${String(server.port)}/`);
    assert.equal(res.status, 200);
    assert.deepEqual(w.lookups, ["pub.test"]);
    assert.deepEqual(w.connectCalls, [{ address: "93.184.215.14", port: server.port }]);
  });

  test("upstream failures answer 502 with the reason; resolver failures too", async (t) => {
    const closed = createNetServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => {
      closed.close(() => {
        resolve();
      });
    });
    const w = await startProxy(t, { allow: [`allowed.test:${String(deadPort)}`, "unknown.test"], hosts: { "allowed.test": ["127.0.0.1"] }, allowPrivate: LOOPBACK });
    const res = await proxyRequest(w.socketPath, `http://allowed.test:${String(deadPort)}/`);
    assert.equal(res.status, 502);
    assert.match(res.body, /aegisclaw egress: could not connect to allowed\.test:\d+ \(127\.0\.0\.1\): .*ECONNREFUSED/);
    assert.equal(res.headers["x-aegisclaw-denied"], undefined, "a failure is not a policy denial");
    const res2 = await proxyRequest(w.socketPath, "http://unknown.test/");
    assert.equal(res2.status, 502);
    assert.match(res2.body, /could not resolve unknown\.test: getaddrinfo ENOTFOUND/);
    const stats = w.proxy.stats();
    assert.equal(stats.denied, 0, "failures are not policy denials");
    assert.equal(stats.failed, 2);
  });

  test("a throwing onDecision observer changes nothing", async (t) => {
    const server = await httpServer(t);
    const w = await startProxy(t, {
      allow: [`allowed.test:${String(server.port)}`],
      hosts: { "allowed.test": ["127.0.0.1"] },
      allowPrivate: LOOPBACK,
      onDecision: () => {
        throw new Error("observer failed");
      },
    });
    assert.equal((await proxyRequest(w.socketPath, `http://allowed.test:${String(server.port)}/`)).status, 200);
    assert.equal((await proxyRequest(w.socketPath, "http://other.test/")).status, 403);
  });

  test("bytes are counted per host and reported per flow", async (t) => {
    const big = "z".repeat(100 * 1024);
    const server = await httpServer(t, (_req, res) => res.end(big));
    const w = await startProxy(t, { allow: [`allowed.test:${String(server.port)}`], hosts: { "allowed.test": ["127.0.0.1"] }, allowPrivate: LOOPBACK });
    const res = await proxyRequest(w.socketPath, `http://allowed.test:${String(server.port)}/big`, { method: "POST", body: "u".repeat(5000), headers: { "Content-Length": "5000" } });
    assert.equal(res.body.length, big.length);
    const stats = w.proxy.stats();
    const host = stats.byHost["allowed.test"];
    assert.ok(host);
    assert.ok(host.down >= big.length && host.down < big.length + 1024, `down ${String(host.down)} counts the response with its head`);
    assert.ok(host.up >= 5000 && host.up < 5000 + 1024, `up ${String(host.up)} counts the request with its head`);
    assert.equal(stats.bytesDown, host.down);
    assert.equal(stats.bytesUp, host.up);
    await new Promise((r) => setTimeout(r, 50));
    const flow = w.flows[0];
    assert.ok(flow);
    assert.equal(flow.host, "allowed.test");
    assert.equal(flow.bytesDown, host.down);
    assert.equal(flow.bytesUp, host.up);
  });
});

describe("CONNECT tunnels", () => {
  test("HTTPS end to end: TLS passes through unmodified when the SNI is the CONNECT host", async (t) => {
    const tls = selfSignedCert(t, ["allowed.test"]);
    if (tls === undefined) {
      t.skip("openssl is not installed; the plain-TCP tunnel test covers CONNECT");
      return;
    }
    const server = createTlsServer({ key: tls.key, cert: tls.cert }, (s) => {
      s.on("error", () => undefined);
      s.end("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nhello, tls!\n");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => server.close());
    const port = (server.address() as AddressInfo).port;
    const w = await startProxy(t, { allow: [`allowed.test:${String(port)}`], hosts: { "allowed.test": ["127.0.0.1"] }, allowPrivate: LOOPBACK });
    const tunnel = await openTunnel(w.socketPath, `allowed.test:${String(port)}`);
    assert.equal(tunnel.status, 200);
    assert.ok(tunnel.socket);
    const secure = tlsConnect({ socket: tunnel.socket, servername: "allowed.test", ca: tls.cert });
    secure.write("GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n");
    const out = await untilClosed(secure);
    assert.equal(secure.authorized, true, "the client verified the real server's certificate: nothing in between");
    assert.match(out.data, /hello, tls!/);
    assert.equal(w.decisions[0]?.kind, "connect");
    assert.equal(w.decisions[0].allowed, true);
    assert.deepEqual(w.proxy.stats().violations, []);
  });

  test("plain TCP through a tunnel: the server may speak first, and non-TLS client bytes pass", async (t) => {
    const server = await tcpServer(t, { echo: true, greeting: "220 ready\r\n" });
    const w = await startProxy(t, { allow: [`smtp.test:${String(server.port)}`], hosts: { "smtp.test": ["127.0.0.1"] }, allowPrivate: LOOPBACK });
    const tunnel = await openTunnel(w.socketPath, `smtp.test:${String(server.port)}`);
    assert.ok(tunnel.socket);
    const s = tunnel.socket;
    const greeting = await new Promise<string>((resolve) => {
      s.once("data", (c: Buffer) => {
        resolve(c.toString());
      });
      s.resume();
    });
    assert.equal(greeting, "220 ready\r\n");
    const echoed = new Promise<string>((resolve) => {
      s.once("data", (c: Buffer) => {
        resolve(c.toString());
      });
    });
    s.write("EHLO me\r\n");
    assert.equal(await echoed, "EHLO me\r\n");
    s.end();
    await untilClosed(s);
    const stats = w.proxy.stats();
    assert.equal(stats.byHost["smtp.test"]?.up, 9);
    assert.equal(stats.byHost["smtp.test"].down, 11 + 9);
  });

});

describe("the socket", () => {
  test("listens with mode 0600 and is removed on close", async (t) => {
    const w = await startProxy(t, { allow: [] });
    assert.equal(statSync(w.socketPath).mode & 0o777, 0o600);
    await w.proxy.close();
    assert.equal(existsSync(w.socketPath), false);
    await w.proxy.close(); // idempotent
  });

  test("holds at most maxConnections client connections at once", async (t) => {
    const w = await startProxy(t, { allow: [], maxConnections: 2 });
    const open = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<Socket>((resolve) => {
            const s = netConnect({ path: w.socketPath }, () => {
              resolve(s);
            });
          }),
      ),
    );
    await new Promise((r) => setTimeout(r, 20));
    const third = netConnect({ path: w.socketPath });
    third.on("error", () => undefined);
    assert.equal((await untilClosed(third)).closed, true, "the third is closed at accept");
    assert.equal(w.proxy.stats().connections, 2);
    for (const s of open) s.destroy();
  });

  test("refuses to start on a path that already exists", async (t) => {
    const dir = tempDir(t);
    const path = join(dir, "taken.sock");
    writeFileSync(path, "");
    await assert.rejects(EgressProxy.start({ socketPath: path, allow: [] }), isAegis("EXECUTOR_REFUSED", /already exists/));
  });

  test("refuses invalid allowPrivate entries and byte caps", async (t) => {
    const dir = tempDir(t);
    await assert.rejects(EgressProxy.start({ socketPath: join(dir, "a.sock"), allow: [], allowPrivate: ["10.0.0.0/33"] }), isAegis("CONFIG_INVALID", /allowPrivate entry/));
    await assert.rejects(EgressProxy.start({ socketPath: join(dir, "b.sock"), allow: [], maxBytes: -1 }), isAegis("CONFIG_INVALID", /maxBytes/));
    assert.equal(parseAllowlist([]).length, 0);
  });
});
