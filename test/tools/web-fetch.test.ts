/**
 * web.fetch doing its job: GET through a per-call egress proxy (CONNECT, TLS
 * over the tunnel), HTML to text, JSON and text as they are, other types
 * described, size caps, same-origin redirects, cancellation. Every server is
 * on loopback; test host names resolve through an injected resolver and
 * 127.0.0.1 is admitted with allowPrivate, as the factory allows.
 */
import assert from "node:assert/strict";
import { mkdirSync, readdirSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect as netConnect, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { AuditLog } from "../../src/audit/log.ts";
import { createCheckpointSigner, generateCheckpointKey } from "../../src/audit/checkpoint.ts";
import { SqliteAuditStore } from "../../src/audit/sqlite-store.ts";
import { Envelope } from "../../src/envelope/envelope.ts";
import { LocalExecutor } from "../../src/envelope/local-executor.ts";
import { NO_SECRETS, NoApprover, NoSecretBroker } from "../../src/envelope/stages.ts";
import type { AnyTool, ToolOutput } from "../../src/envelope/tool.ts";
import { KnownSecretRedactor } from "../../src/guard/redact.ts";
import { DEFAULT_POLICY_YAML } from "../../src/policy/defaults.ts";
import { parsePolicy } from "../../src/policy/load.ts";
import { parseScope, type Scope } from "../../src/policy/scope.ts";
import { createWebFetchTool, htmlToText, MAX_DOWNLOAD_BYTES, webFetchTool, type WebFetchOptions } from "../../src/tools/web-fetch.ts";
import { tempDir } from "../helpers/tmp.ts";
import { selfSignedCert } from "../sandbox/egress/helpers.ts";

interface Net {
  readonly lookups: string[];
  readonly connects: string[];
}

/** web.fetch whose proxy resolves test names from `hosts` and only ever connects to loopback. */
function loopbackFetch(hosts: Readonly<Record<string, readonly string[]>>, extra: Omit<WebFetchOptions, "resolve" | "connect"> = {}): { tool: AnyTool; net: Net } {
  const net: Net = { lookups: [], connects: [] };
  const tool = createWebFetchTool({
    allowPrivate: ["127.0.0.1/32"],
    ...extra,
    resolve: (host) => {
      net.lookups.push(host);
      const answers = hosts[host];
      return answers === undefined ? Promise.reject(new Error(`getaddrinfo ENOTFOUND ${host}`)) : Promise.resolve([...answers]);
    },
    connect: (address, port): Socket => {
      net.connects.push(`${address}:${String(port)}`);
      if (address !== "127.0.0.1") throw new Error(`test fixture: refusing to connect to ${address}`);
      return netConnect({ host: address, port });
    },
  });
  return { tool, net };
}

function judge(tool: AnyTool, args: Record<string, unknown>): { args: Record<string, unknown>; scopes: Scope[] } {
  const parsed = tool.args.parse(args);
  return { args: parsed, scopes: tool.scopes(parsed, { workspace: "/" }).map((s) => parseScope(s)) };
}

function fetchWith(tool: AnyTool, args: Record<string, unknown>, signal = new AbortController().signal): Promise<ToolOutput> {
  const judged = judge(tool, args);
  return tool.run(judged.args, { workspace: "/", scopes: judged.scopes, dataDir: "/nonexistent", secrets: NO_SECRETS, signal, runProcess: () => Promise.reject(new Error("no processes")) });
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A loopback HTTP server answering by path; records the requests it saw. */
async function server(t: TestContext, routes: Readonly<Record<string, Handler>>): Promise<{ port: number; seen: { url: string; host: string }[] }> {
  const seen: { url: string; host: string }[] = [];
  const s = createHttpServer((req, res) => {
    seen.push({ url: req.url ?? "", host: req.headers.host ?? "" });
    const route = routes[(req.url ?? "").split("?")[0] ?? ""];
    if (route === undefined) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("no such page");
      return;
    }
    route(req, res);
  });
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    s.closeAllConnections();
    s.close();
  });
  return { port: (s.address() as AddressInfo).port, seen };
}

const send =
  (type: string | undefined, body: string | Buffer, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(200, { ...(type === undefined ? {} : { "content-type": type }), ...headers });
    res.end(body);
  };

const redirect =
  (to: string, status = 302): Handler =>
  (_req, res) => {
    res.writeHead(status, { location: to });
    res.end();
  };

