/** The HTTP API's gate, piece by piece: token check, credentials in URLs, Host and Origin, the rate-limited failure audit. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AuthFailureAuditor,
  BearerToken,
  credentialQueryParams,
  foreignOrigin,
  generateApiToken,
  isLoopbackAddress,
  normaliseHostHeader,
  type AuthFailureSummary,
} from "../../src/channels/auth.ts";

describe("BearerToken", () => {
  const token = generateApiToken();
  const check = new BearerToken(token);

  test("accepts exactly `Bearer <token>` (scheme case-insensitive, as RFC 6750 allows)", () => {
    assert.equal(check.check(`Bearer ${token}`), "ok");
    assert.equal(check.check(`bearer ${token}`), "ok");
  });

  test("refuses a missing header, other schemes, a prefix, an extension and a near miss", () => {
    assert.equal(check.check(undefined), "missing");
    assert.equal(check.check(""), "missing");
    assert.equal(check.check(`Basic ${Buffer.from(`x:${token}`).toString("base64")}`), "malformed");
    assert.equal(check.check(token), "malformed");
    assert.equal(check.check(`Bearer ${token.slice(0, -1)}`), "wrong");
    assert.equal(check.check(`Bearer ${token}x`), "wrong");
    assert.equal(check.check(`Bearer ${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`), "wrong");
    assert.equal(check.check(`Bearer ${token} extra`), "malformed");
  });

  test("new tokens are 256 random bits, distinct, with a recognisable prefix", () => {
    const a = generateApiToken();
    const b = generateApiToken();
    assert.notEqual(a, b);
    assert.match(a, /^aegisclaw_[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(a.slice("aegisclaw_".length), "base64url").length, 32);
  });
});

describe("credentials in URLs", () => {
  test("names every credential-looking parameter, whatever its case, never its value", () => {
    assert.deepEqual(credentialQueryParams(new URL("http://127.0.0.1/api/sessions?token=abc")), ["token"]);
    assert.deepEqual(credentialQueryParams(new URL("http://127.0.0.1/x?Access_Token=1&API_KEY=2&key=3&limit=4")), ["access_token", "api_key", "key"]);
    assert.deepEqual(credentialQueryParams(new URL("http://127.0.0.1/x?limit=4&session=main")), []);
  });
});

describe("Host and Origin", () => {
  test("normalises Host headers to host:port, defaulting the scheme's port", () => {
    assert.equal(normaliseHostHeader("LocalHost:8080", 80), "localhost:8080");
    assert.equal(normaliseHostHeader("127.0.0.1", 80), "127.0.0.1:80");
    assert.equal(normaliseHostHeader("[::1]:9", 80), "[::1]:9");
    assert.equal(normaliseHostHeader("evil.example:80/x", 80), undefined);
    assert.equal(normaliseHostHeader("user@127.0.0.1:80", 80), undefined);
    assert.equal(normaliseHostHeader(undefined, 80), undefined);
  });

  test("an Origin is foreign unless it is this server's scheme and one of its hosts", () => {
    const me = { scheme: "http", hosts: new Set(["127.0.0.1:4000", "localhost:4000"]) };
    assert.equal(foreignOrigin(undefined, me), undefined);
    assert.equal(foreignOrigin("http://127.0.0.1:4000", me), undefined);
    assert.equal(foreignOrigin("http://localhost:4000", me), undefined);
    assert.equal(foreignOrigin("http://evil.example", me), "evil.example:80");
    assert.equal(foreignOrigin("http://127.0.0.1:4001", me), "127.0.0.1:4001");
    assert.equal(foreignOrigin("https://127.0.0.1:4000", me), "https");
    assert.equal(foreignOrigin("null", me), "null");
  });

  test("loopback means 127/8, ::1, the IPv4-mapped loopback and localhost — nothing else", () => {
    for (const a of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "::ffff:127.0.0.1", "localhost"]) assert.ok(isLoopbackAddress(a), a);
    for (const a of ["0.0.0.0", "::", "10.0.0.1", "192.168.1.1", "::ffff:10.0.0.1", "localhost.evil.example", "128.0.0.1"]) assert.ok(!isLoopbackAddress(a), a);
  });
});

describe("AuthFailureAuditor", () => {
  const failure = { reason: "wrong" as const, remote: "127.0.0.1", method: "GET", path: "/api/sessions" };

  test("writes the first failure at once, then at most one summary per interval with every failure counted", async () => {
    const flushed: AuthFailureSummary[] = [];
    const auditor = new AuthFailureAuditor((s) => flushed.push(s), { intervalMs: 200 });
    auditor.record(failure);
    assert.equal(flushed.length, 1, "the first failure is recorded immediately");
    for (let i = 0; i < 1000; i++) auditor.record({ ...failure, reason: i % 2 === 0 ? "missing" : "token_in_url", remote: `10.0.0.${String(i % 20)}` });
    assert.equal(flushed.length, 1, "a burst does not write an entry per request");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(flushed.length, 2);
    const burst = flushed[1];
    assert.ok(burst !== undefined);
    assert.equal(burst.count, 1000);
    assert.deepEqual(burst.reasons, { missing: 500, token_in_url: 500 });
    assert.ok(Object.keys(burst.remotes).length <= 8, "the address list is bounded");
    assert.equal(flushed.reduce((n, s) => n + s.count, 0), 1001);
  });

  test("flush() writes what is pending (shutdown) and nothing when there is nothing", () => {
    const flushed: AuthFailureSummary[] = [];
    let now = 0;
    const auditor = new AuthFailureAuditor((s) => flushed.push(s), { intervalMs: 1000, now: () => now });
    auditor.record(failure);
    now = 10;
    auditor.record(failure);
    auditor.flush();
    auditor.flush();
    assert.deepEqual(
      flushed.map((s) => s.count),
      [1, 1],
    );
  });
});
