/**
 * `Secret`: every way an object becomes text, data or a copy is an attack on
 * the wrapped value; each must give `[REDACTED]` (or nothing), and only
 * `reveal()` gives the value back. Output is captured in-process (util.inspect,
 * a Console over a Writable), nothing is spawned.
 */
import assert from "node:assert/strict";
import { Console } from "node:console";
import { Writable } from "node:stream";
import { test } from "node:test";
import util from "node:util";
import v8 from "node:v8";
import { REDACTED, Secret, isSecret } from "../../src/secrets/secret.ts";
import { createLogger } from "../../src/telemetry/index.ts";

const VALUE = "hunter2-Sup3r-s3cret-value";

function secret(): Secret {
  return Secret.of(VALUE);
}

/** Asserts `text` shows no trace of the value (nor its base64). */
function assertHidden(text: string, what: string): void {
  assert.ok(!text.includes(VALUE), `${what} revealed the secret: ${text}`);
  assert.ok(!text.includes(Buffer.from(VALUE).toString("base64")), `${what} revealed the secret in base64: ${text}`);
}

function captureWritable(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  return { stream, text: () => chunks.join("") };
}

test("reveal() returns the wrapped value, length counts it", () => {
  const s = secret();
  assert.equal(s.reveal(), VALUE);
  assert.equal(s.length, VALUE.length);
  assert.equal(Secret.of("").length, 0);
});

test("Secret.of refuses anything but a string at run time", () => {
  for (const bad of [undefined, null, 42, { password: VALUE }, Buffer.from(VALUE), secret()]) {
    assert.throws(() => Secret.of(bad as unknown as string), TypeError);
  }
});

test("attack: string conversion — String(), template literal, + \"\", concat, join, toLocaleString", () => {
  const s = secret();
  // The lint rules already refuse these conversions for a Secret; the attack is what happens when they are bypassed.
  // eslint-disable-next-line @typescript-eslint/restrict-template-expressions, @typescript-eslint/restrict-plus-operands
  const forms = [String(s), `${s}`, s + "", "x".concat(s as unknown as string), [s].join(","), s.toLocaleString(), s.toString(), s.valueOf()];
  for (const form of forms) {
    assertHidden(form, "string conversion");
    assert.ok(form.includes(REDACTED));
  }
  assert.equal(String(s), REDACTED);
  // eslint-disable-next-line @typescript-eslint/restrict-template-expressions
  assert.equal(`${s}`, REDACTED);
});

test("attack: numeric conversion and Buffer.from give nothing away", () => {
  const s = secret();
  assert.ok(Number.isNaN(Number(s)));
  assert.ok(Number.isNaN(+s));
  assert.equal(Buffer.from(s as unknown as string).toString(), REDACTED);
});

test("attack: JSON.stringify, alone, nested and with a replacer", () => {
  const s = secret();
  assert.equal(JSON.stringify(s), `"${REDACTED}"`);
  const nested = JSON.stringify({ a: { b: [s] }, s });
  assertHidden(nested, "JSON.stringify nested");
  const replaced = JSON.stringify({ s }, (_key, value: unknown) => value);
  assertHidden(replaced, "JSON.stringify with a replacer");
});

test("attack: enumeration — Object.keys/entries/values, own property names, symbols, descriptors", () => {
  const s = secret();
  assert.deepEqual(Object.keys(s), []);
  assert.deepEqual(Object.entries(s), []);
  assert.deepEqual(Object.values(s), []);
  assert.deepEqual(Object.getOwnPropertyNames(s), []);
  assert.deepEqual(Object.getOwnPropertySymbols(s), []);
  assert.deepEqual(Reflect.ownKeys(s), []);
  assert.deepEqual(Object.getOwnPropertyDescriptors(s), {});
  const inKeys: string[] = [];
  for (const key in s) inKeys.push(key);
  assert.deepEqual(inKeys, []);
});

test("attack: copies — spread, Object.assign, structuredClone, v8.serialize", () => {
  const s = secret();
  // eslint-disable-next-line @typescript-eslint/no-misused-spread
  assert.deepEqual({ ...s }, {});
  assert.deepEqual(Object.assign({}, s), {});
  const cloned: unknown = structuredClone(s);
  assertHidden(util.inspect(cloned, { showHidden: true, depth: Infinity }), "structuredClone");
  assertHidden(JSON.stringify(cloned), "structuredClone");
  assert.equal(isSecret(cloned), false);
  const serialised = v8.serialize(s);
  assertHidden(serialised.toString("latin1"), "v8.serialize");
  assertHidden(serialised.toString("utf16le"), "v8.serialize");
  assertHidden(util.inspect(v8.deserialize(serialised)), "v8.deserialize");
});