describe("web.fetch: what comes back", () => {
  test("HTML is reduced to readable text: title, headings, list items, link text with its URL; scripts, styles, templates and SVG are dropped", async (t) => {
    const page = `<!doctype html><html><head><title>Release notes</title><style>.x{color:red}</style><script>window.secret = "SCRIPT-CONTENT"</script></head>
      <body><h1>Version 2</h1><p>Faster &amp; smaller &mdash; see <a href="/docs/changes?x=1&amp;y=2">the changes</a>.</p>
      <ul><li>one</li><li>two</li></ul><noscript>NOSCRIPT-CONTENT</noscript><template><p>TEMPLATE-CONTENT</p></template>
      <svg><text>SVG-CONTENT</text></svg><!-- COMMENT-CONTENT --><p>end&nbsp;of&#x20;page</p></body></html>`;
    const s = await server(t, { "/notes": send("text/html; charset=utf-8", page) });
    const { tool } = loopbackFetch({ "site.test": ["127.0.0.1"] });
    const out = await fetchWith(tool, { url: `http://site.test:${String(s.port)}/notes` });
    assert.equal(
      out.text,
      `Title: Release notes\n\n# Version 2\n\nFaster & smaller — see the changes (http://site.test:${String(s.port)}/docs/changes?x=1&y=2).\n\n- one\n- two\n\nend\u00a0of page`,
    );
    for (const hidden of ["SCRIPT", "NOSCRIPT", "TEMPLATE", "SVG", "COMMENT", "color:red"]) assert.ok(!out.text.includes(hidden), hidden);
    assert.equal(out.details?.status, 200);
    assert.equal(out.details.contentType, "text/html");
  });

  test("JSON and plain text come back exactly as sent", async (t) => {
    const json = '{"items":[1,2,3],"html":"<b>not parsed</b>"}';
    const s = await server(t, { "/api": send("application/json", json), "/txt": send("text/plain; charset=utf-8", "line 1\n  line 2 <b>\n") });
    const { tool } = loopbackFetch({ "site.test": ["127.0.0.1"] });
    assert.equal((await fetchWith(tool, { url: `http://site.test:${String(s.port)}/api` })).text, json);
    assert.equal((await fetchWith(tool, { url: `http://site.test:${String(s.port)}/txt` })).text, "line 1\n  line 2 <b>\n");
  });

  test("the charset the server declares is used to decode", async (t) => {
    const s = await server(t, { "/latin": send("text/plain; charset=iso-8859-1", Buffer.from([0x63, 0x61, 0x66, 0xe9])) });
    const { tool } = loopbackFetch({ "site.test": ["127.0.0.1"] });
    assert.equal((await fetchWith(tool, { url: `http://site.test:${String(s.port)}/latin` })).text, "café");
  });

  test("other content types are described by type and size, never returned as bytes", async (t) => {
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47]), Buffer.alloc(2048, 7)]);
    const s = await server(t, { "/logo.png": send("image/png", png, { "content-length": String(png.length) }), "/stream": send("application/octet-stream", png) });
    const { tool } = loopbackFetch({ "site.test": ["127.0.0.1"] });
    const out = await fetchWith(tool, { url: `http://site.test:${String(s.port)}/logo.png` });
    assert.match(out.text, /is image\/png \(2\.0 KiB\); web\.fetch returns text, HTML and JSON only/);
    assert.ok(!out.text.includes("PNG"));
    assert.match((await fetchWith(tool, { url: `http://site.test:${String(s.port)}/stream` })).text, /is application\/octet-stream \(size not given\)/);
  });

  test("a body with no declared type is sniffed: text is shown, binary is described", async (t) => {
    const s = await server(t, { "/plain": send(undefined, "just words"), "/bin": send(undefined, Buffer.from([1, 0, 2, 0, 3])), "/page": send(undefined, "<!DOCTYPE html><p>a <b>page</b></p>") });
    const { tool } = loopbackFetch({ "site.test": ["127.0.0.1"] });
    const base = `http://site.test:${String(s.port)}`;
    assert.equal((await fetchWith(tool, { url: `${base}/plain` })).text, "just words");
    assert.match((await fetchWith(tool, { url: `${base}/bin` })).text, /binary content with no declared type \(5 bytes\); it is not shown/);
    assert.equal((await fetchWith(tool, { url: `${base}/page` })).text, "a page");
  });

  test("what reaches the model is cut at max_chars (default 20,000) with a [truncated] note", async (t) => {
    const s = await server(t, { "/long": send("text/plain", "a".repeat(25_000)), "/short": send("text/plain", "0123456789") });
    const { tool } = loopbackFetch({ "site.test": ["127.0.0.1"] });
    const base = `http://site.test:${String(s.port)}`;
    const long = await fetchWith(tool, { url: `${base}/long` });
    assert.ok(long.text.startsWith("a".repeat(20_000) + "\n\n[truncated: the first 20000 of 25000 characters"));
    assert.equal(long.details?.truncated, true);
    const cut = await fetchWith(tool, { url: `${base}/short`, max_chars: 4 });
    assert.match(cut.text, /^0123\n\n\[truncated: the first 4 of 10 characters/);
  });

  test("a body larger than 2 MiB is not downloaded past the cap; what arrived is shown with a note", async (t) => {
    const s = await server(t, { "/big": send("text/plain", "b".repeat(MAX_DOWNLOAD_BYTES + 100_000)) });
    const { tool } = loopbackFetch({ "site.test": ["127.0.0.1"] });
    const out = await fetchWith(tool, { url: `http://site.test:${String(s.port)}/big`, max_chars: 100 });
    assert.match(out.text, /^\[the response is larger than 2\.0 MiB; only the first 2\.0 MiB were downloaded\]\n\nb{100}\n\n\[truncated/);
    assert.equal(out.details?.bytes, MAX_DOWNLOAD_BYTES);
  });

  test("a non-2xx status is reported along with the body", async (t) => {
    const s = await server(t, {});
    const { tool } = loopbackFetch({ "site.test": ["127.0.0.1"] });
    const out = await fetchWith(tool, { url: `http://site.test:${String(s.port)}/missing` });
    assert.equal(out.text, "[HTTP 404 Not Found]\n\nno such page");
  });

  test("gzip- and brotli-encoded bodies are decoded", async (t) => {
    const s = await server(t, {
      "/gz": send("text/plain", gzipSync("compressed words"), { "content-encoding": "gzip" }),
      "/br": send("text/plain", brotliCompressSync("brotli words"), { "content-encoding": "br" }),
      "/odd": send("text/plain", "x", { "content-encoding": "zstd-custom" }),
    });
    const { tool } = loopbackFetch({ "site.test": ["127.0.0.1"] });
    assert.equal((await fetchWith(tool, { url: `http://site.test:${String(s.port)}/gz` })).text, "compressed words");
    assert.equal((await fetchWith(tool, { url: `http://site.test:${String(s.port)}/br` })).text, "brotli words");
    await assert.rejects(fetchWith(tool, { url: `http://site.test:${String(s.port)}/odd` }), /encoded with zstd-custom, which web\.fetch does not decode/);
  });

  test("the request carries the URL's Host, path and query, and no credentials or cookies", async (t) => {
    let headers: IncomingMessage["headers"] = {};
    const s = await server(t, {
      "/q": (req, res) => {
        headers = req.headers;
        res.end("ok");
      },
    });
    const { tool } = loopbackFetch({ "site.test": ["127.0.0.1"] });
    await fetchWith(tool, { url: `http://SITE.test:${String(s.port)}/q?a=1&b=%20#frag` });
    assert.deepEqual(s.seen, [{ url: "/q?a=1&b=%20", host: `site.test:${String(s.port)}` }]);
    assert.equal(headers.authorization, undefined);
    assert.equal(headers.cookie, undefined);
    assert.equal(headers["proxy-authorization"], undefined);
  });
});

