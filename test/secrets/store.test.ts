/**
 * The secret store: a SOPS YAML file encrypted to the profile's age identity.
 * Round trips, names, bookkeeping, recipients, data-key and identity rotation,
 * atomic writes (a failed or killed write leaves the previous file), and the
 * clear errors for a wrong identity, a tampered file, unsafe permissions.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync, renameSync as fsRename } from "node:fs";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { pathToFileURL } from "node:url";

import { generateX25519Identity, identityToRecipient } from "age-encryption";

import { profilePaths, type ProfilePaths } from "../../src/config/paths.ts";
import {
  SecretStore,
  assertSecretName,
  createIdentityFile,
  loadIdentityFile,
  loadProfileIdentities,
  nodeFileOps,
  oldIdentityPath,
  parseDotenv,
  type PrivateFileOps,
} from "../../src/secrets/index.ts";
import { decryptSopsFile, encryptSopsFile, loadSopsFile, parseAgeIdentities, unwrapDataKey } from "../../src/secrets/sops/index.ts";
import { isAegis } from "../helpers/errors.ts";
import { tempDir } from "../helpers/tmp.ts";

/** Low scrypt cost for passphrase tests (age's default 18 takes seconds). */
const FAST_SCRYPT = 10;
const AGE = ["/usr/bin/age", "/usr/local/bin/age"].find((path) => existsSync(path));
const AGE_KEYGEN = AGE === undefined ? undefined : join(AGE, "..", "age-keygen");

function newProfile(t: TestContext): ProfilePaths {
  const home = join(tempDir(t), "profile");
  mkdirSync(join(home, "keys"), { recursive: true, mode: 0o700 });
  return profilePaths(home);
}

async function initAndOpen(t: TestContext, options: { readonly passphrase?: string } = {}): Promise<{ paths: ProfilePaths; store: SecretStore; identities: readonly string[] }> {
  const paths = newProfile(t);
  await SecretStore.init(paths, { passphrase: options.passphrase, scryptWorkFactor: FAST_SCRYPT });
  const pass = options.passphrase;
  const loaded = await loadIdentityFile(paths.ageIdentity, pass === undefined ? {} : { passphrase: () => Promise.resolve(pass) });
  const store = await SecretStore.open(paths, loaded.identities);
  t.after(() => {
    store.close();
  });
  return { paths, store, identities: loaded.identities };
}

function stanzas(paths: ProfilePaths): string[] {
  return loadSopsFile(readFileSync(paths.secretsFile, "utf8"), "yaml").metadata.age.map((a) => a.enc);
}

function encValues(paths: ProfilePaths): string[] {
  return [...readFileSync(paths.secretsFile, "utf8").matchAll(/ENC\[AES256_GCM,[^\]]*\]/g)].map((m) => m[0]);
}

/** Replace one character inside the n-th ENC[…] data field. */
function tamperData(text: string, n = 0): string {
  let seen = -1;
  return text.replace(/data:([A-Za-z0-9+/=]+)/g, (all, data: string) => {
    seen++;
    if (seen !== n) return all;
    const c = data[0] === "A" ? "B" : "A";
    return `data:${c}${data.slice(1)}`;
  });
}

