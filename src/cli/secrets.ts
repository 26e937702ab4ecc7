/**
 * `aegisclaw secrets …`: the encrypted secret store. Values come in through a
 * hidden prompt or stdin (never argv), go out only through `get --reveal`, and
 * every operation is audited by name, never by value.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, lstatSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ReadStream } from "node:tty";
import type { Command } from "commander";
import { parseDocument, stringify } from "yaml";

import { AegisError, EXIT } from "../errors.ts";
import { openAuditLog } from "../audit/open.ts";
import type { AuditLog } from "../audit/log.ts";
import { openProfile, type Profile } from "../config/profile.ts";
import { loadProfilePolicy } from "../runtime.ts";
import { MAX_SECRET_BYTES, SecretStore, assertSecretName, parseDotenv } from "../secrets/store.ts";
import { existsQuiet, loadProfileIdentities, type PassphraseSource } from "../secrets/identity.ts";
import type { ProfilePaths } from "../config/paths.ts";
import type { Cli } from "./program.ts";
import { printJson, println, style, table } from "./output.ts";

const PASSPHRASE_ENV = "AEGISCLAW_PASSPHRASE";

const ARGV_WARNING =
  "A value on the command line is visible to other users and programs in process listings (ps, /proc/PID/cmdline) and is saved in your shell history. " +
  "Type it at the hidden prompt instead (run `aegisclaw secrets set NAME` in a terminal), or pipe it in: `printf %s \"$VALUE\" | aegisclaw secrets set NAME`, or `aegisclaw secrets set NAME < FILE`.";

// ---------------------------------------------------------------------------
// Terminal input

/**
 * Reads a line from the terminal without echoing it. Uses stdin when it is a
 * terminal, else the controlling terminal (/dev/tty), as age and ssh do, so a
 * value can be piped in while the passphrase is typed. Undefined when there is
 * no terminal at all.
 */
async function promptHidden(question: string): Promise<string | undefined> {
  let input: ReadStream;
  let ttyFd: number | undefined;
  if (process.stdin.isTTY) {
    input = process.stdin;
  } else {
    try {
      ttyFd = openSync("/dev/tty", "r+");
    } catch {
      return undefined;
    }
    input = new ReadStream(ttyFd);
  }
  const fd = ttyFd;
  const say = (text: string): void => {
    if (fd !== undefined) writeSync(fd, text);
    else process.stderr.write(text);
  };
  // Echo off before the prompt shows: whatever is typed (or pasted) after it must never be echoed.
  input.setRawMode(true);
  say(question);
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = "";
      const finish = (): void => {
        input.off("data", onData);
      };
      const onData = (chunk: Buffer): void => {
        for (const ch of chunk.toString("utf8")) {
          if (ch === "\r" || ch === "\n" || (ch === "\u0004" && typed === "")) {
            finish();
            resolve(typed);
            return;
          }
          if (ch === "\u0003") {
            finish();
            reject(new AegisError("USAGE", "Cancelled; nothing was changed."));
            return;
          }
          if (ch === "\u007f" || ch === "\b") typed = Array.from(typed).slice(0, -1).join("");
          else if (ch === "\u0015") typed = "";
          else if (ch >= " ") typed += ch;
        }
      };
      input.on("data", onData);
      input.resume();
    });
  } finally {
    input.setRawMode(false);
    input.pause();
    say("\n");
    if (ttyFd !== undefined) input.destroy();
  }
}

/** The identity's passphrase: $AEGISCLAW_PASSPHRASE, else a hidden prompt; asked once per command. */
function passphraseSource(): PassphraseSource {
  let cached: string | undefined;
  return async ({ file }) => {
    if (cached !== undefined) return cached;
    const fromEnv = process.env[PASSPHRASE_ENV];
    if (fromEnv !== undefined && fromEnv !== "") return (cached = fromEnv);
    const typed = await promptHidden(`Passphrase for ${file}: `);
    if (typed === undefined) {
      throw new AegisError("KEY_INVALID", `${file} is protected by a passphrase and there is no terminal to ask for it. Run the command in a terminal, or set ${PASSPHRASE_ENV} for it (e.g. from your password manager).`);
    }
    return (cached = typed);
  };
}