describe("web.fetch: redirects", () => {
  test("redirects within the same scheme, host and port are followed and reported", async (t) => {
    const s = await server(t, { "/a": redirect("/b", 301), "/b": redirect("c"), "/c": send("text/plain", "arrived") });
    const { tool } = loopbackFetch({ "site.test": ["127.0.0.1"] });
    const out = await fetchWith(tool, { url: `http://site.test:${String(s.port)}/a` });
    assert.equal(out.text, `[redirected to http://site.test:${String(s.port)}/c]\n\narrived`);
    assert.equal(out.details?.redirects, 2);
    assert.deepEqual(
      s.seen.map((r) => r.url),
      ["/a", "/b", "/c"],
    );
  });

  test("more than 5 redirects is an error", async (t) => {
    const s = await server(t, { "/loop": redirect("/loop") });
    const { tool } = loopbackFetch({ "site.test": ["127.0.0.1"] });
    await assert.rejects(fetchWith(tool, { url: `http://site.test:${String(s.port)}/loop` }), /redirected more than 5 times/);
    assert.equal(s.seen.length, 6);
  });

  test("a redirect to another host is not followed: the result says where it points, for a new call to be judged", async (t) => {
    const s = await server(t, { "/moved": redirect("https://other.test/new-home?x=1") });
    const { tool, net } = loopbackFetch({ "site.test": ["127.0.0.1"], "other.test": ["127.0.0.1"] });
    const out = await fetchWith(tool, { url: `http://site.test:${String(s.port)}/moved` });
    assert.match(out.text, /^\[not followed\] http:\/\/site\.test:\d+\/moved redirects \(HTTP 302\) to https:\/\/other\.test\/new-home\?x=1, on another host \(other\.test\)\./);
    assert.match(out.text, /fetch that URL with a new web\.fetch call/);
    assert.deepEqual(net.lookups, ["site.test"], "other.test was never even resolved");
    assert.equal(out.details?.followed, false);
  });
});

