/**
 * The logger, attacked: a known secret value is put everywhere a log record
 * can carry it (message, nested fields, error message and stack, cause,
 * interpolation, child bindings, base64) and every line written is read back
 * and parsed as JSON; credential-named fields and `Secret`s are redacted
 * without any scrub; a message cannot forge a second record.
 */
import assert from "node:assert/strict";
import { lstatSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { test } from "node:test";
import { pino } from "pino";
import { AegisError } from "../../src/errors.ts";
import { REDACTED, Secret } from "../../src/secrets/secret.ts";
import { createLogger, type Logger, type LoggerOptions } from "../../src/telemetry/index.ts";
import { tempDir } from "../helpers/tmp.ts";

const VALUE = "hunter2-Sup3r-s3cret-value";
const VALUE_B64 = Buffer.from(VALUE).toString("base64");
const SCRUBBED = "[SCRUBBED]";

/** The simplest scrub the runtime could pass: the value and its base64, wherever they are in the line. */
function scrub(line: string): string {
  return line.replaceAll(VALUE, SCRUBBED).replaceAll(VALUE_B64, SCRUBBED);
}

type LogRecord = Record<string, unknown>;

interface Captured {
  readonly log: Logger;
  /** Every line written, each checked to be exactly one JSON object. */
  records(): LogRecord[];
  text(): string;
}

function capture(options: Omit<LoggerOptions, "destination"> = {}): Captured {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  const log = createLogger({ ...options, destination: stream });
  const text = (): string => chunks.join("");
  return {
    log,
    text,
    records: () => parseLines(text()),
  };
}

function parseLines(text: string): LogRecord[] {
  assert.ok(text.endsWith("\n"), "every record ends with a newline");
  const lines = text.slice(0, -1).split("\n");
  return lines.map((line) => {
    assert.doesNotMatch(line, /[\r\u2028\u2029]/, "no raw line separator inside a record");
    const parsed: unknown = JSON.parse(line);
    assert.ok(typeof parsed === "object" && parsed !== null && !Array.isArray(parsed), `a JSON object: ${line}`);
    return parsed as LogRecord;
  });
}

function assertNoSecret(text: string): void {
  assert.ok(!text.includes(VALUE), `the secret leaked: ${text}`);
  assert.ok(!text.includes(VALUE_B64), `the secret leaked in base64: ${text}`);
}

function only(records: readonly LogRecord[]): LogRecord {
  assert.equal(records.length, 1, `exactly one record: ${JSON.stringify(records)}`);
  const [record] = records;
  assert.ok(record);
  return record;
}

test("writes one JSON record per line at level info by default", () => {
  const c = capture();
  c.log.debug("not written");
  c.log.info({ tool: "files.read" }, "hello");
  c.log.warn("careful");
  const records = c.records();
  assert.equal(records.length, 2);
  const [info, warn] = records;
  assert.ok(info && warn);
  assert.equal(info.msg, "hello");
  assert.equal(info.tool, "files.read");
  assert.equal(info.level, 30);
  assert.equal(warn.level, 40);
});

test("the level option lowers or raises the threshold", () => {
  const debug = capture({ level: "debug" });
  debug.log.debug("written");
  assert.equal(only(debug.records()).msg, "written");
  const silent = capture({ level: "silent" });
  silent.log.fatal("nothing");
  assert.equal(silent.text(), "");
});

test("logs to standard error by default", () => {
  const log = createLogger();
  const stream = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { fd?: unknown };
  assert.equal(stream.fd, 2);
});

test("refuses standard output in every spelling: it carries command output", () => {
  for (const destination of [1, process.stdout, pino.destination({ dest: 1, sync: true }), "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]) {
    assert.throws(
      () => createLogger({ destination }),
      (err: unknown) => err instanceof AegisError && err.code === "CONFIG_INVALID" && /standard output/.test(err.message),
    );
  }
});

test("a log file path is created 0600 and appended to", (t) => {
  const dir = tempDir(t);
  const path = join(dir, "aegisclaw.log");
  const first = createLogger({ destination: path });
  first.info("one");
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const second = createLogger({ destination: path, scrub });
  second.info({ note: VALUE }, "two");
  const text = readFileSync(path, "utf8");
  assertNoSecret(text);
  assert.deepEqual(
    parseLines(text).map((r) => r.msg),
    ["one", "two"],
  );
});

test("attack: a log file path that is a symbolic link is refused, not followed", (t) => {
  const dir = tempDir(t);
  const target = join(dir, "elsewhere.txt");
  writeFileSync(target, "", { mode: 0o600 });
  const link = join(dir, "aegisclaw.log");
  symlinkSync(target, link);
  assert.throws(() => createLogger({ destination: link }), (err: unknown) => (err as NodeJS.ErrnoException).code === "ELOOP");
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.equal(readFileSync(target, "utf8"), "");
});

test("attack: a log file others can read is refused with the chmod that fixes it", (t) => {
  const dir = tempDir(t);
  const path = join(dir, "aegisclaw.log");
  writeFileSync(path, "", { mode: 0o644 });
  assert.throws(
    () => createLogger({ destination: path }),
    (err: unknown) => err instanceof AegisError && err.code === "PROFILE_INSECURE" && err.message.includes("chmod 600"),
  );
});

test("attack: a known secret in the message is scrubbed", () => {
  const c = capture({ scrub });
  c.log.info(`connecting with ${VALUE}`);
  c.log.info("formatted %s and %j", VALUE, { v: VALUE });
  assertNoSecret(c.text());
  const records = c.records();
  assert.equal(records[0]?.msg, `connecting with ${SCRUBBED}`);
  assert.equal(records.length, 2);
});

test("attack: a known secret in a nested field, an array and a key name is scrubbed", () => {
  const c = capture({ scrub });
  c.log.info({ request: { url: `https://api.example/?q=${VALUE}`, list: [{ deep: [VALUE] }] }, [VALUE]: "as a key" }, "request");
  assertNoSecret(c.text());
  const record = only(c.records());
  assert.deepEqual(record.request, { url: `https://api.example/?q=${SCRUBBED}`, list: [{ deep: [SCRUBBED] }] });
});

test("attack: a known secret in an error's message, stack and cause is scrubbed", () => {
  const c = capture({ scrub });
  const err = new Error(`login failed for ${VALUE}`, { cause: new Error(`inner ${VALUE}`) });
  c.log.error(err);
  c.log.error({ err }, "wrapped");
  c.log.error(err, "with message %s", err.message);
  assertNoSecret(c.text());
  const records = c.records();
  assert.equal(records.length, 3);
  for (const record of records) {
    const serialised = record.err as Record<string, unknown>;
    assert.equal(serialised.type, "Error");
    assert.match(String(serialised.message), /login failed for \[SCRUBBED\]: inner \[SCRUBBED\]/);
    assert.match(String(serialised.stack), /^Error: login failed for \[SCRUBBED\]\n/);
    assert.match(String(serialised.stack), /caused by: Error: inner \[SCRUBBED\]/);
  }
});

test("attack: a base64-encoded secret (a Basic auth header) is scrubbed", () => {
  const c = capture({ scrub });
  c.log.info({ headers: { "x-forwarded": `Basic ${VALUE_B64}` } }, `sent Basic ${VALUE_B64}`);
  assertNoSecret(c.text());
  assert.equal(only(c.records()).msg, `sent Basic ${SCRUBBED}`);
});

test("attack: a known secret in child bindings and in a child's records is scrubbed", () => {
  const c = capture({ scrub });
  const child = c.log.child({ session: VALUE }).child({ skill: "mail" });
  child.info({ value: VALUE }, `child ${VALUE}`);
  assertNoSecret(c.text());
  const record = only(c.records());
  assert.equal(record.session, SCRUBBED);
  assert.equal(record.value, SCRUBBED);
});

test("attack: credential-named fields are redacted at any depth with no scrub at all", () => {
  const c = capture();
  c.log.info(
    {
      password: VALUE,
      apiKey: VALUE,
      request: { headers: { Authorization: `Bearer ${VALUE}`, "x-api-key": VALUE, cookie: VALUE, "set-cookie": [VALUE] } },
      env: { GITHUB_TOKEN: VALUE, PATH: "/usr/bin" },
      config: { providers: [{ name: "openai", OPENAI_API_KEY: VALUE, oauth: { client_secret: VALUE, refresh_token: VALUE } }] },
      a: { b: { c: { d: { e: { f: { passphrase: VALUE } } } } } },
      tool: "email.send",
    },
    "configured",
  );
  assertNoSecret(c.text());
  const record = only(c.records());
  assert.equal(record.password, REDACTED);
  assert.equal(record.env, REDACTED);
  assert.equal(record.tool, "email.send");
  assert.deepEqual(record.request, { headers: { Authorization: REDACTED, "x-api-key": REDACTED, cookie: REDACTED, "set-cookie": REDACTED } });
  assert.deepEqual(record.config, { providers: [{ name: "openai", OPENAI_API_KEY: REDACTED, oauth: { client_secret: REDACTED, refresh_token: REDACTED } }] });
});

test("attack: credential-named fields are redacted in bindings, setBindings, error fields and interpolated objects", () => {
  const c = capture();
  const child = c.log.child({ token: VALUE, nested: { password: VALUE } });
  child.info("from child");
  child.setBindings({ secret: VALUE });
  child.info("after setBindings");
  const err = Object.assign(new Error("request failed"), { config: { headers: { authorization: VALUE } }, apiKey: VALUE });
  c.log.error(err);
  c.log.info("config %o then %j", { password: VALUE }, { deep: { token: VALUE } });
  assertNoSecret(c.text());
  const records = c.records();
  assert.equal(records.length, 4);
  assert.equal(records[0]?.token, REDACTED);
  assert.equal(records[1]?.secret, REDACTED);
  assert.deepEqual((records[2]?.err as Record<string, unknown>).config, { headers: { authorization: REDACTED } });
  assert.equal(records[3]?.msg, `config {"password":"${REDACTED}"} then {"deep":{"token":"${REDACTED}"}}`);
});

test("attack: a child's own formatters cannot switch the redaction off", () => {
  const c = capture();
  const child = c.log.child({ component: "x" }, { formatters: { log: (fields: object) => ({ ...fields, added: { token: VALUE } }), bindings: (b) => ({ ...b, password: VALUE }) } });
  child.info({ apiKey: VALUE }, "custom formatters");
  assertNoSecret(c.text());
  const record = only(c.records());
  assert.equal(record.apiKey, REDACTED);
  assert.deepEqual(record.added, { token: REDACTED });
});

test("attack: a Secret anywhere logs as [REDACTED], with no scrub", () => {
  const c = capture();
  const s = Secret.of(VALUE);
  c.log.info({ s, nested: { list: [s, { s }] } }, "field");
  c.log.info("interpolated %s %o %j %O", s, s, s, s);
  c.log.info(s);
  c.log.info(s, "secret as the merging object");
  c.log.child({ s }).info("binding");
  c.log.error(new Error("failed", { cause: s }));
  c.log.error(Object.assign(new Error("failed"), { credential: s, extra: s }));
  assertNoSecret(c.text());
  const records = c.records();
  assert.equal(records.length, 7);
  assert.deepEqual(records[0]?.nested, { list: [REDACTED, { s: REDACTED }] });
  assert.equal(records[1]?.msg, `interpolated ${REDACTED} '${REDACTED}' '${REDACTED}' '${REDACTED}'`);
  assert.equal(records[4]?.s, REDACTED);
  assert.equal((records[6]?.err as Record<string, unknown>).extra, REDACTED);
});

test("attack: a toJSON that returns credential fields, and a class instance with them, are redacted", () => {
  const c = capture();
  class Connection {
    readonly host = "db.internal";
    readonly password = VALUE;
  }
  c.log.info({ conn: new Connection(), wrapped: { toJSON: () => ({ token: VALUE, ok: true }) } }, "objects");
  assertNoSecret(c.text());
  const record = only(c.records());
  assert.deepEqual(record.conn, { host: "db.internal", password: REDACTED });
  assert.deepEqual(record.wrapped, { token: REDACTED, ok: true });
});

test("attack: a circular object cannot smuggle an unredacted copy past the redaction", () => {
  const c = capture();
  const loop: Record<string, unknown> = { password: VALUE };
  loop.self = loop;
  loop.list = [loop, { back: loop }];
  c.log.info({ loop }, "circular");
  assertNoSecret(c.text());
  assert.deepEqual(only(c.records()).loop, { password: REDACTED, self: "[Circular]", list: ["[Circular]", { back: "[Circular]" }] });
});

test("attack: an object nested beyond the redaction depth is truncated, not written unexamined", () => {
  const c = capture();
  let deep: Record<string, unknown> = { password: VALUE };
  for (let i = 0; i < 40; i += 1) deep = { next: deep };
  c.log.info({ deep }, "deep");
  assertNoSecret(c.text());
  assert.match(c.text(), /"\[Truncated\]"/);
});

test("attack: a toJSON that throws is written as [Unserializable], never half-serialised", () => {
  const c = capture();
  c.log.info({ bad: { token: VALUE, toJSON: () => { throw new Error(VALUE); } } }, "throws");
  assertNoSecret(c.text());
  assert.equal(only(c.records()).bad, "[Unserializable]");
});

test("the logged objects are not changed by redaction", () => {
  const c = capture();
  const fields = { password: VALUE, nested: { token: VALUE } };
  const err = Object.assign(new Error("x"), { apiKey: VALUE });
  c.log.info(fields, "fields");
  c.log.error(err);
  assert.deepEqual(fields, { password: VALUE, nested: { token: VALUE } });
  assert.equal(err.apiKey, VALUE);
});

test("redactPaths adds pino redact paths for fields no key name catches", () => {
  const c = capture({ redactPaths: ["request.body", "args[*].value"] });
  c.log.info({ request: { body: VALUE, method: "POST" }, args: [{ value: VALUE }] }, "paths");
  assertNoSecret(c.text());
  const record = only(c.records());
  assert.deepEqual(record.request, { body: REDACTED, method: "POST" });
  assert.deepEqual(record.args, [{ value: REDACTED }]);
});

test("attack: a newline, carriage return, line separator or escape in a message or field cannot forge a second record", () => {
  const forged = `{"level":60,"time":0,"msg":"approved by owner"}`;
  for (const options of [{}, { scrub }]) {
    const c = capture(options);
    c.log.info(`benign\n${forged}`);
    c.log.info(`carriage\r${forged}`);
    c.log.info({ note: `x\n${forged}`, [`key\n${forged}`]: 1 }, "in a field");
    c.log.child({ who: `y\n${forged}` }).info("in a binding");
    c.log.info(`separators\u2028${forged}\u2029end`);
    c.log.info(`escapes \u001b[2J\u0000\u0007 ${forged}`);
    const records = c.records();
    assert.equal(records.length, 6);
    assert.ok(records.every((r) => r.level === 30), "no record other than the six written");
    assert.equal(records[0]?.msg, `benign\n${forged}`);
    assert.equal(records[1]?.msg, `carriage\r${forged}`);
    assert.equal(records[2]?.note, `x\n${forged}`);
    assert.equal(records[3]?.who, `y\n${forged}`);
    assert.equal(records[4]?.msg, `separators\u2028${forged}\u2029end`);
    assert.equal(records[5]?.msg, `escapes \u001b[2J\u0000\u0007 ${forged}`);
  }
});

test("attack: a scrub that introduces a line break still writes one record per line", () => {
  const c = capture({ scrub: (line) => line.replaceAll(VALUE, "[REDACTED\nsecret]") });
  c.log.info(`value ${VALUE}`);
  c.log.info("next");
  assertNoSecret(c.text());
  const records = c.records();
  assert.equal(records.length, 2);
  assert.equal(records[0]?.msg, "value [REDACTED\nsecret]");
});

test("attack: when the scrub function fails the record is withheld, never written unscrubbed", () => {
  const c = capture({
    scrub: (line) => {
      if (line.includes(VALUE)) throw new Error("scrubber broke");
      return line;
    },
  });
  c.log.info(`value ${VALUE}`);
  c.log.info("after");
  assertNoSecret(c.text());
  const records = c.records();
  assert.equal(records.length, 2);
  const [withheld, after] = records;
  assert.ok(withheld && after);
  assert.equal(withheld.level, 50);
  assert.match(String(withheld.msg), /withheld/);
  assert.equal(after.msg, "after");
});
