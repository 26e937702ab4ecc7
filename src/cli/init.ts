/** `aegisclaw init`: create a profile, never overwriting anything. */
import type { Command } from "commander";
import { openAuditLog } from "../audit/open.ts";
import { initProfile, openProfile } from "../config/profile.ts";
import { EXIT } from "../errors.ts";
import type { Cli } from "./program.ts";
import { printJson, println, style } from "./output.ts";
import { existsSync, mkdirSync } from "node:fs";
import { SecretStore } from "../secrets/store.ts";
import { newPassphrase } from "./secrets.ts";

export async function initAndOpen(home: string, workspace: string | undefined, secretsPassphrase = false): Promise<ReturnType<typeof initProfile>> {
  const report = initProfile({ home, ...(workspace !== undefined ? { workspace } : {}) });
  const profile = openProfile(home);
  // A new profile gets its age identity and an empty encrypted secrets file too (a passphrase-protected identity
  // is `aegisclaw secrets init --passphrase`, before anything else creates one).
  if (!existsSync(profile.paths.ageIdentity) && !existsSync(profile.paths.secretsFile)) {
    const secrets = await SecretStore.init(profile.paths, secretsPassphrase ? { passphrase: await newPassphrase(profile.paths.ageIdentity) } : {});
    report.created.push(...secrets.created);
  }
  mkdirSync(profile.workspace, { recursive: true, mode: 0o700 });
  // Opening the log creates the database; the first entry records the profile's creation.
  const log = await openAuditLog(profile.paths, { checkpointEvery: profile.config.audit.checkpoint_every });
  try {
    if (report.created.length > 0) {
      await log.append({ kind: "system", actor: "cli", action: "profile.init", resource: profile.paths.home, decision: "info", detail: { created: report.created, workspace: profile.workspace } });
    }
  } finally {
    await log.close();
  }
  return report;
}

export function registerInit(program: Command, cli: Cli): void {
  program
    .command("init")
    .description("create a profile (config, default policy, audit log, checkpoint key, age identity and encrypted secrets file); re-running never overwrites anything")
    .option("--workspace <dir>", "the agent's workspace (default ~/aegisclaw-workspace)")
    .option("--passphrase", "protect the new age identity (which opens the secrets file) with a passphrase ($AEGISCLAW_PASSPHRASE or a hidden prompt)")
    .option("--json", "print the result as JSON")
    .action(
      cli.action(async (opts: { workspace?: string; passphrase?: boolean; json?: boolean }, cmd: Command) => {
        const home = cli.home(cmd);
        const report = await initAndOpen(home, opts.workspace, opts.passphrase === true);
        if (opts.json) {
          printJson(report);
          return EXIT.ok;
        }
        println(report.created.length > 0 ? style.green(`Profile ready at ${report.home}`) : `Profile ${report.home} already exists; nothing was changed.`);
        for (const p of report.created) println(`  created  ${p}`);
        for (const p of report.existing) println(style.dim(`  exists   ${p}`));
        println();
        println("Next: aegisclaw doctor        (what this machine can enforce)");
        println("      aegisclaw policy explain --tool files.read --arg path=/etc/passwd");
        return EXIT.ok;
      }),
    );
}