describe("web.fetch: HTTPS through CONNECT with TLS verified over the tunnel", () => {
  async function httpsServer(t: TestContext, names: readonly string[]): Promise<{ port: number; cert: string } | undefined> {
    const tls = selfSignedCert(t, names);
    if (tls === undefined) return undefined;
    const s = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ path: req.url, host: req.headers.host }));
    });
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
    t.after(() => {
      s.closeAllConnections();
      s.close();
    });
    return { port: (s.address() as AddressInfo).port, cert: tls.cert };
  }

  test("fetches over TLS when the certificate chains to a trusted root and names the host", async (t) => {
    const s = await httpsServer(t, ["secure.test"]);
    if (s === undefined) {
      t.skip("openssl is not installed");
      return;
    }
    const { tool } = loopbackFetch({ "secure.test": ["127.0.0.1"] }, { ca: [s.cert] });
    const out = await fetchWith(tool, { url: `https://secure.test:${String(s.port)}/v1?q=2` });
    assert.deepEqual(JSON.parse(out.text), { path: "/v1?q=2", host: `secure.test:${String(s.port)}` });
  });

  test("refuses a certificate that no trusted root signed", async (t) => {
    const s = await httpsServer(t, ["secure.test"]);
    if (s === undefined) {
      t.skip("openssl is not installed");
      return;
    }
    const { tool } = loopbackFetch({ "secure.test": ["127.0.0.1"] });
    await assert.rejects(fetchWith(tool, { url: `https://secure.test:${String(s.port)}/` }), /TLS with secure\.test failed: .*(self-signed|certificate)/i);
  });

  test("refuses a trusted certificate issued for another name", async (t) => {
    const s = await httpsServer(t, ["elsewhere.test"]);
    if (s === undefined) {
      t.skip("openssl is not installed");
      return;
    }
    const { tool } = loopbackFetch({ "secure.test": ["127.0.0.1"] }, { ca: [s.cert] });
    await assert.rejects(fetchWith(tool, { url: `https://secure.test:${String(s.port)}/` }), /TLS with secure\.test failed: .*(altnames|does not match)/i);
  });
});

