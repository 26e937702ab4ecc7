import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AegisError } from "../../../src/errors.ts";
import {
  ALL_DETECTORS,
  CREDENTIAL_DETECTORS,
  PII_DETECTORS,
  defaultDetectors,
  detectorsById,
  mergeFindings,
  redactFindings,
  redactText,
  scanText,
  type Detector,
  type Finding,
} from "../../../src/guard/detectors/index.ts";
import { bech32Valid, charClasses, decodeJsonSegment, ibanRemainder, isPlaceholder, luhnValid, shannonEntropy } from "../../../src/guard/detectors/validators.ts";
import { makeIban } from "./corpus.ts";

const byId = (id: string): Detector => {
  const d = ALL_DETECTORS.find((x) => x.id === id);
  if (d === undefined) throw new Error(id);
  return d;
};

/** A detector that flags fixed spans, to drive the merge logic directly. */
function fixed(id: string, spans: readonly [number, number][], replacement = `[${id.toUpperCase()}]`): Detector {
  return {
    id,
    kind: "credential",
    description: "test",
    replacement,
    defaultEnabled: true,
    find: () => spans.map(([start, end]) => ({ detector: id, start, end })),
  };
}

describe("mergeFindings / scanText", () => {
  test("merges overlapping findings into one span covering both, labelled by the longest", () => {
    const merged = mergeFindings([
      { detector: "short", start: 5, end: 10 },
      { detector: "long", start: 8, end: 20 },
    ]);
    assert.deepEqual(merged, [{ detector: "long", start: 5, end: 20 }]);
  });

  test("on equal length the detector listed first wins", () => {
    const findings: Finding[] = [
      { detector: "generic", start: 0, end: 10 },
      { detector: "specific", start: 0, end: 10 },
    ];
    assert.deepEqual(mergeFindings(findings, ["specific", "generic"]), [{ detector: "specific", start: 0, end: 10 }]);
    assert.deepEqual(mergeFindings(findings, ["generic", "specific"]), [{ detector: "generic", start: 0, end: 10 }]);
  });

  test("keeps touching and disjoint findings apart, sorted, and drops empty ones", () => {
    const merged = mergeFindings([
      { detector: "b", start: 10, end: 15 },
      { detector: "a", start: 0, end: 10 },
      { detector: "c", start: 20, end: 20 },
    ]);
    assert.deepEqual(merged, [
      { detector: "a", start: 0, end: 10 },
      { detector: "b", start: 10, end: 15 },
    ]);
  });

  test("a chain of overlaps becomes one span", () => {
    const merged = mergeFindings([
      { detector: "a", start: 0, end: 4 },
      { detector: "b", start: 3, end: 8 },
      { detector: "c", start: 7, end: 9 },
    ]);
    assert.deepEqual(merged, [{ detector: "b", start: 0, end: 9 }]);
  });

  test("a specific token beats the generic assignment detector that sees the same value", () => {
    const text = "GITHUB_TOKEN=ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5\n";
    const findings = scanText(text, ALL_DETECTORS);
    assert.equal(findings.length, 1);
    assert.equal(findings[0]?.detector, "github-pat");
    assert.equal(redactText(text, ALL_DETECTORS).text, "GITHUB_TOKEN=[GITHUB_TOKEN]\n");
  });

  test("overlapping findings of different detectors are replaced once, with nothing of either left", () => {
    const text = "0123456789abcdefghij";
    const out = redactText(text, [fixed("x", [[2, 8]]), fixed("y", [[6, 14]])]);
    assert.equal(out.text, "01[Y]efghij");
    assert.deepEqual(out.counts, { y: 1 });
  });

  test("an empty text has no findings", () => {
    assert.deepEqual(scanText("", ALL_DETECTORS), []);
  });
});