describe("secret store: init and round trip", () => {
  test("init writes an age-keygen identity (0600) and an empty SOPS file encrypted to it; re-running changes nothing", async (t) => {
    const paths = newProfile(t);
    const report = await SecretStore.init(paths);
    assert.deepEqual(report.created, [paths.ageIdentity, paths.secretsFile]);
    const identityText = readFileSync(paths.ageIdentity, "utf8");
    assert.match(identityText, /^# created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n# public key: age1[0-9a-z]+\nAGE-SECRET-KEY-1[0-9A-Z]+\n$/);
    assert.ok(report.recipient !== undefined && identityText.includes(`# public key: ${report.recipient}\n`));
    for (const p of [paths.ageIdentity, paths.secretsFile]) assert.equal(lstatSync(p).mode & 0o777, 0o600, p);
    const text = readFileSync(paths.secretsFile, "utf8");
    assert.deepEqual(loadSopsFile(text, "yaml").metadata.age.map((a) => a.recipient), [report.recipient]);
    const store = await SecretStore.open(paths, parseAgeIdentities(identityText));
    assert.deepEqual(store.names(), []);
    store.close();

    const again = await SecretStore.init(paths);
    assert.deepEqual(again.created, []);
    assert.equal(readFileSync(paths.ageIdentity, "utf8"), identityText);
    assert.equal(readFileSync(paths.secretsFile, "utf8"), text);
  });

  test("init refuses a secrets file whose identity is missing, and never overwrites an identity", async (t) => {
    const paths = newProfile(t);
    await SecretStore.init(paths);
    const moved = `${paths.ageIdentity}.moved`;
    fsRename(paths.ageIdentity, moved);
    await assert.rejects(SecretStore.init(paths), isAegis("KEY_INVALID", /identity that opens it.*is missing/));
    assert.equal(existsSync(paths.ageIdentity), false);
    fsRename(moved, paths.ageIdentity);
    await assert.rejects(createIdentityFile(paths.ageIdentity), isAegis("KEY_INVALID", /never overwrites/));
  });

  test("set, get, names and list survive a reopen; values never appear in the file", async (t) => {
    const { paths, store, identities } = await initAndOpen(t);
    const values = { GITHUB_TOKEN: "ghp_abcdefghijklmnop0123456789", DB_PASSWORD: "p@ss: 'w0rd'\n# not a comment", _UNDERSCORE: "ünïcødé 🔐" };
    for (const [name, value] of Object.entries(values)) assert.deepEqual(await store.set(name, value), { created: true });
    assert.deepEqual(await store.set("GITHUB_TOKEN", values.GITHUB_TOKEN), { created: false });
    assert.deepEqual(store.names(), ["DB_PASSWORD", "GITHUB_TOKEN", "_UNDERSCORE"]);

    const text = readFileSync(paths.secretsFile, "utf8");
    for (const value of Object.values(values)) {
      assert.ok(!text.includes(value), "a value is in clear in the file");
      assert.ok(!text.includes(Buffer.from(value).toString("base64")), "a value is base64 in the file");
    }
    // It is a real SOPS file: our reader (any sops) opens it with the identity alone.
    const plain = await decryptSopsFile(text, "yaml", { ageIdentities: identities });
    assert.equal(plain.tree.DB_PASSWORD, values.DB_PASSWORD);

    const reopened = await SecretStore.open(paths, identities);
    t.after(() => {
      reopened.close();
    });
    for (const [name, value] of Object.entries(values)) assert.equal(reopened.get(name).reveal(), value);
    assert.deepEqual(
      reopened.list().map((i) => i.name),
      ["DB_PASSWORD", "GITHUB_TOKEN", "_UNDERSCORE"],
    );
    await reopened.remove("DB_PASSWORD");
    assert.deepEqual(reopened.names(), ["GITHUB_TOKEN", "_UNDERSCORE"]);
    assert.throws(() => reopened.get("DB_PASSWORD"), isAegis("USAGE", /no secret named DB_PASSWORD/));
    await assert.rejects(reopened.remove("DB_PASSWORD"), isAegis("USAGE", /no secret named DB_PASSWORD/));
    await assert.rejects(reopened.set("EMPTY", ""), isAegis("USAGE", /empty/));
  });

  test("list keeps created and updated per secret", async (t) => {
    const paths = newProfile(t);
    await SecretStore.init(paths);
    let clock = new Date("2026-01-01T00:00:00.000Z");
    const identities = (await loadIdentityFile(paths.ageIdentity)).identities;
    const store = await SecretStore.open(paths, identities, { now: () => clock });
    t.after(() => {
      store.close();
    });
    await store.set("API_KEY", "one");
    clock = new Date("2026-02-02T00:00:00.000Z");
    await store.set("API_KEY", "two");
    await store.set("OTHER", "x");
    const reopened = await SecretStore.open(paths, identities);
    t.after(() => {
      reopened.close();
    });
    assert.deepEqual(reopened.list(), [
      { name: "API_KEY", created: "2026-01-01T00:00:00.000Z", updated: "2026-02-02T00:00:00.000Z" },
      { name: "OTHER", created: "2026-02-02T00:00:00.000Z", updated: "2026-02-02T00:00:00.000Z" },
    ]);
    // Timestamps are encrypted too: only names are in clear.
    assert.ok(!readFileSync(paths.secretsFile, "utf8").includes("2026-01-01T00:00:00"));
  });
});

describe("replaceValues (what edit saves)", () => {
  test("adds, changes and removes in one write, keeping created of what is unchanged", async (t) => {
    const paths = newProfile(t);
    await SecretStore.init(paths);
    let clock = new Date("2026-01-01T00:00:00.000Z");
    const identities = (await loadIdentityFile(paths.ageIdentity)).identities;
    const store = await SecretStore.open(paths, identities, { now: () => clock });
    t.after(() => {
      store.close();
    });
    await store.set("KEEP", "k");
    await store.set("CHANGE", "c1");
    await store.set("DROP", "d");
    clock = new Date("2026-02-02T00:00:00.000Z");
    const before = readFileSync(paths.secretsFile, "utf8");
    assert.deepEqual(await store.replaceValues(new Map([["KEEP", "k"], ["CHANGE", "c1"], ["DROP", "d"]])), { added: [], changed: [], removed: [] });
    assert.equal(readFileSync(paths.secretsFile, "utf8"), before, "no change, no write");
    const changes = await store.replaceValues(new Map([["KEEP", "k"], ["CHANGE", "c2"], ["NEW_ONE", "n"]]));
    assert.deepEqual(changes, { added: ["NEW_ONE"], changed: ["CHANGE"], removed: ["DROP"] });
    assert.deepEqual(store.list(), [
      { name: "CHANGE", created: "2026-01-01T00:00:00.000Z", updated: "2026-02-02T00:00:00.000Z" },
      { name: "KEEP", created: "2026-01-01T00:00:00.000Z", updated: "2026-01-01T00:00:00.000Z" },
      { name: "NEW_ONE", created: "2026-02-02T00:00:00.000Z", updated: "2026-02-02T00:00:00.000Z" },
    ]);
    await assert.rejects(store.replaceValues(new Map([["bad name", "x"]])), isAegis("USAGE"));
    await assert.rejects(store.replaceValues(new Map([["EMPTY", ""]])), isAegis("USAGE"));
    assert.deepEqual(store.names(), ["CHANGE", "KEEP", "NEW_ONE"]);
  });
});

describe("secret names", () => {
  test("accepts environment-variable names up to 128 characters", () => {
    for (const name of ["A", "_", "GITHUB_TOKEN", "_X9", `A${"B".repeat(127)}`]) assertSecretName(name);
  });

  test("refuses anything else, without echoing what may be a value", async (t) => {
    for (const name of ["", "github_token", "9LIVES", "A-B", "A.B", "A B", `A${"B".repeat(128)}`, "ÄPFEL", "A\nB", "_aegisclaw_meta", "sops"]) {
      assert.throws(() => {
        assertSecretName(name);
      }, isAegis("USAGE", /not a valid secret name/));
    }
    assert.throws(() => {
      assertSecretName("github_token");
    }, isAegis("USAGE", /e\.g\. GITHUB_TOKEN/));
    const value = "sk-live-4f3c2b1a/=+";
    assert.throws(
      () => {
        assertSecretName(value);
      },
      (err: Error) => !err.message.includes(value),
    );
    const { store } = await initAndOpen(t);
    await assert.rejects(store.set("lower", "v"), isAegis("USAGE"));
  });
});

describe("recipients", () => {
  test("a second recipient can open the file; duplicates and malformed keys are handled; the profile's own cannot be removed", async (t) => {
    const { paths, store, identities } = await initAndOpen(t);
    await store.set("TOKEN", "value-1");
    const backup = await generateX25519Identity();
    const backupRecipient = await identityToRecipient(backup);
    const own = store.ownRecipients();
    assert.equal(own.length, 1);
    assert.equal(await store.addRecipient(backupRecipient), true);
    assert.equal(await store.addRecipient(` ${backupRecipient}\n`), false);
    assert.deepEqual(store.recipients(), [...own, backupRecipient]);
    await assert.rejects(store.addRecipient("AGE-SECRET-KEY-1QQQ"), isAegis("KEY_INVALID", /not an age recipient/));
    await assert.rejects(store.addRecipient("ssh-ed25519 AAAA"), isAegis("KEY_INVALID"));

    const viaBackup = await SecretStore.open(paths, [backup]);
    assert.equal(viaBackup.get("TOKEN").reveal(), "value-1");
    viaBackup.close();

    await assert.rejects(store.removeRecipient(own[0] ?? ""), isAegis("USAGE", /own identity/));
    await assert.rejects(store.removeRecipient(await identityToRecipient(await generateX25519Identity())), isAegis("USAGE", /not a recipient/));

    await store.removeRecipient(backupRecipient);
    assert.deepEqual(store.recipients(), own);
    await assert.rejects(SecretStore.open(paths, [backup]), isAegis("KEY_INVALID", /secrets\.enc\.yaml: none of the 1 age identity given opens its data key/));
    const reopened = await SecretStore.open(paths, identities);
    assert.equal(reopened.get("TOKEN").reveal(), "value-1");
    reopened.close();
  });

  test("removing a recipient rotates the data key, so an old copy's key opens nothing new", async (t) => {
    const { paths, store, identities } = await initAndOpen(t);
    await store.set("TOKEN", "value-1");
    const backup = await generateX25519Identity();
    await store.addRecipient(await identityToRecipient(backup));
    const oldKey = await unwrapDataKey(loadSopsFile(readFileSync(paths.secretsFile, "utf8"), "yaml").metadata, [backup]);
    await store.removeRecipient(await identityToRecipient(backup));
    const text = readFileSync(paths.secretsFile, "utf8");
    await assert.rejects(decryptSopsFile(text, "yaml", { dataKey: oldKey }), isAegis("KEY_INVALID"));
    assert.equal((await decryptSopsFile(text, "yaml", { ageIdentities: identities })).tree.TOKEN, "value-1");
  });
});

describe("rotation", () => {
  test("rotate re-encrypts every value under a new data key: new stanzas, new ENC values, same plaintext", async (t) => {
    const { paths, store, identities } = await initAndOpen(t);
    await store.set("A_TOKEN", "alpha");
    await store.set("B_TOKEN", "beta");
    // A plain rewrite keeps the data key (as sops edit does).
    const keyBefore = await unwrapDataKey(loadSopsFile(readFileSync(paths.secretsFile, "utf8"), "yaml").metadata, identities);
    const stanzasBefore = stanzas(paths);
    const encBefore = encValues(paths);

    const report = await store.rotate();
    assert.equal(report.secrets, 2);
    assert.equal(report.newRecipient, undefined);
    const text = readFileSync(paths.secretsFile, "utf8");
    const keyAfter = await unwrapDataKey(loadSopsFile(text, "yaml").metadata, identities);
    assert.notDeepEqual(keyAfter, keyBefore);
    const stanzasAfter = stanzas(paths);
    assert.equal(stanzasAfter.length, stanzasBefore.length);
    for (const s of stanzasAfter) assert.ok(!stanzasBefore.includes(s));
    const encAfter = encValues(paths);
    assert.equal(encAfter.length, encBefore.length);
    for (const e of encAfter) assert.ok(!encBefore.includes(e));
    // The old data key opens nothing in the new file; the identity opens everything.
    await assert.rejects(decryptSopsFile(text, "yaml", { dataKey: keyBefore }), isAegis("KEY_INVALID"));
    const reopened = await SecretStore.open(paths, identities);
    assert.equal(reopened.get("A_TOKEN").reveal(), "alpha");
    assert.equal(reopened.get("B_TOKEN").reveal(), "beta");
    reopened.close();
    // And the store keeps working with the new key.
    await store.set("C_TOKEN", "gamma");
    assert.equal((await decryptSopsFile(readFileSync(paths.secretsFile, "utf8"), "yaml", { ageIdentities: identities })).tree.C_TOKEN, "gamma");
  });

  test("rotate --identity: a new identity file, the old one gone and no longer opening the file; other recipients kept", async (t) => {
    const { paths, store, identities } = await initAndOpen(t);
    await store.set("TOKEN", "value-1");
    const backup = await generateX25519Identity();
    const backupRecipient = await identityToRecipient(backup);
    await store.addRecipient(backupRecipient);
    const oldText = readFileSync(paths.ageIdentity, "utf8");

    const report = await store.rotate({ identity: true });
    assert.ok(report.newRecipient !== undefined);
    const newText = readFileSync(paths.ageIdentity, "utf8");
    assert.notEqual(newText, oldText);
    assert.equal(lstatSync(paths.ageIdentity).mode & 0o777, 0o600);
    assert.ok(newText.includes(`# public key: ${report.newRecipient}\n`));
    assert.equal(existsSync(oldIdentityPath(paths)), false);
    assert.deepEqual([...report.recipients].sort(), [backupRecipient, report.newRecipient].sort());
    assert.deepEqual(store.ownRecipients(), [report.newRecipient]);

    await assert.rejects(SecretStore.open(paths, identities), isAegis("KEY_INVALID"));
    const fresh = await SecretStore.open(paths, (await loadIdentityFile(paths.ageIdentity)).identities);
    assert.deepEqual(fresh.names(), ["TOKEN"]);
    assert.equal(fresh.get("TOKEN").reveal(), "value-1");
    fresh.close();
    const viaBackup = await SecretStore.open(paths, [backup]);
    assert.equal(viaBackup.get("TOKEN").reveal(), "value-1");
    viaBackup.close();
  });

  test("rotate --identity keeps a passphrase-protected identity protected by the same passphrase", async (t) => {
    const passphrase = "correct horse battery staple";
    const { paths, store } = await initAndOpen(t, { passphrase });
    await store.set("TOKEN", "v");
    let asked = 0;
    const source = (): Promise<string> => {
      asked++;
      return Promise.resolve(passphrase);
    };
    await store.rotate({ identity: true, passphrase: source, scryptWorkFactor: FAST_SCRYPT });
    assert.ok(asked > 0);
    assert.match(readFileSync(paths.ageIdentity, "utf8"), /^-----BEGIN AGE ENCRYPTED FILE-----\n/);
    const loaded = await loadIdentityFile(paths.ageIdentity, { passphrase: source });
    assert.equal(loaded.encrypted, true);
    const fresh = await SecretStore.open(paths, loaded.identities);
    assert.equal(fresh.get("TOKEN").reveal(), "v");
    fresh.close();
    await assert.rejects(store.rotate({ identity: true }), isAegis("KEY_INVALID", /protected by a passphrase/));
  });

  test("an identity rotation interrupted before the secrets file was rewritten: both identities open it, and the next rotation finishes first", async (t) => {
    const { paths, store, identities } = await initAndOpen(t);
    await store.set("TOKEN", "value-1");
    const failing: PrivateFileOps = {
      ...nodeFileOps,
      renameSync(from, to) {
        if (to === paths.secretsFile) throw Object.assign(new Error("simulated crash"), { code: "EIO" });
        nodeFileOps.renameSync(from, to);
      },
    };
    const crashing = await SecretStore.open(paths, identities, { fileOps: failing });
    await assert.rejects(crashing.rotate({ identity: true }), isAegis("CONFIG_INVALID", /previous version, if any, is unchanged/));
    crashing.close();
    // The new identity is in place, the old one kept; the file still opens with the old one only.
    assert.ok(existsSync(oldIdentityPath(paths)));
    const both = await loadProfileIdentities(paths);
    assert.ok(both.old !== undefined);
    assert.deepEqual(both.old.identities, identities);
    await assert.rejects(SecretStore.open(paths, both.current.identities), isAegis("KEY_INVALID"));
    const recovered = await SecretStore.open(paths, both.identities);
    t.after(() => {
      recovered.close();
    });
    assert.equal(recovered.get("TOKEN").reveal(), "value-1");

    const report = await recovered.rotate({ identity: true });
    assert.equal(report.resumed, true);
    assert.equal(existsSync(oldIdentityPath(paths)), false);
    const after = await loadProfileIdentities(paths);
    assert.equal(after.old, undefined);
    assert.deepEqual(loadSopsFile(readFileSync(paths.secretsFile, "utf8"), "yaml").metadata.age.map((a) => a.recipient), after.current.recipients);
    const fresh = await SecretStore.open(paths, after.current.identities);
    assert.equal(fresh.get("TOKEN").reveal(), "value-1");
    fresh.close();
  });
});

describe("atomic writes", () => {
  test("a write whose rename fails leaves the previous file intact, no temp file behind, and the store unchanged", async (t) => {
    const { paths, store, identities } = await initAndOpen(t);
    await store.set("TOKEN", "old-value");
    const before = readFileSync(paths.secretsFile, "utf8");
    const failing: PrivateFileOps = {
      ...nodeFileOps,
      renameSync() {
        throw Object.assign(new Error("simulated crash before rename"), { code: "EIO" });
      },
    };
    const broken = await SecretStore.open(paths, identities, { fileOps: failing });
    await assert.rejects(broken.set("TOKEN", "new-value"), isAegis("CONFIG_INVALID", /previous version, if any, is unchanged/));
    await assert.rejects(broken.rotate(), isAegis("CONFIG_INVALID"));
    assert.equal(broken.get("TOKEN").reveal(), "old-value");
    broken.close();
    assert.equal(readFileSync(paths.secretsFile, "utf8"), before);
    assert.deepEqual(readdirSync(paths.home).sort(), ["keys", "secrets.enc.yaml"]);
    const reopened = await SecretStore.open(paths, identities);
    assert.equal(reopened.get("TOKEN").reveal(), "old-value");
    reopened.close();
  });

  test("a process killed (SIGKILL) between writing the temp file and the rename leaves the previous file, which still decrypts", async (t) => {
    const { paths, store, identities } = await initAndOpen(t);
    await store.set("TOKEN", "old-value");
    const before = readFileSync(paths.secretsFile, "utf8");
    const storeUrl = pathToFileURL(join(import.meta.dirname, "../../src/secrets/index.ts")).href;
    const pathsUrl = pathToFileURL(join(import.meta.dirname, "../../src/config/paths.ts")).href;
    const script = `
      const { SecretStore, nodeFileOps } = await import(${JSON.stringify(storeUrl)});
      const { profilePaths } = await import(${JSON.stringify(pathsUrl)});
      const ops = { ...nodeFileOps, renameSync() { process.kill(process.pid, "SIGKILL"); } };
      const store = await SecretStore.open(profilePaths(${JSON.stringify(paths.home)}), JSON.parse(process.env.IDS), { fileOps: ops });
      await store.set("TOKEN", "new-value");
      console.log("not reached");
    `;
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { env: { ...process.env, IDS: JSON.stringify(identities) }, encoding: "utf8" });
    assert.equal(child.signal, "SIGKILL", child.stderr);
    assert.ok(!child.stdout.includes("not reached"));
    assert.equal(readFileSync(paths.secretsFile, "utf8"), before);
    // The dead writer's complete temp file is left behind (0600, hidden); it does not disturb anything.
    const leftovers = readdirSync(paths.home).filter((n) => n.startsWith(".secrets.enc.yaml.tmp-"));
    assert.equal(leftovers.length, 1);
    assert.equal(lstatSync(join(paths.home, leftovers[0] ?? "")).mode & 0o777, 0o600);
    const reopened = await SecretStore.open(paths, identities);
    assert.equal(reopened.get("TOKEN").reveal(), "old-value");
    reopened.close();
  });

  test("a write does not overwrite a change another process made after the file was read", async (t) => {
    const { paths, store, identities } = await initAndOpen(t);
    const other = await SecretStore.open(paths, identities);
    await other.set("FROM_OTHER", "x");
    other.close();
    await assert.rejects(store.set("MINE", "y"), isAegis("CONFIG_INVALID", /changed or removed by another process/));
    const reopened = await SecretStore.open(paths, identities);
    assert.deepEqual(reopened.names(), ["FROM_OTHER"]);
    reopened.close();
  });
});

