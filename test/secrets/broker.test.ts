/**
 * The secret broker over a real store: a skill gets exactly the secrets it
 * declares and policy grants, for one action; files live on tmpfs for the
 * action only; refusals happen before the tool runs and name the fix.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { z } from "zod";
import { profilePaths, type ProfilePaths } from "../../src/config/paths.ts";
import type { Action } from "../../src/envelope/action.ts";
import { defineTool } from "../../src/envelope/tool.ts";
import { parsePolicy } from "../../src/policy/load.ts";
import { StoreSecretBroker, isMemoryFileSystem, type SecretDeclaration } from "../../src/secrets/broker.ts";
import { loadIdentityFile } from "../../src/secrets/identity.ts";
import { SecretStore } from "../../src/secrets/store.ts";
import { isAegis } from "../helpers/errors.ts";
import { tempDir } from "../helpers/tmp.ts";

const TOOL = defineTool({
  name: "gh.api",
  description: "call the GitHub API",
  risk: "medium",
  args: z.object({}).strict(),
  spawnsProcess: false,
  scopes: () => ["gh.api"],
  run: () => Promise.resolve({ text: "" }),
});

function action(skill: string | undefined, id = "a1"): Action {
  return { id, tool: "gh.api", args: {}, scopes: [], aliases: [], skill, session: "s", labels: [], influencedBy: [], actor: "test", digest: "d" };
}

const GRANTS = parsePolicy(`
version: 1
rules: []
secrets:
  GH_TOKEN: [github]
  DEPLOY_KEY: [github, deploy]
  OTHER: [someone-else]
`);

interface Setup {
  paths: ProfilePaths;
  identities: readonly string[];
  broker: StoreSecretBroker;
  root: string;
}

async function setup(t: TestContext, declared: Record<string, readonly SecretDeclaration[]>, values: Record<string, string>): Promise<Setup> {
  const home = join(tempDir(t), "profile");
  mkdirSync(join(home, "keys"), { recursive: true, mode: 0o700 });
  const paths = profilePaths(home);
  await SecretStore.init(paths);
  const identities = (await loadIdentityFile(paths.ageIdentity)).identities;
  const store = await SecretStore.open(paths, identities);
  for (const [k, v] of Object.entries(values)) await store.set(k, v);
  store.close();
  // A private root on the real tmpfs, removed after the test.
  const root = join("/dev/shm", `aegisclaw-test-${String(process.pid)}-${String(Math.random()).slice(2)}`);
  mkdirSync(root, { mode: 0o700 });
  t.after(async () => {
    const { rmSync } = await import("node:fs");
    rmSync(root, { recursive: true, force: true });
  });
  const broker = await StoreSecretBroker.create({
    source: { file: paths.secretsFile, open: () => SecretStore.open(paths, identities) },
    grants: GRANTS,
    declarations: { declaredSecrets: (skill) => declared[skill] },
    fileRoot: root,
  });
  return { paths, identities, broker, root };
}

const HAVE_SHM = isMemoryFileSystem("/dev/shm");
const shmReason = HAVE_SHM ? false : "/dev/shm is not a tmpfs on this machine, and secret files are only ever written to tmpfs";

describe("secret broker", { skip: shmReason }, () => {
  test("issues exactly the declared and granted secrets, as env, with their names for the audit", async (t) => {
    const { broker } = await setup(t, { github: [{ name: "GH_TOKEN", delivery: "env" }] }, { GH_TOKEN: "ghp_value_1234567890", DEPLOY_KEY: "dk-1234567890", OTHER: "o-1234567890" });
    const issued = await broker.issue(action("github"), TOOL);
    assert.deepEqual(issued.env, { GH_TOKEN: "ghp_value_1234567890" });
    assert.deepEqual(issued.names, ["GH_TOKEN"]);
    assert.deepEqual(issued.values, ["ghp_value_1234567890"]);
    await issued.revoke();
    // Every value in the store is known to the redactor, issued or not.
    assert.deepEqual([...broker.knownValues()].sort(), ["dk-1234567890", "ghp_value_1234567890", "o-1234567890"]);
  });

  test("an action without a skill, or a skill nobody declared, gets nothing", async (t) => {
    const { broker } = await setup(t, { github: [{ name: "GH_TOKEN", delivery: "env" }] }, { GH_TOKEN: "ghp_value_1234567890" });
    assert.deepEqual((await broker.issue(action(undefined), TOOL)).env, {});
    assert.deepEqual((await broker.issue(action("unknown-skill"), TOOL)).env, {});
  });

  test("attack: a skill that declares a secret policy gives to another skill is refused before the tool runs, naming the fix", async (t) => {
    const { broker } = await setup(t, { evil: [{ name: "GH_TOKEN", delivery: "env" }], github2: [{ name: "OTHER", delivery: "env" }] }, { GH_TOKEN: "ghp_value_1234567890", OTHER: "o-1234567890" });
    await assert.rejects(broker.issue(action("evil"), TOOL), (err: unknown) => {
      assert.ok(isAegis("SECRET_DENIED", /GH_TOKEN: \[evil\]/)(err));
      assert.doesNotMatch((err as Error).message, /ghp_value/);
      return true;
    });
    await assert.rejects(broker.issue(action("github2"), TOOL), isAegis("SECRET_DENIED", /OTHER/));
  });

  test("attack: a skill name that differs only in case or width from a granted one is judged like policy rules judge it", async (t) => {
    const { broker } = await setup(t, { GitHub: [{ name: "GH_TOKEN", delivery: "env" }], "github\u200b": [{ name: "GH_TOKEN", delivery: "env" }] }, { GH_TOKEN: "ghp_value_1234567890" });
    // Case-folded like rule matching: the same skill.
    assert.deepEqual((await broker.issue(action("GitHub"), TOOL)).names, ["GH_TOKEN"]);
    // A zero-width character makes a different name: refused.
    await assert.rejects(broker.issue(action("github\u200b"), TOOL), isAegis("SECRET_DENIED"));
  });

  test("a declared secret missing from the store is a clear error naming it", async (t) => {
    const { broker } = await setup(t, { github: [{ name: "GH_TOKEN", delivery: "env" }] }, {});
    await assert.rejects(broker.issue(action("github"), TOOL), isAegis("SECRET_MISSING", /GH_TOKEN.*aegisclaw secrets set/));
  });

  test("file delivery: a 0600 file in a fresh 0700 directory on tmpfs, named by NAME_FILE, overwritten and gone after revoke", async (t) => {
    const { broker, root } = await setup(t, { deploy: [{ name: "DEPLOY_KEY", delivery: "file" }] }, { DEPLOY_KEY: "-----BEGIN KEY-----\nabc\n-----END KEY-----\n" });
    const issued = await broker.issue(action("deploy", "act-42"), TOOL);
    const path = issued.env.DEPLOY_KEY_FILE;
    assert.ok(path !== undefined && path.startsWith(root), path);
    assert.equal(issued.env.DEPLOY_KEY, undefined, "a file secret is not also in the environment");
    assert.ok(isMemoryFileSystem(path));
    assert.equal(readFileSync(path, "utf8"), "-----BEGIN KEY-----\nabc\n-----END KEY-----\n");
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(issued.dir !== undefined);
    assert.equal(statSync(issued.dir).mode & 0o777, 0o700);
    assert.match(issued.dir, /act-42$/);
    await issued.revoke();
    assert.equal(existsSync(path), false);
    assert.equal(existsSync(issued.dir), false);
    await issued.revoke(); // twice is harmless
  });

  test("refuses file delivery when the root is not tmpfs: secret files never reach a disk", async (t) => {
    const home = join(tempDir(t), "profile");
    mkdirSync(join(home, "keys"), { recursive: true, mode: 0o700 });
    const paths = profilePaths(home);
    await SecretStore.init(paths);
    const identities = (await loadIdentityFile(paths.ageIdentity)).identities;
    const store = await SecretStore.open(paths, identities);
    await store.set("DEPLOY_KEY", "value-1234567890");
    store.close();
    const diskRoot = tempDir(t);
    if (isMemoryFileSystem(diskRoot)) {
      t.skip("the temporary directory is itself on tmpfs here");
      return;
    }
    const broker = await StoreSecretBroker.create({
      source: { file: paths.secretsFile, open: () => SecretStore.open(paths, identities) },
      grants: GRANTS,
      declarations: { declaredSecrets: () => [{ name: "DEPLOY_KEY", delivery: "file" }] },
      fileRoot: diskRoot,
    });
    await assert.rejects(broker.issue(action("deploy"), TOOL), isAegis("EXECUTOR_REFUSED", /tmpfs/));
  });

  test("picks up a value another process set, without a restart", async (t) => {
    const { broker, paths, identities } = await setup(t, { github: [{ name: "GH_TOKEN", delivery: "env" }] }, { GH_TOKEN: "old-value-1234567890" });
    assert.deepEqual((await broker.issue(action("github"), TOOL)).values, ["old-value-1234567890"]);
    const other = await SecretStore.open(paths, identities);
    await other.set("GH_TOKEN", "new-value-1234567890");
    other.close();
    assert.deepEqual((await broker.issue(action("github"), TOOL)).values, ["new-value-1234567890"]);
    assert.ok(broker.knownValues().includes("new-value-1234567890"));
  });

  test("removes per-action directories a crashed process left behind, and only those", async (t) => {
    const { paths, identities, root } = await setup(t, {}, {});
    const base = join(root, `aegisclaw-${String(process.getuid?.())}`);
    // A pid that cannot be alive (above the kernel's pid_max limit).
    const dead = join(base, "4194305-stale-action");
    const mine = join(base, `${String(process.pid)}-live-action`);
    mkdirSync(dead, { recursive: true, mode: 0o700 });
    mkdirSync(mine, { recursive: true, mode: 0o700 });
    await StoreSecretBroker.create({
      source: { file: paths.secretsFile, open: () => SecretStore.open(paths, identities) },
      grants: GRANTS,
      declarations: { declaredSecrets: () => undefined },
      fileRoot: root,
    });
    assert.equal(existsSync(dead), false);
    assert.equal(existsSync(mine), true);
  });

  test("a store that cannot be opened fails at start, not at the first action", async (t) => {
    const { paths } = await setup(t, {}, {});
    await assert.rejects(
      StoreSecretBroker.create({
        source: { file: paths.secretsFile, open: () => SecretStore.open(paths, ["AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQSQ5TPW"]) },
        grants: GRANTS,
        declarations: { declaredSecrets: () => undefined },
      }),
      (err: unknown) => err instanceof Error,
    );
  });
});