describe("redactFindings", () => {
  const secrets = [
    "AKIAZ7QW3ER5TY6UI2OP",
    "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
    "xoxb-1234567890-9876543210-aB3dE5fG7hJ9kL1mN3pQ5rS7",
    "4111 1111 1111 1111",
    "078-12-3456",
  ];
  const text = [
    `aws key ${secrets[0] ?? ""}`,
    `token=${secrets[1] ?? ""}`,
    `slack ${secrets[2] ?? ""}`,
    `card ${secrets[3] ?? ""}`,
    `ssn ${secrets[4] ?? ""}`,
    `again ${secrets[0] ?? ""}`,
  ].join("\n");

  test("counts findings per detector id and never carries a value", () => {
    const { text: redacted, counts } = redactText(text, defaultDetectors());
    assert.deepEqual(counts, { "aws-access-key-id": 2, "github-pat": 1, "slack-bot-token": 1, "payment-card": 1, "us-ssn": 1 });
    const serialised = JSON.stringify(counts);
    for (const s of secrets) {
      assert.ok(!serialised.includes(s), "counts must not contain a value");
      assert.ok(!redacted.includes(s), `${s} survived`);
    }
    for (const [k, v] of Object.entries(counts)) {
      assert.ok(ALL_DETECTORS.some((d) => d.id === k));
      assert.equal(typeof v, "number");
    }
  });

  test("findings hold only the detector id and offsets", () => {
    for (const f of scanText(text, ALL_DETECTORS)) assert.deepEqual(Object.keys(f).sort(), ["detector", "end", "start"]);
  });

  test("accepts unsorted and overlapping findings, and unknown detectors get a neutral placeholder", () => {
    const out = redactFindings(
      "abcdefghij",
      [
        { detector: "nobody", start: 6, end: 8 },
        { detector: "nobody", start: 1, end: 3 },
        { detector: "nobody", start: 2, end: 4 },
      ],
      [],
    );
    assert.equal(out.text, "a[REDACTED]ef[REDACTED]ij");
    assert.deepEqual(out.counts, { nobody: 2 });
  });

  test("no findings: the text comes back as is", () => {
    assert.deepEqual(redactFindings("plain", [], ALL_DETECTORS), { text: "plain", counts: {} });
  });
});

describe("per-match replacement", () => {
  test("a bank account number is masked to its last four digits", () => {
    assert.equal(redactText("Account number: 12345678901\n", defaultDetectors()).text, "Account number: ****8901\n");
    assert.equal(redactText("acct #00412345678 please", defaultDetectors()).text, "acct #****5678 please");
    assert.equal(redactText("Kontonummer: 12-345678-90", defaultDetectors()).text, "Kontonummer: ****7890");
  });

  test("the mask is computed per match", () => {
    const out = redactText("account 11112222 and account 33334444", defaultDetectors());
    assert.equal(out.text, "account ****2222 and account ****4444");
    assert.deepEqual(out.counts, { "bank-account": 2 });
  });

  test("a span widened by a merge gets the fixed replacement, so no digit of a neighbour shows", () => {
    const bank = byId("bank-account");
    const text = "account 12345678 tail";
    const [f] = bank.find(text);
    assert.deepEqual(f, { detector: "bank-account", start: 8, end: 16 });
    // A shorter finding that overlaps the number's end: the merged span is wider than the bank account finding, which still wins.
    const other = fixed("other", [[14, 21]]);
    const out = redactFindings(text, [...bank.find(text), ...other.find(text)], [bank, other]);
    assert.equal(out.text, "account [BANK_ACCOUNT]");
    assert.deepEqual(out.counts, { "bank-account": 1 });
  });

  test("only the password of a URL's user-info is replaced", () => {
    const out = redactText("DATABASE_URL=postgres://app:Zq9-xT4mPw@db.internal:5432/app", defaultDetectors());
    assert.equal(out.text, "DATABASE_URL=postgres://app:[PASSWORD]@db.internal:5432/app");
  });

  test("a PEM private key is replaced as a whole block", () => {
    const body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\nMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n";
    const text = `key:\n-----BEGIN PRIVATE KEY-----\n${body}-----END PRIVATE KEY-----\nnext line`;
    assert.equal(redactText(text, defaultDetectors()).text, "key:\n[PRIVATE_KEY]\nnext line");
  });

  test("password assignments keep the key and replace only the value", () => {
    assert.equal(redactText('{"user": "ada", "password": "Tr0ub4dor&3"}', defaultDetectors()).text, '{"user": "ada", "password": "[PASSWORD]"}');
    assert.equal(redactText("my wifi password is Blue-Sky-42-Tango.", defaultDetectors()).text, "my wifi password is [PASSWORD].");
  });
});

describe("context detectors skip placeholders", () => {
  for (const line of [
    "password=changeme",
    "DB_PASSWORD=xxxxxxxx",
    "token: xxxxx",
    "api_key=${OPENAI_API_KEY}",
    'secret = "<TOKEN>"',
    "client_secret: {{ vault.client_secret }}",
    "AWS_SECRET_ACCESS_KEY=$AWS_SECRET",
    "password: ********",
    "api_key: your-api-key-here",
    "token=%TOKEN%",
  ]) {
    test(line, () => {
      assert.equal(redactText(line, defaultDetectors()).text, line);
    });
  }
  test("while the same keys with real-looking values are redacted", () => {
    const out = redactText("password=Xk4!mQ9#tZ\napi_key=Zt8Lq2Rm5Wv9Np3Kx7Bc\n".replace(/\\n/g, "\n"), defaultDetectors());
    assert.equal(out.text, "password=[PASSWORD]\napi_key=[SECRET]\n");
  });
});