describe("web.fetch: arguments and scopes", () => {
  const scopesOf = (url: string): string[] => judge(webFetchTool, { url }).scopes.map((s) => s.text);

  test("the scope is net.fetch:<canonical host>: lower case, no trailing dot, punycode, bare IP", () => {
    assert.deepEqual(scopesOf("https://API.Example.COM./v1"), ["net.fetch:api.example.com"]);
    assert.deepEqual(scopesOf("https://bücher.example/"), ["net.fetch:xn--bcher-kva.example"]);
    assert.deepEqual(scopesOf("http://[2001:DB8::1]:8080/"), ["net.fetch:2001:db8::1"]);
    assert.deepEqual(scopesOf("http://0x7f.1/"), ["net.fetch:127.0.0.1"], "an IPv4 address in any spelling is judged in its canonical form");
  });

  test("refuses what it cannot fetch: other schemes, credentials, spaces, wildcards, over-long URLs, unknown arguments", () => {
    for (const url of [
      "file:///etc/passwd",
      "ftp://example.com/x",
      "javascript:alert(1)",
      "data:text/html,<script>1</script>",
      "gopher://example.com/",
      "https://user:pass@example.com/",
      "https://token@example.com/",
      "https://example.com/a b",
      "https://example.com/\n",
      "https://*.example.com/",
      "/relative/path",
      `https://example.com/${"a".repeat(2048)}`,
    ]) {
      assert.equal(webFetchTool.args.safeParse({ url }).success, false, url);
    }
    assert.equal(webFetchTool.args.safeParse({ url: "https://example.com/", method: "POST" }).success, false);
    assert.equal(webFetchTool.args.safeParse({ url: "https://example.com/", max_chars: 0 }).success, false);
  });

  test("run() fetches only the host it was judged on", async (t) => {
    const s = await server(t, { "/": send("text/plain", "should not be fetched") });
    const { tool } = loopbackFetch({ "a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"] });
    const args = tool.args.parse({ url: `http://b.test:${String(s.port)}/` });
    await assert.rejects(
      tool.run(args, { workspace: "/", scopes: [parseScope("net.fetch:a.test")], dataDir: "/", secrets: NO_SECRETS, signal: new AbortController().signal, runProcess: () => Promise.reject(new Error("x")) }),
      /judged for a\.test, but the URL names b\.test/,
    );
    assert.equal(s.seen.length, 0);
  });

  test("a cancelled call stops waiting", async (t) => {
    const s = await server(t, { "/slow": () => undefined });
    const { tool } = loopbackFetch({ "site.test": ["127.0.0.1"] });
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort();
    }, 200);
    await assert.rejects(fetchWith(tool, { url: `http://site.test:${String(s.port)}/slow` }, controller.signal), /cancelled/);
  });

  test("each call's proxy socket lives in a private directory that is removed afterwards", async (t) => {
    const s = await server(t, { "/": send("text/plain", "ok") });
    const dir = join(tempDir(t), "sockets");
    mkdirSync(dir);
    const { tool } = loopbackFetch({ "site.test": ["127.0.0.1"] }, { socketDir: dir });
    await fetchWith(tool, { url: `http://site.test:${String(s.port)}/` });
    await assert.rejects(fetchWith(tool, { url: "http://nowhere.test/" }), /could not resolve nowhere\.test/);
    assert.deepEqual(readdirSync(dir), []);
  });
});

describe("web.fetch and the default policy", () => {
  test("an agent's fetch asks (and, with nobody to ask, does not run); a tainted one asks too", async (t) => {
    const root = tempDir(t);
    const log = await AuditLog.open(new SqliteAuditStore(join(root, "audit.db")), createCheckpointSigner(generateCheckpointKey().privateKeyPem));
    t.after(() => log.close());
    const s = await server(t, { "/": send("text/plain", "ok") });
    const { tool } = loopbackFetch({ "site.test": ["127.0.0.1"] });
    const envelope = new Envelope({
      policy: parsePolicy(DEFAULT_POLICY_YAML, { vars: { workspace: root, home: root, profile: join(root, "profile") } }),
      audit: log,
      approver: new NoApprover(),
      broker: new NoSecretBroker(),
      executor: new LocalExecutor({ workspace: root, dataDir: root }),
      redactor: new KnownSecretRedactor(),
      workspace: root,
    });
    envelope.register(tool);
    const r = await envelope.submit({ tool: "web.fetch", args: { url: `http://site.test:${String(s.port)}/` }, session: "s", actor: "model:test" });
    assert.equal(r.decision, "ask");
    assert.deepEqual(r.scopes, ["net.fetch:site.test"]);
    assert.equal(r.outcome, "denied");
    assert.equal(s.seen.length, 0, "nothing was fetched without an approval");
    const tainted = await envelope.submit({ tool: "web.fetch", args: { url: `http://site.test:${String(s.port)}/` }, session: "s", actor: "model:test", labels: ["untrusted:web"] });
    assert.equal(tainted.decision, "ask");
  });
});

describe("htmlToText", () => {
  test("tables become rows of cells, <br> a line break, <pre> keeps its whitespace, images their alt text", () => {
    assert.equal(htmlToText("<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>"), "a | b\n1 | 2");
    assert.equal(htmlToText("one<br>two<br/>three"), "one\ntwo\nthree");
    assert.equal(htmlToText("<pre>  x\n    y</pre>"), "  x\n    y");
    assert.equal(htmlToText('<p>see <img alt="a cat" src="c.png"></p>'), "see [image: a cat]");
  });

  test("an unclosed <script> hides everything after it, as in a browser", () => {
    assert.equal(htmlToText("<p>shown</p><script>var a = '</p><p>not shown"), "shown");
  });

  test("links to other schemes keep their text only", () => {
    assert.equal(htmlToText('<a href="javascript:alert(1)">click</a> <a href="mailto:x@y">mail</a>', new URL("https://a.test/")), "click mail");
  });
});
