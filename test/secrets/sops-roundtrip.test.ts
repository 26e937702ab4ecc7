/**
 * Files we write: encrypt → decrypt gives back exactly what went in (types,
 * order, comments), plaintext forms are sops's, and the AAD and the MAC catch
 * values moved between keys, reordered, removed, or a changed lastmodified.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { generateX25519Identity, identityToRecipient } from "age-encryption";

import {
  decryptSopsFile,
  decryptValue,
  emitPlainYaml,
  encryptSopsFile,
  encryptSopsTree,
  formatGoFloat,
  loadPlainDotenv,
  loadPlainIni,
  loadPlainJson,
  loadPlainYaml,
  loadSopsFile,
  openValue,
  parseAgeIdentities,
  treeToPlain,
  type LoadedSopsFile,
  type PlainObject,
  type SopsMapEntry,
  type SopsNode,
} from "../../src/secrets/sops/index.ts";
import { isAegis } from "../helpers/errors.ts";
import { keyOrder } from "./sops-helpers.ts";

const identity = await generateX25519Identity();
const recipient = await identityToRecipient(identity);
const NOW = new Date("2026-03-04T05:06:07.890Z");

const nested: PlainObject = {
  "10": "an integer-like key",
  title: "ünïcødé ✓ — 日本語 🔐",
  empty: "",
  count: 42,
  negative: -7,
  big: 1234567890123456789n,
  ratio: 0.25,
  huge: 1e21,
  tiny: 1e-7,
  subnormal: 5e-324,
  yes: true,
  no: false,
  nothing: null,
  db: { user: "eve", password: "c4r1b0u", port: 5432, nested: { deeper: { leaf: "x" } } },
  list: ["a", 1, 2.5, true, ["inner"], { k: "v" }, ""],
  emptyMap: {},
  emptyList: [],
  notes_unencrypted: { visible: "in clear", n: 3 },
};

function storedValue(loaded: LoadedSopsFile, path: readonly string[]): string {
  let node: SopsNode = loaded.branches[0] ?? { kind: "map", items: [] };
  for (const key of path) {
    if (node.kind !== "map") assert.fail(`${key}: not under a map`);
    const found: SopsMapEntry | undefined = node.items.find((item): item is SopsMapEntry => item.kind === "entry" && item.key === key);
    if (found === undefined) assert.fail(`no ${key}`);
    node = found.value;
  }
  if (node.kind !== "str") assert.fail(`${path.join(":")} is not stored as a string`);
  return node.value;
}

describe("round trip through an encrypted file", () => {
  for (const format of ["yaml", "json"] as const) {
    test(`${format}: a nested document comes back identical, keys in order, big ints exact`, async () => {
      const text = await encryptSopsFile(nested, format, { recipients: [recipient], now: NOW });
      assert.ok(!text.includes("c4r1b0u") && !text.includes("eve\""), "a secret is in clear");
      assert.match(text, /in clear/, "the _unencrypted subtree stays readable");
      const result = await decryptSopsFile(text, format, { ageIdentities: [identity] });
      assert.deepStrictEqual(result.tree, nested);
      assert.deepStrictEqual(keyOrder(result.tree), keyOrder(nested));
      assert.equal(result.metadata.lastModified, "2026-03-04T05:06:07Z");
      assert.equal(result.metadata.age[0]?.recipient, recipient);
      assert.match(result.mac, /^[0-9A-F]{128}$/);
    });
  }

  test("values are stored with sops's plaintext forms and types", async () => {
    const dataKey = Buffer.alloc(32, 7);
    const text = await encryptSopsFile(nested, "yaml", { recipients: [recipient], dataKey });
    const loaded = loadSopsFile(text, "yaml");
    assert.deepStrictEqual(decryptValue(storedValue(loaded, ["huge"]), dataKey, "huge:"), { kind: "float", value: 1e21 });
    assert.deepStrictEqual(decryptValue(storedValue(loaded, ["db", "port"]), dataKey, "db:port:"), { kind: "int", value: 5432n });
    assert.match(storedValue(loaded, ["huge"]), /type:float\]$/);
    assert.match(storedValue(loaded, ["count"]), /type:int\]$/);
    assert.match(storedValue(loaded, ["yes"]), /type:bool\]$/);
    assert.match(storedValue(loaded, ["title"]), /type:str\]$/);
    assert.equal(storedValue(loaded, ["empty"]), "", "an empty string is stored as \"\"");
    // The raw bytes: Go's FormatFloat(f, 'f', -1, 64), Title-case bools, decimal ints.
    const raw = (path: string[]): string => openValue(storedValue(loaded, path), dataKey, path.join(":") + ":").plaintext.toString("utf8");
    assert.equal(raw(["huge"]), "1000000000000000000000");
    assert.equal(raw(["tiny"]), "0.0000001");
    assert.equal(raw(["yes"]), "True");
    assert.equal(raw(["no"]), "False");
    assert.equal(raw(["big"]), "1234567890123456789");
    assert.equal(raw(["negative"]), "-7");
    assert.equal(raw(["subnormal"]), `0.${"0".repeat(323)}5`);
  });

  test("a YAML file with comments keeps them (encrypted, with the enclosing map's path as AAD)", async () => {
    const source = [
      "# top comment",
      "first: 1 # after first",
      "nested:",
      "    # inside nested",
      "    a: x",
      "    deeper:",
      "        c: 1.0",
      "        # deep trailing",
      "    # nested trailing",
      "# before list",
      "list:",
      "    # list head",
      "    - one",
      "    - k: v",
      "      # in item map",
      "      j: w",
      "    # list trailing",
      "plain_unencrypted: visible # a comment is in its enclosing map, so this one is encrypted",
      "# end of document",
      "",
    ].join("\n");
    const branches = loadPlainYaml(source);
    const text = await encryptSopsTree(branches, "yaml", { recipients: [recipient] });
    assert.ok(!text.includes("inside nested") && !text.includes("deep trailing"), "a comment is in clear");
    assert.match(text, /#ENC\[AES256_GCM,data:[^\]]+,type:comment\]/);
    const result = await decryptSopsFile(text, "yaml", { ageIdentities: [identity] });
    assert.deepStrictEqual(result.branches, branches);
    assert.deepStrictEqual(result.tree, { first: 1, nested: { a: "x", deeper: { c: 1 } }, list: ["one", { k: "v", j: "w" }], plain_unencrypted: "visible" });
    assert.deepStrictEqual(
      result.comments.map(({ aad, text: comment }) => [aad, comment]),
      [
        [":", " top comment"],
        [":", " after first"],
        ["nested:", " inside nested"],
        ["nested:deeper:", " deep trailing"],
        ["nested:", " nested trailing"],
        [":", " before list"],
        ["list:", " list head"],
        ["list:", " in item map"],
        ["list:", " list trailing"],
        [":", " a comment is in its enclosing map, so this one is encrypted"],
        [":", " end of document"],
      ],
    );
    // The editor view shows the comments where they were.
    assert.deepStrictEqual(loadPlainYaml(emitPlainYaml(result.branches)), branches);
  });

  test("a YAML float stays a float, an int an int", async () => {
    const branches = loadPlainYaml("f: 2.0\ni: 2\ne: 1e3\n");
    const text = await encryptSopsTree(branches, "yaml", { recipients: [recipient] });
    assert.match(text, /f: ENC\[[^\]]+type:float\]/);
    assert.match(text, /i: ENC\[[^\]]+type:int\]/);
    assert.match(text, /e: ENC\[[^\]]+type:float\]/);
    assert.deepStrictEqual((await decryptSopsFile(text, "yaml", { ageIdentities: [identity] })).branches, branches);
  });

  test("multi-document YAML: every document is encrypted and returned", async () => {
    const branches = loadPlainYaml("a: 1\n---\nb: two\n");
    assert.equal(branches.length, 2);
    const text = await encryptSopsTree(branches, "yaml", { recipients: [recipient] });
    assert.equal(text.match(/^sops:$/gm)?.length, 2);
    const result = await decryptSopsFile(text, "yaml", { ageIdentities: [identity] });
    assert.deepStrictEqual(result.documents, [{ a: 1 }, { b: "two" }]);
  });

  test("several recipients can each open the file", async () => {
    const second = await generateX25519Identity();
    const text = await encryptSopsFile({ k: "v" }, "yaml", { recipients: [recipient, await identityToRecipient(second)] });
    for (const id of [identity, second]) assert.deepStrictEqual((await decryptSopsFile(text, "yaml", { ageIdentities: [id] })).tree, { k: "v" });
  });

  test("the caller's data key buffer is left as it was", async () => {
    const dataKey = Buffer.alloc(32, 9);
    const text = await encryptSopsFile({ k: "v" }, "json", { recipients: [recipient], dataKey });
    await decryptSopsFile(text, "json", { dataKey });
    assert.deepStrictEqual(dataKey, Buffer.alloc(32, 9));
  });
});

describe("tampering with a file we wrote", () => {
  const swap = (text: string, a: string, b: string): string => {
    const va = new RegExp(`^${a}: (ENC\\[[^\\]]+\\])$`, "m").exec(text)?.[1];
    const vb = new RegExp(`^${b}: (ENC\\[[^\\]]+\\])$`, "m").exec(text)?.[1];
    assert.ok(va !== undefined && vb !== undefined);
    return text.replace(`${a}: ${va}`, `${a}: ${vb}`).replace(`${b}: ${vb}`, `${b}: ${va}`);
  };

  test("swapping two encrypted values between keys is refused (AAD)", async () => {
    const text = await encryptSopsFile({ alpha: "first secret", beta: "second secret" }, "yaml", { recipients: [recipient] });
    assert.deepStrictEqual((await decryptSopsFile(text, "yaml", { ageIdentities: [identity] })).tree, { alpha: "first secret", beta: "second secret" });
    await assert.rejects(
      decryptSopsFile(swap(text, "alpha", "beta"), "yaml", { ageIdentities: [identity], file: "secrets.enc.yaml" }),
      isAegis("KEY_INVALID", /^secrets\.enc\.yaml: the value at "alpha:" could not be decrypted/),
    );
  });

  test("editing lastmodified is refused (the MAC's AAD)", async () => {
    const text = await encryptSopsFile({ alpha: "first secret" }, "yaml", { recipients: [recipient], now: NOW });
    const edited = text.replace('lastmodified: "2026-03-04T05:06:07Z"', 'lastmodified: "2026-03-04T05:06:08Z"');
    assert.notEqual(edited, text);
    await assert.rejects(decryptSopsFile(edited, "yaml", { ageIdentities: [identity] }), isAegis("KEY_INVALID", /MAC in the sops metadata does not open/));
  });

  test("removing a value or reordering list items is refused (MAC)", async () => {
    const text = await encryptSopsFile({ list: ["one", "two"], keep: "k", drop: "d" }, "yaml", { recipients: [recipient] });
    const removed = text.replace(/^drop: ENC\[[^\]]+\]\n/m, "");
    assert.notEqual(removed, text);
    await assert.rejects(decryptSopsFile(removed, "yaml", { ageIdentities: [identity] }), isAegis("KEY_INVALID", /MAC mismatch/));
    const lines = text.split("\n");
    const at = lines.findIndex((line) => line === "list:") + 1;
    [lines[at], lines[at + 1]] = [lines[at + 1] ?? "", lines[at] ?? ""];
    await assert.rejects(decryptSopsFile(lines.join("\n"), "yaml", { ageIdentities: [identity] }), isAegis("KEY_INVALID", /MAC mismatch/));
  });

  test("the wrong identity, no identity, or a malformed one is refused", async () => {
    const text = await encryptSopsFile({ k: "v" }, "yaml", { recipients: [recipient] });
    await assert.rejects(decryptSopsFile(text, "yaml", { ageIdentities: [await generateX25519Identity()] }), isAegis("KEY_INVALID", /none of the 1 age identity/));
    await assert.rejects(decryptSopsFile(text, "yaml", {}), isAegis("KEY_INVALID", /no data key and no age identity/));
    await assert.rejects(decryptSopsFile(text, "yaml", { ageIdentities: ["AGE-SECRET-KEY-1NOPE"] }), isAegis("KEY_INVALID", /malformed/));
  });
});

describe("encryption rules", () => {
  const data: PlainObject = { api_key: "s1", public_url: "https://x", db: { password_enc: "s2", host: "h" }, tags_unencrypted: ["a"] };

  async function roundTrip(rules: Parameters<typeof encryptSopsFile>[2]["rules"]): Promise<string> {
    const text = await encryptSopsFile(data, "yaml", { recipients: [recipient], rules });
    assert.deepStrictEqual((await decryptSopsFile(text, "yaml", { ageIdentities: [identity] })).tree, data);
    return text;
  }

  test("default: everything but the _unencrypted suffix is encrypted", async () => {
    const text = await roundTrip(undefined);
    assert.match(text, /unencrypted_suffix: _unencrypted/);
    assert.match(text, /- a$/m);
    assert.doesNotMatch(text, /https:\/\/x|host: h/);
  });

  test("encrypted_regex encrypts only matching keys (and their subtrees)", async () => {
    const text = await roundTrip({ encryptedRegex: "^(api_key|db)$" });
    assert.match(text, /public_url: https:\/\/x/);
    assert.match(text, /api_key: ENC\[/);
    assert.match(text, /host: ENC\[/);
    assert.match(text, /encrypted_regex: \^\(api_key\|db\)\$/);
  });

  test("unencrypted_regex and encrypted_suffix", async () => {
    let text = await roundTrip({ unencryptedRegex: "^public_" });
    assert.match(text, /public_url: https:\/\/x/);
    assert.match(text, /api_key: ENC\[/);
    text = await roundTrip({ encryptedSuffix: "_enc" });
    assert.match(text, /password_enc: ENC\[/);
    assert.match(text, /api_key: s1/);
  });

  test("more than one key rule is refused, as in sops", async () => {
    await assert.rejects(encryptSopsFile(data, "yaml", { recipients: [recipient], rules: { encryptedRegex: "a", unencryptedSuffix: "_x" } }), isAegis("CONFIG_INVALID", /more than one/));
  });

  test("mac_only_encrypted: clear values may change, encrypted ones may not; without it both are covered", async () => {
    const only = await encryptSopsFile(data, "yaml", { recipients: [recipient], rules: { unencryptedRegex: "^public_", macOnlyEncrypted: true } });
    assert.match(only, /mac_only_encrypted: true/);
    const edited = only.replace("public_url: https://x", "public_url: https://evil");
    assert.deepStrictEqual((await decryptSopsFile(edited, "yaml", { ageIdentities: [identity] })).tree["public_url"], "https://evil");
    const full = await encryptSopsFile(data, "yaml", { recipients: [recipient], rules: { unencryptedRegex: "^public_" } });
    await assert.rejects(
      decryptSopsFile(full.replace("public_url: https://x", "public_url: https://evil"), "yaml", { ageIdentities: [identity] }),
      isAegis("KEY_INVALID", /MAC mismatch/),
    );
  });

  test("unencrypted_comment_regex leaves the marked value and its comment in clear", async () => {
    const branches = loadPlainYaml("# sops:nocrypt\nvisible: v\nhidden: h\n");
    const text = await encryptSopsTree(branches, "yaml", { recipients: [recipient], rules: { unencryptedCommentRegex: "sops:nocrypt" } });
    assert.match(text, /^# sops:nocrypt\nvisible: v\nhidden: ENC\[/m);
    assert.deepStrictEqual((await decryptSopsFile(text, "yaml", { ageIdentities: [identity] })).branches, branches);
  });
});

describe("stores and plaintext forms", () => {
  test("formatGoFloat writes Go's FormatFloat(f, 'f', -1, 64)", () => {
    const cases: [number, string][] = [
      [0, "0"],
      [-0, "-0"],
      [1, "1"],
      [25.4, "25.4"],
      [-1.5, "-1.5"],
      [0.1 + 0.2, "0.30000000000000004"],
      [1e21, "1000000000000000000000"],
      [1.5e22, "15000000000000000000000"],
      [1e-7, "0.0000001"],
      [1.234e-7, "0.0000001234"],
      [123456789.125, "123456789.125"],
      [1234568000, "1234568000"],
      [Number.MAX_VALUE, `17976931348623157${"0".repeat(292)}`],
      [NaN, "NaN"],
      [Infinity, "+Inf"],
      [-Infinity, "-Inf"],
    ];
    for (const [value, expected] of cases) assert.equal(formatGoFloat(value), expected, String(value));
  });

  test("JSON keeps key order (integer-like keys too) and int64 precision", () => {
    const branch = loadPlainJson('{"b": 1, "2": 2, "a": 12345678901234567, "f": 1.0, "big": 123456789012345678901}'); // > int64: a float
    const keys = branch.items.map((item) => (item.kind === "entry" ? item.key : ""));
    assert.deepStrictEqual(keys, ["b", "2", "a", "f", "big"]);
    assert.deepStrictEqual(
      branch.items.map((item) => (item.kind === "entry" ? item.value : null)),
      [
        { kind: "int", value: 1n },
        { kind: "int", value: 2n },
        { kind: "int", value: 12345678901234567n },
        { kind: "float", value: 1 },
        { kind: "float", value: Number("123456789012345678901") },
      ],
    );
    assert.deepStrictEqual(treeToPlain(branch)["a"], 12345678901234567n);
  });

  test("malformed input is CONFIG_INVALID, naming the file", async () => {
    await assert.rejects(decryptSopsFile('{"a": 1,}', "json", { dataKey: Buffer.alloc(32), file: "x.json" }), isAegis("CONFIG_INVALID", /^x\.json: not valid JSON/));
    await assert.rejects(decryptSopsFile('{"a": 1, "a": 2}', "json", { dataKey: Buffer.alloc(32), file: "x.json" }), isAegis("CONFIG_INVALID", /duplicate key/));
    await assert.rejects(decryptSopsFile("a: [1\n", "yaml", { dataKey: Buffer.alloc(32), file: "x.yaml" }), isAegis("CONFIG_INVALID", /^x\.yaml: not valid YAML/));
    await assert.rejects(decryptSopsFile("a: 1\n", "yaml", { dataKey: Buffer.alloc(32), file: "x.yaml" }), isAegis("CONFIG_INVALID", /no sops metadata/));
    await assert.rejects(
      decryptSopsFile('a: 1\nsops:\n    lastmodified: "yesterday"\n    mac: x\n', "yaml", { dataKey: Buffer.alloc(32), file: "x.yaml" }),
      isAegis("CONFIG_INVALID", /lastmodified "yesterday" is not an RFC 3339 time/),
    );
    await assert.rejects(decryptSopsFile("1: one\n", "yaml", { dataKey: Buffer.alloc(32) }), isAegis("CONFIG_INVALID", /not a string/));
  });

  test("plain dotenv and INI readers (for imports)", () => {
    assert.deepStrictEqual(treeToPlain(loadPlainDotenv("# c\nA=1\nB = two\\nlines\n")), { A: "1", "B ": " two\nlines" });
    assert.deepStrictEqual(treeToPlain(loadPlainIni("top = t\n; c\n[s]\nk = 'v' ; note\n")), { DEFAULT: { top: "t" }, s: { k: "v" } });
  });

  test("age identity files: comments and blank lines are skipped", () => {
    assert.deepStrictEqual(parseAgeIdentities(`# created: now\n# public key: ${recipient}\n${identity}\n\n`), [identity]);
  });
});