describe("refusals: wrong identity, tampering, permissions", () => {
  test("a wrong identity is KEY_INVALID naming the file", async (t) => {
    const { paths } = await initAndOpen(t);
    const stranger = await generateX25519Identity();
    await assert.rejects(SecretStore.open(paths, [stranger]), isAegis("KEY_INVALID", /secrets\.enc\.yaml: none of the 1 age identity given opens its data key/));
  });

  test("a changed value, a changed MAC, a value in clear, a truncated file: clear errors naming the file, never a partial read", async (t) => {
    const { paths, store, identities } = await initAndOpen(t);
    await store.set("A_TOKEN", "alpha");
    await store.set("B_TOKEN", "beta");
    const good = readFileSync(paths.secretsFile, "utf8");
    const cases: [string, string, RegExp][] = [
      ["changed value", tamperData(good, 0), /secrets\.enc\.yaml: the value at "A_TOKEN:" could not be decrypted/],
      ["changed metadata value", tamperData(good, 3), /secrets\.enc\.yaml/],
      ["changed MAC", good.replace(/mac: ENC\[AES256_GCM,data:(.)/, (_m, c: string) => `mac: ENC[AES256_GCM,data:${c === "A" ? "B" : "A"}`), /secrets\.enc\.yaml/],
      ["value in clear", good.replace(/^A_TOKEN: .*$/m, "A_TOKEN: alpha"), /secrets\.enc\.yaml: the value at "A_TOKEN:" is not encrypted/],
      ["swapped values", good.replace(/^(A_TOKEN: )(.*)\n(B_TOKEN: )(.*)$/m, "$1$4\n$3$2"), /secrets\.enc\.yaml/],
      ["truncated", good.slice(0, Math.floor(good.length / 2)), /secrets\.enc\.yaml/],
    ];
    for (const [what, text, message] of cases) {
      assert.notEqual(text, good, what);
      writeFileSync(paths.secretsFile, text, { mode: 0o600 });
      await assert.rejects(
        SecretStore.open(paths, identities),
        (err: unknown) => {
          assert.ok(err instanceof Error && "code" in err, `${what}: ${String(err)}`);
          assert.ok(err.code === "KEY_INVALID" || err.code === "CONFIG_INVALID", `${what}: ${String(err.code)}`);
          assert.match(err.message, message, what);
          return true;
        },
        what,
      );
    }
  });

  test("a top-level key that is not a secret name is refused, naming it", async (t) => {
    const { paths, identities } = await initAndOpen(t);
    const recipient = await identityToRecipient(identities[0] ?? "");
    writeFileSync(paths.secretsFile, await encryptSopsFile({ lower_case: "x" }, "yaml", { recipients: [recipient] }), { mode: 0o600 });
    await assert.rejects(SecretStore.open(paths, identities), isAegis("CONFIG_INVALID", /"lower_case" is not a secret name/));
  });

  test("a file written by plain sops (no bookkeeping, an int value) opens with unknown dates", async (t) => {
    const { paths, identities } = await initAndOpen(t);
    const recipient = await identityToRecipient(identities[0] ?? "");
    writeFileSync(paths.secretsFile, await encryptSopsFile({ PORT: 8443, TOKEN: "t" }, "yaml", { recipients: [recipient] }), { mode: 0o600 });
    const store = await SecretStore.open(paths, identities);
    assert.equal(store.get("PORT").reveal(), "8443");
    assert.deepEqual(store.list(), [
      { name: "PORT", created: null, updated: null },
      { name: "TOKEN", created: null, updated: null },
    ]);
    store.close();
  });

  test("a secrets file or identity readable by group or others, or a symlinked identity, is refused with the chmod", async (t) => {
    const { paths, identities } = await initAndOpen(t);
    chmodSync(paths.secretsFile, 0o644);
    await assert.rejects(SecretStore.open(paths, identities), isAegis("PROFILE_INSECURE", /chmod 600/));
    chmodSync(paths.secretsFile, 0o600);
    chmodSync(paths.ageIdentity, 0o640);
    await assert.rejects(loadIdentityFile(paths.ageIdentity), isAegis("PROFILE_INSECURE", /age-identity\.txt \(mode 640\).*chmod 600/s));
    chmodSync(paths.ageIdentity, 0o600);
    const moved = join(paths.home, "elsewhere.txt");
    fsRename(paths.ageIdentity, moved);
    symlinkSync(moved, paths.ageIdentity);
    await assert.rejects(loadIdentityFile(paths.ageIdentity), isAegis("PROFILE_INSECURE", /symbolic link/));
  });
});

describe("identity files", () => {
  test("a passphrase-protected identity is armored age, opens with the passphrase, and a wrong or missing one is KEY_INVALID naming the file", async (t) => {
    const paths = newProfile(t);
    await SecretStore.init(paths, { passphrase: "hunter2 hunter2", scryptWorkFactor: FAST_SCRYPT });
    const text = readFileSync(paths.ageIdentity, "utf8");
    assert.match(text, /^-----BEGIN AGE ENCRYPTED FILE-----\n[\s\S]+-----END AGE ENCRYPTED FILE-----\n$/);
    assert.ok(!text.includes("AGE-SECRET-KEY"));
    const loaded = await loadIdentityFile(paths.ageIdentity, { passphrase: () => Promise.resolve("hunter2 hunter2") });
    assert.equal(loaded.encrypted, true);
    assert.equal(loaded.identities.length, 1);
    const store = await SecretStore.open(paths, loaded.identities);
    store.close();
    await assert.rejects(loadIdentityFile(paths.ageIdentity, { passphrase: () => Promise.resolve("wrong") }), isAegis("KEY_INVALID", /age-identity\.txt: wrong passphrase/));
    await assert.rejects(loadIdentityFile(paths.ageIdentity), isAegis("KEY_INVALID", /age-identity\.txt is protected by a passphrase/));
  });

  test("an identity file without a key is refused", async (t) => {
    const paths = newProfile(t);
    writeFileSync(paths.ageIdentity, "# nothing here\n", { mode: 0o600 });
    await assert.rejects(loadIdentityFile(paths.ageIdentity), isAegis("KEY_INVALID", /holds no age identity/));
  });
});

describe("dotenv parsing for import", () => {
  test("KEY=VALUE, export, quotes, escapes, multi-line values, comments", () => {
    const text = [
      "\uFEFF# a comment",
      "",
      "PLAIN=value",
      "export EXPORTED=exported-value",
      "SPACED = spaced value  # inline comment",
      'DOUBLE="a b\\n\\"c\\" \\\\ \\$HOME # kept"  # comment',
      "SINGLE='lit\\n $HOME # kept'",
      "HASH=abc#def",
      'MULTI="line1',
      "line2",
      'line3"',
      "BACKTICK=`tick`",
      "URL=postgres://u:p@h/db?x=1",
      "CRLF=yes\r",
    ].join("\n");
    const parsed = parseDotenv(text);
    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(Object.fromEntries(parsed.entries.map((e) => [e.name, e.value])), {
      PLAIN: "value",
      EXPORTED: "exported-value",
      SPACED: "spaced value",
      DOUBLE: 'a b\n"c" \\ $HOME # kept',
      SINGLE: "lit\\n $HOME # kept",
      HASH: "abc#def",
      MULTI: "line1\nline2\nline3",
      BACKTICK: "tick",
      URL: "postgres://u:p@h/db?x=1",
      CRLF: "yes",
    });
    assert.equal(parsed.entries.find((e) => e.name === "MULTI")?.line, 9);
  });

  test("problems name the line and key, never the value", () => {
    const secret = "sk-never-echo-this-0123";
    const text = [`lower=${secret}`, `EMPTY=`, secret, `BAD="${secret}" trailing`, `DUP=first`, `DUP=${secret}`, `OPEN="${secret}`, "AFTER=unreached"].join("\n");
    const parsed = parseDotenv(text);
    assert.deepEqual(
      parsed.problems.map((p) => [p.line, p.name, p.reason.split(/[;(]/)[0]?.trim()]),
      [
        [1, "lower", "not an environment-variable-style name"],
        [2, "EMPTY", "empty value"],
        [3, undefined, "not a KEY=VALUE line"],
        [4, "BAD", "unexpected text after the closing quote"],
        [5, "DUP", "defined again on line 6"],
        [7, "OPEN", 'the " quote opened here is never closed'],
      ],
    );
    assert.deepEqual(
      parsed.entries.map((e) => e.name),
      ["DUP"],
    );
    assert.ok(!JSON.stringify(parsed.problems).includes(secret));
  });
});

describe("interop with the age CLI", () => {
  test("age -d -i keys/age-identity.txt opens the store's stanza, and that data key opens the values with our SOPS reader", async (t) => {
    if (AGE === undefined) {
      t.skip("the age CLI is not installed (Debian package `age`; ./setup installs it)");
      return;
    }
    const { paths, store } = await initAndOpen(t);
    await store.set("GITHUB_TOKEN", "ghp_interop");
    const text = readFileSync(paths.secretsFile, "utf8");
    const [stanza] = loadSopsFile(text, "yaml").metadata.age;
    assert.ok(stanza !== undefined);
    const stanzaFile = join(paths.home, "stanza.age");
    writeFileSync(stanzaFile, stanza.enc, { mode: 0o600 });
    const result = spawnSync(AGE, ["-d", "-i", paths.ageIdentity, stanzaFile]);
    assert.equal(result.status, 0, result.stderr.toString());
    assert.equal(result.stdout.length, 32);
    const decrypted = await decryptSopsFile(text, "yaml", { dataKey: result.stdout });
    assert.equal(decrypted.tree.GITHUB_TOKEN, "ghp_interop");

    if (AGE_KEYGEN !== undefined && existsSync(AGE_KEYGEN)) {
      const pub = spawnSync(AGE_KEYGEN, ["-y", paths.ageIdentity], { encoding: "utf8" });
      assert.equal(pub.status, 0, pub.stderr);
      assert.deepEqual(store.ownRecipients(), [pub.stdout.trim()]);
    }
  });
});
