/**
 * Conformance with the real sops CLI: every file in ../shared/vectors/sops
 * (written by sops, unmodified) decrypts to its recorded plaintext with its
 * recorded MAC and comments, and is refused after any single-character change
 * to a value's data, iv or tag, to the MAC, to lastmodified, or to a clear
 * value the MAC covers.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { generateX25519Identity } from "age-encryption";

import { decryptLoadedSopsFile, decryptSopsFile, loadSopsFile, unwrapDataKey } from "../../src/secrets/sops/index.ts";
import { isAegis } from "../helpers/errors.ts";
import { changeCharAt, encFields, keyOrder, loadVectors, samplePositions, vectorText, type SopsVector } from "./sops-helpers.ts";

const vectors = loadVectors();
const accepted = vectors.filter((vector) => vector.expect === "accept");
const rejected = vectors.filter((vector) => vector.expect === "reject");

const dataKeyOf = (vector: SopsVector): Buffer => Buffer.from(vector.data_key_hex, "hex");

async function decryptVector(vector: SopsVector, text = vectorText(vector)): Promise<Awaited<ReturnType<typeof decryptSopsFile>>> {
  return decryptSopsFile(text, vector.format, { dataKey: dataKeyOf(vector), file: vector.file });
}

describe("sops vectors: decryption reproduces what sops wrote", () => {
  test("the manifest has the vectors the suite expects", () => {
    assert.ok(accepted.length >= 9, `only ${accepted.length} accepted vectors`);
    assert.ok(rejected.some((vector) => vector.file === "no_mac.yaml"));
    assert.ok(accepted.some((vector) => vector.age_identity !== undefined));
  });

  for (const vector of accepted) {
    test(`${vector.file} (${vector.format}, written by sops ${vector.sops_version}) decrypts to its plaintext, in order, with its MAC and comments`, async () => {
      const result = await decryptVector(vector);
      assert.deepStrictEqual(result.tree, vector.plaintext);
      assert.deepStrictEqual(keyOrder(result.tree), keyOrder(vector.plaintext), "key order differs from the file");
      assert.equal(result.mac, vector.mac);
      assert.equal(result.metadata.lastModified, vector.lastmodified);
      assert.deepStrictEqual(
        result.comments.filter((item) => item.encrypted).map(({ aad, text }) => ({ aad, text })),
        vector.comments,
      );
      assert.ok(result.comments.every((item) => item.encrypted), "a vector comment was left in clear");
    });
  }

  for (const vector of accepted.filter((item) => item.age_identity !== undefined)) {
    test(`${vector.file}: the age identity unwraps the data key and opens the file`, async () => {
      const identity = vector.age_identity ?? "";
      const loaded = loadSopsFile(vectorText(vector), vector.format, vector.file);
      assert.ok(loaded.metadata.age.some((key) => key.recipient === vector.age_recipient));
      const dataKey = await unwrapDataKey(loaded.metadata, [identity], vector.file);
      assert.equal(dataKey.toString("hex"), vector.data_key_hex);
      const result = await decryptSopsFile(vectorText(vector), vector.format, { ageIdentities: [identity], file: vector.file });
      assert.deepStrictEqual(result.tree, vector.plaintext);
      assert.equal(result.mac, vector.mac);
    });
  }

  for (const vector of rejected) {
    test(`${vector.file} is refused (${vector.mac === null ? "no MAC" : "expected reject"}), as sops refuses it without --ignore-mac`, async () => {
      await assert.rejects(decryptVector(vector), isAegis("KEY_INVALID", /no MAC/));
    });
  }

  test("a wrong data key is refused, naming the file", async () => {
    const [vector] = accepted;
    assert.ok(vector !== undefined);
    const wrong = Buffer.from(dataKeyOf(vector));
    wrong[0] = (wrong[0] ?? 0) ^ 1;
    await assert.rejects(
      decryptSopsFile(vectorText(vector), vector.format, { dataKey: wrong, file: vector.file }),
      isAegis("KEY_INVALID", new RegExp(`^${vector.file.replace(".", "\\.")}: `)),
    );
  });

  test("a wrong age identity is refused and the message names the recipients", async () => {
    const vector = accepted.find((item) => item.age_identity !== undefined);
    assert.ok(vector !== undefined);
    const otherIdentity = await generateX25519Identity();
    await assert.rejects(
      decryptSopsFile(vectorText(vector), vector.format, { ageIdentities: [otherIdentity], file: vector.file }),
      isAegis("KEY_INVALID", /none of the 1 age identity given opens its data key \(recipients: age1yt3tf/),
    );
  });
});

describe("sops vectors: any single-character change is refused", () => {
  for (const vector of accepted) {
    test(`${vector.file}: every ENC value (and the MAC) x data/iv/tag x 3 positions`, async () => {
      const text = vectorText(vector);
      const fields = encFields(text);
      const values = new Set(fields.map((field) => field.value)).size;
      assert.ok(values >= 2, "expected at least one value and the MAC");
      let cases = 0;
      for (const field of fields) {
        for (const offset of samplePositions(field)) {
          const changed = changeCharAt(text, offset);
          assert.notEqual(changed, text);
          await assert.rejects(decryptVector(vector, changed), isAegis("KEY_INVALID"), `ENC #${field.value} ${field.field} offset ${offset - field.start} was accepted`);
          cases++;
        }
      }
      assert.ok(cases >= values * 3 * 2, `only ${cases} cases`);
    });

    test(`${vector.file}: a changed lastmodified is refused (it is the MAC's AAD)`, async () => {
      const text = vectorText(vector);
      // The value after the lastmodified key (pgp created_at may hold the same time).
      const at = text.indexOf(vector.lastmodified, text.indexOf("lastmodified"));
      assert.ok(at !== -1 && text.indexOf("lastmodified") !== -1);
      // Change the seconds' last digit, keeping a valid time.
      const digit = at + vector.lastmodified.length - 2;
      const changed = text.slice(0, digit) + String((Number(text.charAt(digit)) + 1) % 10) + text.slice(digit + 1);
      await assert.rejects(decryptVector(vector, changed), isAegis("KEY_INVALID", /MAC in the sops metadata does not open/));
    });

    test(`${vector.file}: a missing MAC is refused`, async () => {
      const loaded = loadSopsFile(vectorText(vector), vector.format, vector.file);
      assert.ok(loaded.metadata.mac !== undefined);
      await assert.rejects(
        decryptLoadedSopsFile({ ...loaded, metadata: { ...loaded.metadata, mac: undefined } }, { dataKey: dataKeyOf(vector), file: vector.file }),
        isAegis("KEY_INVALID", /no MAC/),
      );
    });
  }

  const clearValues: readonly [file: string, from: string, to: string][] = [
    ["example.yaml", "remain in clear text", "remain in clear texT"],
    ["example.yaml", "all: going to remain in clear text", "all: going to remain in clear texT"],
    ["example.ini", "notsecret_unencrypted = hi there!", "notsecret_unencrypted = hi there?"],
  ];
  for (const [file, from, to] of clearValues) {
    test(`${file}: changing a clear value the MAC covers (${JSON.stringify(from)}) is refused`, async () => {
      const vector = accepted.find((item) => item.file === file);
      assert.ok(vector !== undefined);
      const text = vectorText(vector);
      assert.ok(text.includes(from));
      await assert.rejects(decryptVector(vector, text.replace(from, to)), isAegis("KEY_INVALID", /MAC mismatch/));
    });
  }

  test("example.yaml: swapping two list items (same AAD) is refused by the MAC", async () => {
    const vector = accepted.find((item) => item.file === "example.yaml");
    assert.ok(vector !== undefined);
    const text = vectorText(vector);
    const lines = text.split("\n");
    const first = lines.findIndex((line) => line.startsWith("an_array:")) + 1;
    const [a, b] = [lines[first], lines[first + 1]];
    assert.ok(a?.includes("ENC[") === true && b?.includes("ENC[") === true);
    lines[first] = b;
    lines[first + 1] = a;
    await assert.rejects(decryptVector(vector, lines.join("\n")), isAegis("KEY_INVALID", /MAC mismatch/));
  });

  test("example.yaml: moving an encrypted value to another key is refused by its AAD", async () => {
    const vector = accepted.find((item) => item.file === "example.yaml");
    assert.ok(vector !== undefined);
    const text = vectorText(vector);
    const user = /user: (ENC\[[^\]]+\])/.exec(text)?.[1];
    const password = /password: (ENC\[[^\]]+\])/.exec(text)?.[1];
    assert.ok(user !== undefined && password !== undefined);
    const swapped = text.replace(`user: ${user}`, "user: SWAP").replace(`password: ${password}`, `password: ${user}`).replace("user: SWAP", `user: ${password}`);
    await assert.rejects(decryptVector(vector, swapped), isAegis("KEY_INVALID", /"app2:db:user:" could not be decrypted/));
  });

  test("example.yaml: a value written in clear where it must be encrypted is refused", async () => {
    const vector = accepted.find((item) => item.file === "example.yaml");
    assert.ok(vector !== undefined);
    const text = vectorText(vector).replace(/myapp1: ENC\[[^\]]+\]/, "myapp1: t00m4nys3cr3tzupdated");
    await assert.rejects(decryptVector(vector, text), isAegis("KEY_INVALID", /"myapp1:" is not encrypted/));
  });
});