/** A new passphrase: $AEGISCLAW_PASSPHRASE, else typed twice on the terminal. */
export async function newPassphrase(file: string): Promise<string> {
  const fromEnv = process.env[PASSPHRASE_ENV];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const first = await promptHidden(`New passphrase for ${file}: `);
  if (first === undefined) {
    throw new AegisError("USAGE", `--passphrase needs a terminal to ask for the passphrase (typed twice), or ${PASSPHRASE_ENV} set for this command.`, { exitCode: EXIT.usage });
  }
  if (first === "") throw new AegisError("USAGE", "The passphrase is empty; nothing was created.", { exitCode: EXIT.usage });
  const again = await promptHidden("Repeat the passphrase: ");
  if (again !== first) throw new AegisError("USAGE", "The two passphrases differ; nothing was created.", { exitCode: EXIT.usage });
  return first;
}

/** The value for `set`: a hidden prompt on a terminal, else all of stdin (one trailing newline dropped). */
async function readSecretValue(name: string): Promise<string> {
  if (process.stdin.isTTY) {
    const typed = await promptHidden(`Value for ${name} (input hidden): `);
    return typed ?? "";
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_SECRET_BYTES + 2) throw new AegisError("USAGE", `The value on stdin is larger than ${MAX_SECRET_BYTES} bytes; a secret store is not the place for a whole file.`, { exitCode: EXIT.usage });
    chunks.push(chunk);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new AegisError("USAGE", "The value on stdin is not UTF-8 text; encode binary secrets (e.g. base64) first.", { exitCode: EXIT.usage });
  }
  text = text.replace(/\r?\n$/, "");
  if (text === "") {
    throw new AegisError("USAGE", `No value on stdin for ${name}; nothing was stored. Pipe it in (\`printf %s "$VALUE" | aegisclaw secrets set ${name}\`) or run the command in a terminal to type it at a hidden prompt.`, { exitCode: EXIT.usage });
  }
  return text;
}

// ---------------------------------------------------------------------------
// Audit and store helpers

interface Audited<T> {
  readonly result: T;
  readonly detail?: Record<string, unknown>;
  readonly resource?: string;
}

/**
 * Runs one secrets operation with the audit log open (a damaged log stops it
 * before anything changes), then records it: one entry, by name, never a
 * value. Failures are recorded too (decision `error`, the error code only).
 * The entry is durable before the caller prints anything.
 */
async function audited<T>(profile: Profile, action: string, resource: string, run: () => Promise<Audited<T>>): Promise<T> {
  const log: AuditLog = await openAuditLog(profile.paths, { checkpointEvery: profile.config.audit.checkpoint_every });
  try {
    let outcome: Audited<T>;
    try {
      outcome = await run();
    } catch (err) {
      const code = err instanceof AegisError ? err.code : "INTERNAL";
      await log.append({ kind: "system", actor: "cli", action, resource, decision: "error", detail: { error: code } }).catch(() => undefined);
      throw err;
    }
    await log.append({ kind: "system", actor: "cli", action, resource: outcome.resource ?? resource, decision: "info", detail: outcome.detail ?? {} });
    return outcome.result;
  } finally {
    await log.close();
  }
}

function secretResource(name: string): string {
  return `secret:${name}`;
}

/** A recipient is public, but what was typed may not be one (a pasted AGE-SECRET-KEY…): only log what looks like a recipient. */
function recipientResource(recipient: string): string {
  return /^age1[0-9a-z]{1,200}$/.test(recipient) ? `recipient:${recipient}` : "recipient:(not an age recipient)";
}

function storeResource(profile: Profile): string {
  return `secrets:${profile.paths.secretsFile}`;
}

/** Opens the profile's store with its identity (and the old one of an unfinished identity rotation). */
async function openStore(profile: Profile, source: PassphraseSource): Promise<SecretStore> {
  const { paths } = profile;
  if (!existsQuiet(paths.secretsFile) && !existsQuiet(paths.ageIdentity)) {
    throw new AegisError("PROFILE_MISSING", `There is no secret store in ${paths.home} yet. Create it with \`aegisclaw secrets init\` (add --passphrase to protect the identity).`);
  }
  if (!existsQuiet(paths.secretsFile)) {
    throw new AegisError("PROFILE_MISSING", `${paths.secretsFile} is missing. If you have a backup, restore it; otherwise \`aegisclaw secrets init\` creates an empty one.`);
  }
  shredStaleEditFiles(paths.home);
  const identities = await loadProfileIdentities(paths, { passphrase: source });
  if (identities.old !== undefined) {
    process.stderr.write(style.yellow(`note: ${identities.old.file} exists: an identity rotation did not finish. Run \`aegisclaw secrets rotate --identity\` to complete it; keep that file until then.\n`));
  }
  return SecretStore.open(paths, identities.identities);
}

