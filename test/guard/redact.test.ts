/**
 * Known-secret redaction: every encoding a tool might print a secret in is
 * replaced, inside surrounding text; unrelated text is left alone; short
 * secrets are reported rather than silently ignored.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { defaultDetectors } from "../../src/guard/detectors/index.ts";
import { KnownSecretRedactor, MIN_SECRET_LENGTH, OutputRedactor, StreamRedactor, secretForms, unredactableSecrets } from "../../src/guard/redact.ts";

const SECRET = "s3cr/t+Key=9?&x y";
const P = "[REDACTED]";

function redact(text: string, secrets: readonly string[] = [SECRET]): { text: string; count: number } {
  const r = new KnownSecretRedactor().redact(text, secrets);
  assert.deepEqual(r.counts, r.count === 0 ? {} : { "known-secret": r.count });
  return { text: r.text, count: r.count };
}

/** Asserts that `form`, embedded in text, is replaced exactly once and nothing else changes. */
function assertRedacted(form: string, secrets: readonly string[] = [SECRET]): void {
  const r = redact(`before ${form} after`, secrets);
  assert.equal(r.text, `before ${P} after`, form);
  assert.equal(r.count, 1, form);
}

function percentAll(text: string, upper: boolean): string {
  const hex = [...Buffer.from(text, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
  return upper ? hex.toUpperCase() : hex;
}

describe("forms of a known secret", () => {
  test("verbatim", () => {
    assertRedacted(SECRET);
  });

  test("URL-encoded, with upper- and lower-case escapes, %20 or + for spaces", () => {
    const upper = encodeURIComponent(SECRET);
    assert.match(upper, /%2F/);
    assertRedacted(upper);
    assertRedacted(upper.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()));
    assertRedacted(upper.replace(/%20/g, "+"));
    assertRedacted(upper.replace(/%20/g, "+").replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()));
    // Mixed case, as some encoders produce.
    assertRedacted(upper.replace("%2F", "%2f"));
  });

  test("every byte percent-encoded, in either case", () => {
    assertRedacted(percentAll(SECRET, true));
    assertRedacted(percentAll(SECRET, false));
  });

  test("hex, upper and lower case", () => {
    const hex = Buffer.from(SECRET, "utf8").toString("hex");
    assertRedacted(hex);
    assertRedacted(hex.toUpperCase());
  });

  test("base64 and base64url of the secret alone, padded or not", () => {
    const b64 = Buffer.from(SECRET, "utf8").toString("base64");
    assertRedacted(b64);
    assertRedacted(b64.replace(/=+$/, ""));
    assertRedacted(Buffer.from(SECRET, "utf8").toString("base64url"));
  });

  test("base64 at all three alignments inside a longer blob (Basic auth)", () => {
    for (const user of ["u", "us", "use", "user"]) {
      const header = `Authorization: Basic ${Buffer.from(`${user}:${SECRET}`, "utf8").toString("base64")}`;
      const r = redact(header);
      assert.equal(r.count, 1, user);
      assert.ok(r.text.startsWith("Authorization: Basic ") && r.text.includes(P), `${user}: ${r.text}`);
      // The secret ends the blob, so all that is left is the encoding of "user:" (its last character shared with the secret).
      const rest = r.text.slice("Authorization: Basic ".length);
      assert.ok(rest.endsWith(P), `${user}: ${rest}`);
      assert.ok(rest.length - P.length <= Math.ceil(((user.length + 1) * 4) / 3), `${user}: ${rest}`);
    }
    for (let prefix = 0; prefix < 3; prefix += 1) {
      const blob = Buffer.concat([Buffer.from("x".repeat(prefix + 6)), Buffer.from(SECRET), Buffer.from("trailing bytes")]);
      assert.equal(redact(blob.toString("base64")).count, 1, `alignment ${prefix}`);
      assert.equal(redact(blob.toString("base64url")).count, 1, `base64url alignment ${prefix}`);
    }
  });

  test("JSON-string-escaped, when escaping changes it", () => {
    const secret = 'pa"ss\\wo\trd/é';
    const json = JSON.stringify(secret).slice(1, -1);
    assert.notEqual(json, secret);
    assertRedacted(json, [secret]);
    assert.deepEqual(redact(JSON.stringify({ password: secret }), [secret]), { text: `{"password":"${P}"}`, count: 1 });
    // ASCII-only JSON (Python's ensure_ascii) and escaped solidus (PHP).
    assertRedacted(json.replace("é", "\\u00e9"), [secret]);
    assertRedacted(json.replace("/", "\\/"), [secret]);
  });

  test("secretForms lists each form once and none shorter than the minimum", () => {
    const forms = secretForms(SECRET);
    assert.equal(new Set(forms).size, forms.length);
    assert.ok(forms.every((f) => f.length >= MIN_SECRET_LENGTH));
    assert.ok(forms.includes(SECRET));
    assert.ok(forms.includes(percentAll(SECRET, true)));
  });
});