test("attack: util.inspect with every option that shows more", () => {
  const s = secret();
  assert.equal(util.inspect(s), REDACTED);
  for (const options of [
    { showHidden: true, depth: Infinity, getters: true, showProxy: true },
    { customInspect: false, showHidden: true, depth: Infinity, getters: true },
    { colors: true },
  ] satisfies util.InspectOptions[]) {
    assertHidden(util.inspect(s, options), `util.inspect ${JSON.stringify(options)}`);
    assertHidden(util.inspect({ deep: { deeper: [s] } }, options), `util.inspect nested ${JSON.stringify(options)}`);
  }
  assert.equal(util.inspect.custom, Symbol.for("nodejs.util.inspect.custom"));
});

test("attack: util.format with %s %o %O %j %d %i and no format", () => {
  const s = secret();
  for (const format of ["%s", "%o", "%O", "%j", "%d", "%i", "%f"]) {
    assertHidden(util.format(format, s), `util.format ${format}`);
    assertHidden(util.format(format, { s }), `util.format ${format} nested`);
  }
  assertHidden(util.format(s), "util.format(secret)");
  assertHidden(util.format("a", s, { s }), "util.format extra arguments");
});

test("attack: console.log, console.dir, console.table and console.error", () => {
  const s = secret();
  const { stream, text } = captureWritable();
  const console = new Console({ stdout: stream, stderr: stream });
  console.log(s);
  console.log("token:", s, { nested: { s } });
  console.log("%s %o %j", s, s, s);
  console.dir(s, { showHidden: true, depth: null });
  console.table([{ s }]);
  console.error({ s });
  const out = text();
  assertHidden(out, "console");
  assert.ok(out.includes(REDACTED));
});

test("attack: an Error carrying the secret as cause, in a property, or in an AggregateError", () => {
  const s = secret();
  const err = new Error("request failed", { cause: s });
  Object.assign(err, { token: s });
  const aggregate = new AggregateError([err, new Error("other", { cause: { s } })], "several");
  for (const e of [err, aggregate]) {
    assertHidden(util.inspect(e, { showHidden: true, depth: Infinity }), "inspect(Error)");
    assertHidden(String(e.stack), "stack");
    assertHidden(JSON.stringify(e), "JSON.stringify(Error)");
  }
  // eslint-disable-next-line @typescript-eslint/restrict-template-expressions
  assertHidden(new Error(`failed with ${s}`).message, "message built from the secret");
});

test("attack: assertion failure messages show the secret redacted", () => {
  const s = secret();
  try {
    assert.deepEqual({ s }, { s: "something else" });
    assert.fail("unreachable");
  } catch (err) {
    assertHidden(util.inspect(err), "AssertionError");
  }
});

test("attack: pino serialisation, as a field, nested, interpolated and as the merging object", () => {
  const s = secret();
  const { stream, text } = captureWritable();
  const log = createLogger({ destination: stream });
  log.info({ s, nested: { list: [s] } }, "field");
  log.info(s);
  log.info("interpolated %s %o %j", s, s, s);
  log.error(new Error("with cause", { cause: s }));
  const out = text();
  assertHidden(out, "pino");
  assert.ok(out.includes(REDACTED));
});

test("attack: overwriting methods — the prototype and instances are frozen", () => {
  const s = secret();
  assert.ok(Object.isFrozen(Secret.prototype));
  assert.ok(Object.isFrozen(Secret));
  assert.ok(Object.isFrozen(s));
  assert.throws(() => {
    (Secret.prototype as unknown as Record<string, unknown>).toString = () => VALUE;
  }, TypeError);
  assert.throws(() => {
    (s as unknown as Record<string, unknown>).toJSON = () => VALUE;
  }, TypeError);
  assert.throws(() => Object.setPrototypeOf(s, { toString: () => VALUE }), TypeError);
  assert.equal(String(s), REDACTED);
});

test("isSecret is a brand check: look-alikes and borrowed prototypes are not secrets", () => {
  assert.equal(isSecret(secret()), true);
  assert.equal(Secret.isSecret(secret()), true);
  const fake = Object.create(Secret.prototype) as Secret;
  assert.equal(isSecret(fake), false);
  assert.throws(() => fake.reveal(), TypeError);
  assert.equal(isSecret({ reveal: () => VALUE, toString: () => REDACTED }), false);
  for (const other of [null, undefined, VALUE, 1, {}]) assert.equal(isSecret(other), false);
});

test("equals compares secrets and plain strings by value", () => {
  const s = secret();
  assert.equal(s.equals(Secret.of(VALUE)), true);
  assert.equal(s.equals(VALUE), true);
  assert.equal(s.equals(`${VALUE}x`), false);
  assert.equal(s.equals(VALUE.slice(0, -1)), false);
  assert.equal(s.equals(""), false);
  assert.equal(s.equals(VALUE.toUpperCase()), false);
  assert.equal(Secret.of("").equals(""), true);
  assert.equal(s.equals(REDACTED), false);
  assert.equal(Secret.of(REDACTED).equals(s), false, "a secret that happens to read [REDACTED] is not every secret");
  assert.equal(s.equals(42 as unknown as string), false);
});