describe("detector registry", () => {
  test("has at least 40 credential detectors and the PII set, with unique ids and bracketed replacements", () => {
    assert.ok(CREDENTIAL_DETECTORS.length >= 40, `${CREDENTIAL_DETECTORS.length} credential detectors`);
    assert.deepEqual(
      PII_DETECTORS.map((d) => d.id),
      ["us-ssn", "payment-card", "iban", "bank-account", "email", "phone"],
    );
    const ids = ALL_DETECTORS.map((d) => d.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const d of ALL_DETECTORS) {
      assert.match(d.id, /^[a-z0-9]+(?:-[a-z0-9]+)*$/);
      assert.match(d.replacement, /^\[[A-Z0-9_]+\]$/);
      assert.ok(d.description.length > 10);
    }
  });

  test("e-mail and phone are off by default; everything else is on", () => {
    const off = ALL_DETECTORS.filter((d) => !defaultDetectors().includes(d)).map((d) => d.id);
    assert.deepEqual(off, ["email", "phone"]);
  });

  test("detectorsById keeps registry order and rejects unknown ids", () => {
    assert.deepEqual(
      detectorsById(["phone", "github-pat", "email"]).map((d) => d.id),
      ["github-pat", "email", "phone"],
    );
    assert.throws(
      () => detectorsById(["github-pat", "gihtub-pat"]),
      (err: unknown) => err instanceof AegisError && err.code === "CONFIG_INVALID" && err.message.includes("gihtub-pat"),
    );
  });

  test("opt-in detectors work when selected", () => {
    const out = redactText("mail ada.park@example.org or call +44 20 7946 0958", detectorsById(["email", "phone"]));
    assert.equal(out.text, "mail [EMAIL] or call [PHONE]");
  });
});

describe("validators", () => {
  test("Luhn", () => {
    assert.ok(luhnValid("4111111111111111"));
    assert.ok(luhnValid("378282246310005"));
    assert.ok(!luhnValid("4111111111111112"));
    assert.ok(!luhnValid("41111111111a1111"));
  });

  test("IBAN mod-97 on published examples and on our generator", () => {
    assert.equal(ibanRemainder("GB82WEST12345698765432"), 1);
    assert.equal(ibanRemainder("DE89370400440532013000"), 1);
    assert.notEqual(ibanRemainder("DE89370400440532013001"), 1);
    assert.equal(ibanRemainder(makeIban("FR", "20041010050500013M02606")), 1);
    assert.equal(ibanRemainder("de89370400440532013000"), -1);
  });

  test("bech32 (BIP-173 vectors)", () => {
    assert.ok(bech32Valid("A12UEL5L"));
    assert.ok(bech32Valid("a12uel5l"));
    assert.ok(bech32Valid("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw"));
    assert.ok(!bech32Valid("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxx"));
    assert.ok(!bech32Valid("A12uEL5L"));
  });

  test("entropy and character classes", () => {
    assert.equal(shannonEntropy(""), 0);
    assert.equal(shannonEntropy("aaaa"), 0);
    assert.equal(shannonEntropy("abab"), 1);
    assert.ok(Math.abs(shannonEntropy("abcd") - 2) < 1e-9);
    assert.equal(charClasses("aB3!").count, 4);
    assert.equal(charClasses("abc").count, 1);
  });

  test("placeholders", () => {
    for (const p of ["${DB_PASSWORD}", "$TOKEN", "<your-token>", "{{ secret }}", "%API_KEY%", "changeme", "xxxxxxxx", "********", "your_api_key_here", "ENC[AES256_GCM,data:abc]", "process.env.KEY"]) {
      assert.ok(isPlaceholder(p), p);
    }
    for (const v of ["Tr0ub4dor&3", "q8Zr2LkP0vXn5TgW7bYc", "hunter22"]) assert.ok(!isPlaceholder(v), v);
  });

  test("JWT segments decode only when they are JSON objects", () => {
    assert.deepEqual(decodeJsonSegment(Buffer.from('{"alg":"HS256"}').toString("base64url")), { alg: "HS256" });
    assert.equal(decodeJsonSegment(Buffer.from("[1,2]").toString("base64url")), undefined);
    assert.equal(decodeJsonSegment("not base64!"), undefined);
  });
});