describe("redaction", () => {
  test("no false positive on unrelated text", () => {
    const text = "The quick brown fox jumps over the lazy dog. 0123456789abcdef %2F%2f s3cr t+Key Basic dXNlcjpwYXNz";
    assert.deepEqual(redact(text), { text, count: 0 });
    assert.deepEqual(redact(text, []), { text, count: 0 });
    assert.deepEqual(redact("", [SECRET]), { text: "", count: 0 });
  });

  test("the count is the number of spans replaced, across forms", () => {
    const text = [SECRET, encodeURIComponent(SECRET), Buffer.from(SECRET).toString("hex"), Buffer.from(SECRET).toString("base64"), SECRET].join(" | ");
    const r = redact(text);
    assert.equal(r.count, 5);
    assert.deepEqual(new KnownSecretRedactor().redact(text, [SECRET]).counts, { "known-secret": 5 });
    assert.equal(r.text, [P, P, P, P, P].join(" | "));
  });

  test("overlapping secrets are covered together; one contained in another is replaced whole", () => {
    const a = "abcdef123";
    const b = "def123xyz";
    const r = redact("<abcdef123xyz>", [a, b]);
    assert.equal(r.text, `<${P}>`);
    assert.equal(r.count, 1);
    const outer = "prefix-TOKEN-suffix";
    const inner = "TOKEN";
    assert.deepEqual(redact(`x ${outer} y ${inner} z`, [inner, outer]), { text: `x ${P} y ${P} z`, count: 2 });
    // Adjacent (not overlapping) occurrences are two spans.
    assert.deepEqual(redact(`${a}${a}`, [a]), { text: `${P}${P}`, count: 2 });
  });

  test("regex metacharacters in a secret are literal", () => {
    const secret = "a.b*c(d)[e]$";
    assert.deepEqual(redact("aXb*c(d)[e]$ and a.b*c(d)[e]$", [secret]), { text: `aXb*c(d)[e]$ and ${P}`, count: 1 });
  });

  test("the compiled pattern follows the set of secrets it is given", () => {
    const r = new KnownSecretRedactor("***");
    assert.equal(r.redact("one secret1 two secret2", ["secret1"]).text, "one *** two secret2");
    assert.equal(r.redact("one secret1 two secret2", ["secret1"]).text, "one *** two secret2");
    assert.equal(r.redact("one secret1 two secret2", ["secret2"]).text, "one secret1 two ***");
    assert.equal(r.redact("one secret1 two secret2", ["secret1", "secret2"]).text, "one *** two ***");
    const mutable = ["secret1"];
    assert.equal(r.redact("secret1 secret2", mutable).text, "*** secret2");
    mutable[0] = "secret2";
    assert.equal(r.redact("secret1 secret2", mutable).text, "secret1 ***", "a changed array is not mistaken for the cached one");
  });
});

describe("secrets too short to redact", () => {
  test("are left in the output, not redacted", () => {
    assert.deepEqual(redact("a ab abc in text", ["a", "ab", "abc"]), { text: "a ab abc in text", count: 0 });
  });

  test("are reported by unredactableSecrets, once each; empty strings are not secrets", () => {
    assert.equal(MIN_SECRET_LENGTH, 4);
    assert.deepEqual(unredactableSecrets(["a", "ab", "abc", "abcd", "", "ab", SECRET]), ["a", "ab", "abc"]);
    assert.deepEqual(unredactableSecrets([]), []);
  });

  test("do not stop the longer secrets from being redacted", () => {
    assert.deepEqual(redact(`x ${SECRET} y`, ["ab", SECRET]), { text: `x ${P} y`, count: 1 });
  });
});

