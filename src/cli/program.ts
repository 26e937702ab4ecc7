/** The command tree. Each command group lives in its own file; this one wires them and maps errors to exit codes. */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { EXIT } from "../errors.ts";
import { defaultProfileHome } from "../config/paths.ts";
import { reportError } from "./output.ts";
import { registerAudit } from "./audit.ts";
import { registerDoctor } from "./doctor.ts";
import { registerExec } from "./exec.ts";
import { registerSkills } from "./skills.ts";
import { registerInit } from "./init.ts";
import { registerPolicy } from "./policy.ts";
import { registerQuickstart } from "./quickstart.ts";
import { registerRun } from "./run.ts";
import { registerSecrets } from "./secrets.ts";
import { registerChat } from "./chat.ts";
import { registerSessions } from "./sessions.ts";

/** The version is package.json's (two levels up from both src/cli and dist/cli). */
export const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

/** What command handlers get: the profile home and a way to report their exit code. */
export interface Cli {
  home(cmd: Command): string;
  /** Wraps a handler: errors become messages (or JSON with --json) and exit codes. */
  action<A extends unknown[]>(handler: (...args: A) => Promise<number>): (...args: A) => Promise<void>;
}

export async function run(argv: readonly string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = new Command("aegisclaw");
  program
    .description("AegisClaw: a secure-by-default envelope for personal AI agents. Every tool call passes policy, approval, secrets, sandbox, redaction and a tamper-evident audit log.")
    .version(VERSION)
    .option("--home <dir>", "profile directory (default: $AEGISCLAW_HOME or ~/.aegisclaw)")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .addHelpText(
      "after",
      `
Exit codes: 0 ok, 1 error, 2 usage, 3 ask (policy check), 4 deny (policy check),
            5 audit log damaged, 6 profile permissions unsafe.
Start here: aegisclaw quickstart`,
    );

  const cli: Cli = {
    home(cmd) {
      const opts = cmd.optsWithGlobals<{ home?: string }>();
      return opts.home ?? defaultProfileHome();
    },
    action(handler) {
      return async (...args) => {
        const cmd = args.at(-1) as Command;
        const json = cmd.optsWithGlobals<{ json?: boolean }>().json === true;
        try {
          exitCode = await handler(...args);
        } catch (err) {
          exitCode = reportError(err, json);
        }
      };
    },
  };

  registerQuickstart(program, cli);
  registerInit(program, cli);
  registerDoctor(program, cli);
  registerPolicy(program, cli);
  registerAudit(program, cli);
  registerSecrets(program, cli);
  registerExec(program, cli);
  registerSkills(program, cli);
  registerRun(program, cli);
  registerChat(program, cli);
  registerSessions(program, cli);

  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; anything else commander rejects is a usage error.
      return err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help" ? EXIT.ok : EXIT.usage;
    }
    return reportError(err, false);
  }
  return exitCode;
}
