/**
 * Key-based redaction of log fields: which names count as credentials, and
 * that the walk follows JSON.stringify's semantics, copies instead of
 * mutating, and fails closed on cycles, depth and throwing toJSON.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { REDACTED, Secret } from "../../src/secrets/secret.ts";
import { CIRCULAR, MAX_REDACTION_DEPTH, TRUNCATED, isSecretKey, redactLogFields, redactSecretKeys } from "../../src/telemetry/index.ts";

test("credential names are recognised whatever their case, separators and prefix", () => {
  const secretNames = [
    "password",
    "Password",
    "PASSWORD",
    "dbPassword",
    "db_password",
    "passwd",
    "passphrase",
    "pass",
    "secret",
    "clientSecret",
    "client_secret",
    "secrets",
    "token",
    "accessToken",
    "access_token",
    "refresh-token",
    "GITHUB_TOKEN",
    "_authToken",
    "apiKey",
    "api_key",
    "apikey",
    "X-Api-Key",
    "OPENAI_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "privateKey",
    "private_key",
    "signingKey",
    "credentials",
    "credential",
    "authorization",
    "Authorization",
    "Proxy-Authorization",
    "cookie",
    "Cookie",
    "set-cookie",
    "auth",
    "env",
    "ENV",
    "bearer",
    "dsn",
    "connectionString",
  ];
  for (const name of secretNames) assert.equal(isSecretKey(name), true, name);
});

test("ordinary names are left alone", () => {
  const ordinary = [
    "tool",
    "session",
    "skill",
    "msg",
    "message",
    "stack",
    "level",
    "tokens",
    "maxTokens",
    "inputTokens",
    "tokenCount",
    "secretName",
    "secretNames",
    "keyId",
    "AWS_ACCESS_KEY_ID",
    "publicKey",
    "cacheKey",
    "environment",
    "path",
    "PWD",
    "author",
    "passed",
    "bypass",
    "",
  ];
  for (const name of ordinary) assert.equal(isSecretKey(name), false, name);
});

test("redacts at every depth and inside arrays, leaving other values and undefined alone", () => {
  const input = { a: [{ b: { token: "t", keep: 1 } }], password: "p", apiKey: undefined, n: null, s: "x" };
  assert.deepEqual(redactSecretKeys(input), { a: [{ b: { token: REDACTED, keep: 1 } }], password: REDACTED, apiKey: undefined, n: null, s: "x" });
});

test("returns the very same object when nothing needs redacting, and never mutates", () => {
  const clean = { a: { b: [1, 2, { c: "d" }] } };
  assert.equal(redactSecretKeys(clean), clean);
  const dirty = { a: { token: "t" }, b: { c: 1 } };
  const redacted = redactSecretKeys(dirty) as typeof dirty;
  assert.deepEqual(dirty, { a: { token: "t" }, b: { c: 1 } });
  assert.notEqual(redacted, dirty);
  assert.equal(redacted.b, dirty.b, "untouched branches are shared, not copied");
});

test("follows JSON.stringify: toJSON results, own enumerable keys only, a Secret becomes [REDACTED]", () => {
  const date = new Date(0);
  const withHidden = Object.defineProperty({ shown: 1 }, "password", { value: "hidden", enumerable: false });
  const inherited = Object.create({ token: "inherited" }) as Record<string, unknown>;
  inherited.own = 1;
  assert.deepEqual(redactSecretKeys({ date, s: Secret.of("v"), withHidden, inherited }), { date: date.toJSON(), s: REDACTED, withHidden, inherited });
  assert.equal(JSON.stringify(redactSecretKeys({ withHidden, inherited })), JSON.stringify({ withHidden, inherited }));
});

test("serialises errors the way pino does and redacts their own fields", () => {
  const err = Object.assign(new TypeError("bad", { cause: new Error("root") }), { code: "E_BAD", token: "t" });
  const redacted = redactSecretKeys({ err }) as { err: Record<string, unknown> };
  assert.equal(redacted.err.type, "TypeError");
  assert.equal(redacted.err.message, "bad: root");
  assert.match(String(redacted.err.stack), /^TypeError: bad\n[\s\S]*caused by: Error: root/);
  assert.equal(redacted.err.code, "E_BAD");
  assert.equal(redacted.err.token, REDACTED);
  assert.equal(Object.getPrototypeOf(redacted.err), Object.prototype);
});

test("cycles become [Circular]; shared, non-circular references are kept", () => {
  const shared = { v: 1 };
  const loop: Record<string, unknown> = { shared, again: shared };
  loop.self = loop;
  assert.deepEqual(redactSecretKeys(loop), { shared, again: shared, self: CIRCULAR });
});

test(`objects deeper than ${MAX_REDACTION_DEPTH} levels become [Truncated]`, () => {
  let deep: unknown = { leaf: true };
  for (let i = 0; i < MAX_REDACTION_DEPTH + 5; i += 1) deep = [deep];
  assert.match(JSON.stringify(redactSecretKeys(deep)), /"\[Truncated\]"/);
  assert.equal(TRUNCATED, "[Truncated]");
});

test("redactLogFields always returns a record", () => {
  assert.deepEqual(redactLogFields(Secret.of("v")), {});
  assert.deepEqual(redactLogFields({ env: { HOME: "/root" } }), { env: REDACTED });
});