describe("forms with separators, reversed, wrapped", () => {
  const LONG = "ghp_R7kQ2mXw9LpZ4vNc8TbY3sHd6JfA1eGu";

  test("reversed, spelled out with separators, hex dumps with colons, base64 wrapped at 76 and 64 columns", () => {
    const b64 = Buffer.from(`user:${LONG}`).toString("base64");
    const hex = Buffer.from(LONG).toString("hex");
    const forms = [
      Array.from(LONG).reverse().join(""),
      Array.from(LONG).join(" "),
      Array.from(LONG).reverse().join("-"),
      Array.from(LONG).join("\u200b"),
      hex.replace(/(..)(?!$)/g, "$1:"),
      hex.toUpperCase().replace(/(.{32})/g, "$1\n"),
      b64.replace(/(.{7})/g, "$1\n"),
    ];
    for (const form of forms) {
      const r = new KnownSecretRedactor().redact(`before ${form} after`, [LONG]);
      assert.equal(r.count, 1, form);
      assert.ok(!r.text.includes(LONG.slice(4, 14)), form);
      assert.ok(r.text.startsWith("before ") && r.text.endsWith(" after"), `${form} → ${r.text}`);
    }
  });

  test("short secrets are not matched across separators (a chance hit in prose would be likely)", () => {
    assert.deepEqual(redact("p a s s w o r d", ["password"]), { text: "p a s s w o r d", count: 0 });
  });
});

describe("streaming redaction", () => {
  const LONG = "sk-live-R7kQ2mXw9LpZ4vNc8TbY3sHd6JfA1eGu";

  function streamed(text: string, cuts: readonly number[], secrets: readonly string[], detectors = defaultDetectors()): { text: string; count: number } {
    const redactor = new OutputRedactor({ detectors });
    const stream = new StreamRedactor(redactor, () => secrets);
    let out = "";
    let from = 0;
    for (const cut of [...cuts, text.length]) {
      out += stream.push(text.slice(from, cut));
      from = cut;
    }
    out += stream.end();
    return { text: out, count: stream.count };
  }

  test("a secret split across chunks at every position is redacted, and the output equals whole-text redaction", () => {
    const text = `log line one\nkey=${LONG} and ${Buffer.from(LONG).toString("base64")} card 4111 1111 1111 1111 end\n`;
    const whole = new OutputRedactor({ detectors: defaultDetectors() }).redact(text, [LONG]);
    assert.ok(whole.count >= 3);
    for (let cut = 0; cut <= text.length; cut += 1) {
      const r = streamed(text, [cut], [LONG]);
      assert.equal(r.text, whole.text, `cut at ${String(cut)}`);
      assert.equal(r.count, whole.count, `cut at ${String(cut)}`);
    }
  });

  test("one character per chunk", () => {
    const text = `a ${LONG} b ${encodeURIComponent(LONG)} c`;
    const cuts = Array.from({ length: text.length }, (_, i) => i);
    assert.equal(streamed(text, cuts, [LONG]).text, "a [REDACTED] b [REDACTED] c");
  });

  test("emits early: output is not held back longer than the reach", () => {
    const redactor = new OutputRedactor({ detectors: defaultDetectors() });
    const stream = new StreamRedactor(redactor, () => [LONG]);
    const reach = redactor.reach([LONG]);
    const emitted = stream.push("x".repeat(reach + 1000));
    assert.equal(emitted.length, 1000);
    assert.equal(stream.end().length, reach);
  });
});

describe("other encoders' spellings", () => {
  const S = "s3cr/t+Key=9?&x y~(z)!'abcdefgh";
  test("form encoding (URLSearchParams), RFC 3986 with / kept (Python quote), byte lists as 0x.. and \\x..", () => {
    const bytes = Array.from(Buffer.from(S));
    const forms = [
      new URLSearchParams({ v: S }).toString().slice(2),
      encodeURIComponent(S).replace(/%2F/g, "/"),
      bytes.map((b) => `0x${b.toString(16).padStart(2, "0")}`).join(", "),
      bytes.map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join(""),
    ];
    for (const form of forms) {
      const r = new KnownSecretRedactor().redact(`before ${form} after`, [S]);
      assert.ok(r.count >= 1, form);
      assert.ok(!r.text.includes(form.slice(3, 24)), `${form} → ${r.text}`);
    }
  });
});