/** One audited operation on the profile's store: open it (asking for a passphrase if needed), run, record by name. */
function onStore<T>(profile: Profile, action: string, resource: string, use: (store: SecretStore) => Promise<Audited<T>>, source: PassphraseSource = passphraseSource()): Promise<T> {
  return audited(profile, action, resource, () => withStore(profile, source, use));
}

async function withStore<T>(profile: Profile, source: PassphraseSource, use: (store: SecretStore) => Promise<T>): Promise<T> {
  const store = await openStore(profile, source);
  try {
    return await use(store);
  } finally {
    store.close();
  }
}

// ---------------------------------------------------------------------------
// edit: a plaintext copy for $EDITOR, inside the profile, for as short a time as possible

const EDIT_FILE = /^\.secrets-edit-(\d+)-[0-9a-f]+\.yaml$/;

const EDIT_HEADER = `# aegisclaw secrets edit: one NAME: value entry per secret (names: A-Z, 0-9 and _).
# Delete an entry to delete that secret. Save and quit to re-encrypt; quit without saving to change nothing.
# This plaintext file is overwritten and removed as soon as the editor exits.
`;

/** Overwrites a file with zeros, then removes it. Best effort on SSDs and copy-on-write file systems. */
function shredFile(path: string): void {
  try {
    const size = statSync(path).size;
    const fd = openSync(path, "r+");
    try {
      writeSync(fd, Buffer.alloc(size));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Gone already, or not writable: removing it is all that is left to do.
  }
  rmSync(path, { force: true });
}

/** Plaintext copies left by an edit whose process died (crash, kill -9) are shredded before a new one is made. */
function shredStaleEditFiles(home: string): void {
  for (const name of readdirSync(home)) {
    const m = EDIT_FILE.exec(name);
    if (m === null) continue;
    const pid = Number(m[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === "EPERM";
    }
    if (alive && pid !== process.pid) continue;
    shredFile(join(home, name));
    process.stderr.write(style.yellow(`note: removed ${name}, a plaintext copy left by an interrupted \`secrets edit\`.\n`));
  }
}

function parseEditedSecrets(text: string, file: string): Map<string, string> {
  const doc = parseDocument(text, { uniqueKeys: true });
  // Only the first line of a YAML error: the rest quotes the offending line, which may hold a value.
  const firstError = doc.errors[0];
  if (firstError !== undefined) {
    throw new AegisError("CONFIG_INVALID", `The edited secrets are not valid YAML (${firstError.message.split("\n")[0] ?? "syntax error"}); nothing was changed.`);
  }
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) return new Map();
  if (typeof data !== "object" || Array.isArray(data)) throw new AegisError("CONFIG_INVALID", `${file} must hold NAME: value entries; nothing was changed.`);
  const values = new Map<string, string>();
  for (const [name, value] of Object.entries(data as Record<string, unknown>)) {
    if (typeof value === "string") values.set(name, value);
    else if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") values.set(name, String(value));
    else if (value === null) throw new AegisError("USAGE", `${/^[A-Za-z0-9_]{1,128}$/.test(name) ? name : "An entry"} has no value; delete the entry to delete the secret. Nothing was changed.`);
    else throw new AegisError("USAGE", `${/^[A-Za-z0-9_]{1,128}$/.test(name) ? name : "An entry"} holds a list or map; a secret is one text value. Nothing was changed.`);
  }
  return values;
}

async function editSecrets(paths: ProfilePaths, store: SecretStore, editor: string): Promise<{ readonly added: string[]; readonly changed: string[]; readonly removed: string[] }> {
  const names = store.names();
  const original = EDIT_HEADER + (names.length > 0 ? stringify(Object.fromEntries(names.map((n) => [n, store.get(n).reveal()])), { lineWidth: 0 }) : "");
  // Inside the profile (0700), 0600, created exclusively under an unguessable name.
  const tmp = join(paths.home, `.secrets-edit-${process.pid}-${randomBytes(8).toString("hex")}.yaml`);
  const fd = openSync(tmp, "wx", 0o600);
  try {
    try {
      writeSync(fd, original);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // $EDITOR may carry arguments (e.g. "code --wait"); the file name is passed separately, never spliced into the command.
    const result = spawnSync("/bin/sh", ["-c", `${editor} "$1"`, "aegisclaw-edit", tmp], { stdio: "inherit" });
    if (result.error !== undefined) throw new AegisError("USAGE", `Could not start the editor (${result.error.message}); nothing was changed. Set $EDITOR.`);
    if (result.status !== 0) throw new AegisError("USAGE", `The editor (${editor}) exited with ${result.status === null ? `signal ${result.signal ?? "?"}` : `status ${result.status}`}; nothing was changed.`);
    const edited = readFileSync(tmp, "utf8");
    if (edited === original) return { added: [], changed: [], removed: [] };
    return await store.replaceValues(parseEditedSecrets(edited, tmp));
  } finally {
    shredFile(tmp);
  }
}

/** A path quoted for a POSIX shell, so the printed command can be pasted. */
function shellQuote(path: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}

// ---------------------------------------------------------------------------
// Commands

export function registerSecrets(program: Command, cli: Cli): void {
  const secrets = program
    .command("secrets")
    .description("the encrypted secret store: a SOPS file encrypted with age; values are never echoed, logged or accepted on the command line")
    .addHelpText(
      "after",
      `
Values are read from a hidden prompt (on a terminal) or from stdin, never from arguments.
A passphrase-protected identity is unlocked with $${PASSPHRASE_ENV} or a hidden prompt.
Every operation is recorded in the audit log by name, never by value.`,
    );

  secrets
    .command("init")
    .description("create the profile's age identity (keys/age-identity.txt) and an empty secrets.enc.yaml; never overwrites either")
    .option("--passphrase", `protect the new identity with a passphrase (asked twice, or $${PASSPHRASE_ENV})`)
    .option("--json", "print the result as JSON")
    .action(
      cli.action(async (opts: { passphrase?: boolean; json?: boolean }, cmd: Command) => {
        const profile = openProfile(cli.home(cmd));
        const { paths } = profile;
        const passphrase = opts.passphrase === true && !existsQuiet(paths.ageIdentity) ? await newPassphrase(paths.ageIdentity) : undefined;
        const report = await audited(profile, "secrets.init", storeResource(profile), async () => {
          const r = await SecretStore.init(paths, { passphrase, unlock: passphraseSource() });
          return { result: r, detail: { created: r.created, recipient: r.recipient ?? null, passphraseProtected: r.identityEncrypted } };
        });
        const ignoredPassphrase = opts.passphrase === true && passphrase === undefined;
        if (opts.json) {
          printJson({ ...report, ...(ignoredPassphrase ? { note: "the identity already existed; --passphrase was not applied" } : {}) });
          return EXIT.ok;
        }
        if (report.created.length === 0) println(`The secret store in ${paths.home} already exists; nothing was changed.`);
        else println(style.green(`Secret store ready in ${paths.home}`));
        for (const p of report.created) println(`  created  ${p}`);
        for (const p of report.existing) println(style.dim(`  exists   ${p}`));
        if (ignoredPassphrase) println(style.yellow("  note: the identity already existed, so --passphrase was not applied to it."));
        if (report.recipient !== undefined) println(`  public key (recipient): ${report.recipient}`);
        if (report.created.includes(paths.ageIdentity)) {
          println();
          println(`Back up ${paths.ageIdentity}${report.identityEncrypted ? " and its passphrase" : ""}: without it the secrets cannot be recovered.`);
          println("Or add an offline backup key as a second recipient: aegisclaw secrets recipients add age1…");
        }
        println();
        println("Next: aegisclaw secrets set NAME   (the value is read from a hidden prompt or stdin)");
        return EXIT.ok;
      }),
    );

  secrets
    .command("set")
    .description("add or replace a secret; the value comes from a hidden prompt on a terminal, else from stdin")
    .argument("<name>", "the secret's name, environment-variable style (e.g. GITHUB_TOKEN)")
    .argument("[value...]", "not accepted: a value on the command line leaks (see --value)")
    .option("--value <value>", "not accepted: values on the command line show up in process listings and shell history")
    .option("--json", "print the result as JSON")
    .action(
      cli.action(async (name: string, valueArgs: string[], opts: { value?: string; json?: boolean }, cmd: Command) => {
        if (opts.value !== undefined || valueArgs.length > 0) {
          throw new AegisError("USAGE", `Refusing to take the secret's value from the command line. ${ARGV_WARNING} If you already typed it, remove it from your shell history and consider rotating it.`, { exitCode: EXIT.usage });
        }
        assertSecretName(name);
        const profile = openProfile(cli.home(cmd));
        const result = await onStore(profile, "secrets.set", secretResource(name), async (store) => {
            const value = await readSecretValue(name);
            const r = await store.set(name, value);
            return { result: r, detail: { created: r.created } };
          });
        if (opts.json) printJson({ name, created: result.created, file: profile.paths.secretsFile });
        else println(`${style.green("✔")} ${name} ${result.created ? "added" : "updated"} (encrypted in ${profile.paths.secretsFile})`);
        return EXIT.ok;
      }),
    );

  secrets
    .command("get")
    .description("print a secret's value; needs --reveal, and is audited")
    .argument("<name>", "the secret's name")
    .option("--reveal", "really print the value in clear")
    .option("--json", "print {name, value} as JSON")
    .action(
      cli.action(async (name: string, opts: { reveal?: boolean; json?: boolean }, cmd: Command) => {
        if (opts.reveal !== true) {
          throw new AegisError(
            "USAGE",
            `Not printing ${/^[A-Za-z0-9_]{1,128}$/.test(name) ? name : "the secret"}: add --reveal to confirm. A printed secret can end up in terminal scrollback, screen shares, recordings and logs, and every reveal is recorded in the audit log. To give a secret to a tool, let AegisClaw's secret broker hand it over instead of copying it.`,
            { exitCode: EXIT.usage },
          );
        }
        assertSecretName(name);
        const profile = openProfile(cli.home(cmd));
        // The audit entry is durable before the value is printed.
        const value = await onStore(profile, "secrets.get", secretResource(name), (store) => Promise.resolve({ result: store.get(name).reveal(), detail: { revealed: true } }));
        if (opts.json) printJson({ name, value });
        else process.stdout.write(process.stdout.isTTY ? `${value}\n` : value);
        return EXIT.ok;
      }),
    );

  secrets
    .command("list")
    .alias("ls")
    .description("list secret names, when they were created and last set, and the skills policy.yaml lets the broker give them to — never values")
    .option("--json", "print a JSON array")
    .action(
      cli.action(async (opts: { json?: boolean }, cmd: Command) => {
        const profile = openProfile(cli.home(cmd));
        const policy = loadProfilePolicy(profile);
        const skillsOf = (name: string): string[] => [...(policy.secretGrants.get(name) ?? [])];
        const infos = await onStore(profile, "secrets.list", storeResource(profile), (store) => {
            const list = store.list();
            return Promise.resolve({ result: list, detail: { count: list.length } });
          });
        if (opts.json) {
          printJson(infos.map((i) => ({ name: i.name, created: i.created, updated: i.updated, skills: skillsOf(i.name) })));
          return EXIT.ok;
        }
        if (infos.length === 0) {
          println("No secrets yet. Add one: aegisclaw secrets set NAME");
          return EXIT.ok;
        }
        const when = (ts: string | null): string => (ts === null ? "-" : ts.replace("T", " ").slice(0, 19));
        println(table([["NAME", "CREATED (UTC)", "UPDATED (UTC)", "SKILLS"].map(style.bold), ...infos.map((i) => [i.name, when(i.created), when(i.updated), skillsOf(i.name).join(",") || "-"])]));
        if (infos.some((i) => skillsOf(i.name).length === 0)) {
          println(style.dim(`A secret goes only to the skills listed for it under \`secrets:\` in ${profile.paths.policy} (e.g. GITHUB_TOKEN: [github]); "-" means none.`));
        }
        return EXIT.ok;
      }),
    );

  secrets
    .command("rm")
    .alias("remove")
    .description("delete a secret")
    .argument("<name>", "the secret's name")
    .option("--json", "print the result as JSON")
    .action(
      cli.action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
        assertSecretName(name);
        const profile = openProfile(cli.home(cmd));
        await onStore(profile, "secrets.rm", secretResource(name), async (store) => {
            await store.remove(name);
            return { result: undefined };
          });
        if (opts.json) printJson({ name, removed: true });
        else println(`${style.green("✔")} ${name} removed`);
        return EXIT.ok;
      }),
    );

  secrets
    .command("edit")
    .description("edit every secret in $VISUAL/$EDITOR: decrypted to a 0600 file inside the profile, re-encrypted on save, then overwritten and removed")
    .option("--json", "print what changed as JSON")
    .action(
      cli.action(async (opts: { json?: boolean }, cmd: Command) => {
        const profile = openProfile(cli.home(cmd));
        const editor = [process.env.VISUAL, process.env.EDITOR].find((e) => e !== undefined && e.trim() !== "") ?? "vi";
        const changes = await onStore(profile, "secrets.edit", storeResource(profile), async (store) => {
            const r = await editSecrets(profile.paths, store, editor);
            return { result: r, detail: { added: r.added, changed: r.changed, removed: r.removed } };
          });
        if (opts.json) {
          printJson(changes);
          return EXIT.ok;
        }
        if (changes.added.length + changes.changed.length + changes.removed.length === 0) println("No changes.");
        for (const [label, names] of [
          ["added", changes.added],
          ["changed", changes.changed],
          ["removed", changes.removed],
        ] as const) {
          if (names.length > 0) println(`${style.green("✔")} ${label}: ${names.join(", ")}`);
        }
        println(style.dim("The plaintext copy was overwritten and removed. If your editor keeps backups or swap files, check it left none."));
        return EXIT.ok;
      }),
    );

  const recipients = secrets.command("recipients").description("the age public keys the secrets file is encrypted to (e.g. add an offline backup key)");

  recipients
    .command("list")
    .alias("ls")
    .description("list the recipients")
    .option("--json", "print JSON")
    .action(
      cli.action(async (opts: { json?: boolean }, cmd: Command) => {
        const profile = openProfile(cli.home(cmd));
        const { all, own } = await onStore(profile, "secrets.recipients.list", storeResource(profile), (store) => {
            const r = { all: store.recipients(), own: store.ownRecipients() };
            return Promise.resolve({ result: r, detail: { count: r.all.length } });
          });
        if (opts.json) printJson(all.map((recipient) => ({ recipient, profile: own.includes(recipient) })));
        else for (const r of all) println(own.includes(r) ? `${r}  ${style.dim("(this profile's identity)")}` : r);
        return EXIT.ok;
      }),
    );

  recipients
    .command("add")
    .description("also encrypt the secrets to this age public key (age1…)")
    .argument("<recipient>", "an age1… public key (age-keygen -y KEYFILE prints it)")
    .option("--json", "print JSON")
    .action(
      cli.action(async (recipient: string, opts: { json?: boolean }, cmd: Command) => {
        const profile = openProfile(cli.home(cmd));
        const r = recipient.trim();
        const added = await onStore(profile, "secrets.recipients.add", recipientResource(r), async (store) => {
            const changed = await store.addRecipient(r);
            return { result: changed, detail: { added: changed } };
          });
        if (opts.json) printJson({ recipient: r, added });
        else println(added ? `${style.green("✔")} ${r} added: it can now decrypt ${profile.paths.secretsFile}` : `${r} already is a recipient; nothing changed.`);
        return EXIT.ok;
      }),
    );

  recipients
    .command("rm")
    .alias("remove")
    .description("stop encrypting to this age public key (the data key is changed too); never the last one or the profile's own")
    .argument("<recipient>", "the age1… public key to remove")
    .option("--json", "print JSON")
    .action(
      cli.action(async (recipient: string, opts: { json?: boolean }, cmd: Command) => {
        const profile = openProfile(cli.home(cmd));
        const r = recipient.trim();
        await onStore(profile, "secrets.recipients.rm", recipientResource(r), async (store) => {
            await store.removeRecipient(r);
            return { result: undefined, detail: { dataKeyRotated: true } };
          });
        if (opts.json) printJson({ recipient: r, removed: true });
        else {
          println(`${style.green("✔")} ${r} removed, and the data key changed.`);
          println(style.dim("  Copies of the file from before still open with that key: rotate the secret values themselves if it was compromised."));
        }
        return EXIT.ok;
      }),
    );

  secrets
    .command("rotate")
    .description("re-encrypt every value under a new data key; --identity also replaces the profile's age identity")
    .option("--identity", "also create a new age identity; the old one is kept as keys/age-identity.old.txt until the rewritten file verifies, then removed")
    .option("--json", "print JSON")
    .action(
      cli.action(async (opts: { identity?: boolean; json?: boolean }, cmd: Command) => {
        const profile = openProfile(cli.home(cmd));
        const source = passphraseSource();
        const report = await onStore(profile, "secrets.rotate", storeResource(profile), async (store) => {
            const r = await store.rotate({ identity: opts.identity === true, passphrase: source });
            return { result: r, detail: { identity: opts.identity === true, secrets: r.secrets, recipients: r.recipients, resumed: r.resumed, ...(r.newRecipient !== undefined ? { newRecipient: r.newRecipient } : {}) } };
          }, source);
        if (opts.json) {
          printJson(report);
          return EXIT.ok;
        }
        if (report.resumed) println("Finished the earlier, interrupted identity rotation first.");
        println(`${style.green("✔")} ${report.secrets} secret(s) re-encrypted under a new data key.`);
        if (report.newRecipient !== undefined) {
          println(`  new identity ${profile.paths.ageIdentity}, public key ${report.newRecipient}`);
          println("  The old identity was removed. Replace any backup of the identity with the new file.");
        }
        println(`  recipients: ${report.recipients.join(", ")}`);
        return EXIT.ok;
      }),
    );

  secrets
    .command("import")
    .description("move the values of a dotenv file (KEY=VALUE lines) into the store; the plaintext file is left for you to delete")
    .requiredOption("--from-env <file>", "the dotenv file to import")
    .option("--overwrite", "replace secrets that already exist (skipped by default)")
    .option("--json", "print JSON")
    .action(
      cli.action(async (opts: { fromEnv: string; overwrite?: boolean; json?: boolean }, cmd: Command) => {
        const source = opts.fromEnv;
        let text: string;
        let exposed = false;
        try {
          exposed = (lstatSync(source).mode & 0o077) !== 0;
          text = readFileSync(source, "utf8");
        } catch (err) {
          throw new AegisError("USAGE", `Cannot read ${source} (${(err as NodeJS.ErrnoException).code ?? String(err)}).`, { exitCode: EXIT.usage });
        }
        const profile = openProfile(cli.home(cmd));
        const passphrase = passphraseSource();
        const parsed = parseDotenv(text);
        const outcome = await audited(profile, "secrets.import", `file:${source}`, () =>
          withStore(profile, passphrase, async (store) => {
            const r = await store.setMany(parsed.entries, { overwrite: opts.overwrite === true });
            const skipped = [
              ...parsed.problems.map((p) => ({ line: p.line, ...(p.name !== undefined ? { name: p.name } : {}), reason: p.reason })),
              ...r.skipped.map((s) => ({ line: parsed.entries.find((e) => e.name === s.name)?.line, name: s.name, reason: s.reason })),
            ].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
            return { result: { imported: r.imported, skipped }, detail: { imported: r.imported, skipped } };
          }),
        );
        const deleteWith = `shred -u ${shellQuote(source)}`;
        if (opts.json) {
          printJson({ source, imported: outcome.imported, skipped: outcome.skipped, plaintextRemains: true, deleteWith, wasReadableByOthers: exposed });
          return EXIT.ok;
        }
        println(outcome.imported.length > 0 ? `${style.green("✔")} imported ${outcome.imported.length}: ${outcome.imported.join(", ")}` : "Nothing was imported.");
        if (outcome.skipped.length > 0) {
          println(style.yellow(`skipped ${outcome.skipped.length}:`));
          for (const s of outcome.skipped) println(`  line ${s.line ?? "?"}${s.name !== undefined ? ` ${s.name}` : ""}: ${s.reason}`);
        }
        println();
        println(`${source} still holds the values in plaintext. Once you have checked the import, delete it:`);
        println(`  ${deleteWith}`);
        println(style.dim("  (shred overwrites before deleting; on SSDs and copy-on-write or journaling file systems that is best effort."));
        println(style.dim("   Also remove copies — backups, editor swap files — and if the file was ever committed to git, rotate those secrets.)"));
        if (exposed) println(style.yellow(`note: ${source} was readable by other users; treat its secrets as exposed and rotate them.`));
        return EXIT.ok;
      }),
    );
}

