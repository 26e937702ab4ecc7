/**
 * Interop with the real age CLI (Debian package `age`): the data-key stanzas
 * we write open with `age -d`, and a stanza written by `age -r` opens with our
 * reader. Skipped, saying so, when the age binary is not installed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";

import { generateX25519Identity, identityToRecipient } from "age-encryption";

import { decryptSopsFile, emitSopsFile, encryptSopsFile, loadSopsFile, parseAgeIdentities, unwrapDataKey, type PlainObject } from "../../src/secrets/sops/index.ts";
import { tempDir } from "../helpers/tmp.ts";

const AGE = ["/usr/bin/age", "/usr/local/bin/age"].find((path) => existsSync(path));
const AGE_KEYGEN = AGE === undefined ? undefined : join(AGE, "..", "age-keygen");
const SKIP = "the age CLI is not installed (Debian package `age`; ./setup installs it)";

const secrets: PlainObject = { api: { token: "sk-test-123", port: 8443 }, list: ["a", "b"], ratio: 1e-7 };

function run(t: TestContext, command: string, args: readonly string[], input?: Uint8Array): Buffer {
  const result = spawnSync(command, args, { input, maxBuffer: 1 << 20 });
  if (result.error !== undefined) throw result.error;
  if (result.status !== 0) t.diagnostic(result.stderr.toString("utf8"));
  assert.equal(result.status, 0, `${command} ${args.join(" ")} failed: ${result.stderr.toString("utf8")}`);
  return result.stdout;
}

describe("interop with the age CLI", () => {
  test("age -d -i IDENTITY opens the stanza we wrote, and its data key opens our values", async (t) => {
    if (AGE === undefined) {
      t.skip(SKIP);
      return;
    }
    const dir = tempDir(t);
    const identity = await generateX25519Identity();
    const text = await encryptSopsFile(secrets, "yaml", { recipients: [await identityToRecipient(identity)] });
    const [stanza] = loadSopsFile(text, "yaml").metadata.age;
    assert.ok(stanza !== undefined);
    assert.match(stanza.enc, /^-----BEGIN AGE ENCRYPTED FILE-----\n/);
    const stanzaFile = join(dir, "stanza.age");
    const identityFile = join(dir, "identity.txt");
    writeFileSync(stanzaFile, stanza.enc);
    writeFileSync(identityFile, `${identity}\n`, { mode: 0o600 });

    const dataKey = run(t, AGE, ["-d", "-i", identityFile, stanzaFile]);
    assert.equal(dataKey.length, 32);
    const result = await decryptSopsFile(text, "yaml", { dataKey });
    assert.deepStrictEqual(result.tree, secrets);
  });

  test("a stanza written by age -a -r RECIPIENT (and an age-keygen identity) opens with our reader", async (t) => {
    if (AGE === undefined || AGE_KEYGEN === undefined || !existsSync(AGE_KEYGEN)) {
      t.skip(SKIP);
      return;
    }
    const dir = tempDir(t);
    const identityFile = join(dir, "keys.txt");
    run(t, AGE_KEYGEN, ["-o", identityFile]);
    const identity = readFileSync(identityFile, "utf8");
    const recipient = run(t, AGE_KEYGEN, ["-y", identityFile]).toString("utf8").trim();
    const [parsed] = parseAgeIdentities(identity);
    assert.ok(parsed !== undefined);
    assert.equal(await identityToRecipient(parsed), recipient);

    // Our file, with the data key we choose; then swap in the CLI's own stanza for it.
    const dataKey = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff));
    const ours = await encryptSopsFile(secrets, "json", { recipients: [recipient], dataKey });
    const cliStanza = run(t, AGE, ["-a", "-r", recipient], dataKey).toString("utf8");
    assert.match(cliStanza, /^-----BEGIN AGE ENCRYPTED FILE-----\n[\s\S]+-----END AGE ENCRYPTED FILE-----\n$/);
    const loaded = loadSopsFile(ours, "json");
    const rewritten = emitSopsFile({ branches: loaded.branches, metadata: { ...loaded.metadata, age: [{ recipient, enc: cliStanza }] } }, "json");
    assert.ok(rewritten.includes(JSON.stringify(cliStanza)));

    const metadata = loadSopsFile(rewritten, "json").metadata;
    assert.deepStrictEqual(await unwrapDataKey(metadata, [parsed]), dataKey);
    const result = await decryptSopsFile(rewritten, "json", { ageIdentities: parseAgeIdentities(identity) });
    assert.deepStrictEqual(result.tree, secrets);
  });
});
