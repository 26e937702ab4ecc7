/**
 * shell.exec: run one program with arguments (no shell interpretation). The
 * scopes name the program, so policy can allow `shell.exec:gh` and nothing
 * else. It starts a process, so it runs only inside a sandbox executor, or on
 * the host when the operator explicitly chose --unsafe-host.
 *
 * The program is resolved when the call is judged, not when it is spawned: a
 * bare name is looked up on the PATH the child will get, a path is
 * canonicalised (symlinks, `..`), and the call names the program every way a
 * rule might: `shell.exec:curl` (as given), `shell.exec:<real name>` when a
 * symlink renames it, and `shell.exec:/usr/bin/curl` (the real path). So a
 * deny rule for `curl` matches `curl`, `/usr/bin/curl` and
 * `../../usr/bin/curl` alike. The run then spawns exactly the judged absolute
 * path, in exactly the judged directory.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, realpathSync, statSync } from "node:fs";
import { basename, isAbsolute } from "node:path";
import { z } from "zod";
import { canonicalBinary, canonicalPath, ScopeError } from "../policy/scope.ts";
import { defineTool } from "../envelope/tool.ts";

const MAX_OUTPUT = 1024 * 1024;
const DEFAULT_PATH = "/usr/bin:/bin";
const ExecArgs = z.object({ argv: z.array(z.string()).min(1).max(256), cwd: z.string().optional() }).strict();
type ExecArgs = z.infer<typeof ExecArgs>;

/** The PATH the child is spawned with, and that bare names are looked up on when judged. */
function spawnPath(): string {
  return process.env.PATH ?? DEFAULT_PATH;
}

/** The canonical working directory: a relative `cwd` means the workspace to policy and to spawn alike. */
function resolveCwd(args: ExecArgs, workspace: string): string {
  return args.cwd === undefined ? workspace : canonicalPath(args.cwd, { cwd: workspace });
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** First regular executable file named `name` in an absolute PATH entry (relative entries would depend on the cwd). */
function lookupOnPath(name: string, path: string): string | undefined {
  for (const dir of path.split(":")) {
    if (!isAbsolute(dir)) continue;
    const candidate = `${dir.endsWith("/") ? dir.slice(0, -1) : dir}/${name}`;
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** The canonical absolute path of the program `argv[0]` names, run from `cwd`. Throws when there is none. */
function resolveProgram(program: string, cwd: string): string {
  // Validates the spelling (no control characters; a bare name must be a plain program name).
  const spelled = canonicalBinary(program, { cwd });
  const found = spelled.startsWith("/") ? spelled : lookupOnPath(spelled, spawnPath());
  if (found === undefined) throw new ScopeError(`program "${program}" is not on the PATH (${spawnPath()})`);
  let real: string;
  try {
    real = canonicalPath(realpathSync.native(found));
  } catch {
    throw new ScopeError(`program "${program}" does not exist`);
  }
  if (!isExecutableFile(real)) throw new ScopeError(`program "${program}" (${real}) is not an executable file`);
  return real;
}

/**
 * Where each argument object was judged to run: the workspace its `cwd` was
 * resolved against and the canonical directory that gave. The scopes do not
 * carry the directory (policy judges it through the `paths` constraint), so
 * run() looks it up here, resolves it again, and refuses if it moved.
 */
const judgedCwd = new WeakMap<object, { readonly workspace: string; readonly cwd: string }>();

/**
 * How a call names its program. A bare name (found on the trusted PATH) is the primary scope, so
 * `allow shell.exec:gh` covers `gh`; a program given by path is judged by its real path, so a workspace
 * script called `gh` is not covered by that rule. Every other name — the real path, the real and the given
 * basename — is an alias: a deny or ask rule written for any of them still applies.
 */
function programNames(args: ExecArgs, workspace: string): { primary: string; aliases: string[] } {
  const program = args.argv[0] ?? "";
  const cwd = resolveCwd(args, workspace);
  const real = resolveProgram(program, cwd);
  judgedCwd.set(args, { workspace, cwd });
  const bare = !program.includes("/");
  const primary = bare ? canonicalBinary(program) : real;
  const all = new Set([canonicalBinary(basename(program)), canonicalBinary(basename(real)), real]);
  all.delete(primary);
  return { primary, aliases: [...all] };
}

export const shellExecTool = defineTool<z.infer<typeof ExecArgs>>({
  name: "shell.exec",
  description: "Run a program with arguments (no shell). Output is limited to 1 MiB.",
  risk: "high",
  args: ExecArgs,
  argRoles: { recipients: [], urls: [], paths: ["cwd"] },
  spawnsProcess: true,
  scopes(args, ctx) {
    // One scope: a rule on plain `shell.exec` matches it whatever the program; `shell.exec:gh` matches only gh.
    const { primary } = programNames(args, ctx.workspace);
    return [`shell.exec:${primary}`];
  },
  aliases(args, ctx) {
    return programNames(args, ctx.workspace).aliases.map((n) => `shell.exec:${n}`);
  },
  run(args, ctx) {
    return new Promise((resolve, reject) => {
      const program = args.argv[0];
      const rest = args.argv.slice(1);
      if (program === undefined) {
        reject(new Error("argv is empty"));
        return;
      }
      // Start exactly the program, in exactly the directory, that policy judged; argv[0] keeps the name the caller gave.
      const paths = ctx.scopes.filter((s) => s.name === "shell.exec" && s.resource?.startsWith("/") === true).map((s) => s.resource ?? "");
      const bin = paths[0];
      if (bin === undefined || paths.length !== 1) {
        reject(new Error("shell.exec runs only with the one program path it was judged on"));
        return;
      }
      const judged = judgedCwd.get(args);
      if (judged === undefined) {
        reject(new Error("shell.exec runs only in the directory it was judged on, and these arguments were never judged"));
        return;
      }
      let cwd: string;
      let now: string;
      try {
        // Resolved against the workspace it was judged against: the directory policy saw is the one the program starts in.
        cwd = resolveCwd(args, judged.workspace);
        now = realpathSync.native(bin);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (cwd !== judged.cwd) {
        reject(new Error(`cwd changed since the decision: judged ${judged.cwd}, now ${cwd}`));
        return;
      }
      if (now !== bin) {
        reject(new Error(`program changed since the decision: judged ${bin}, now ${now}`));
        return;
      }
      const child = spawn(bin, rest, { argv0: program, cwd, env: { PATH: spawnPath(), ...ctx.secrets.env }, signal: ctx.signal, stdio: ["ignore", "pipe", "pipe"] });
      const chunks: Buffer[] = [];
      let size = 0;
      const collect = (b: Buffer): void => {
        if (size < MAX_OUTPUT) chunks.push(b.subarray(0, MAX_OUTPUT - size));
        size += b.length;
      };
      child.stdout.on("data", collect);
      child.stderr.on("data", collect);
      child.on("error", reject);
      child.on("close", (code) => {
        resolve({ text: Buffer.concat(chunks).toString("utf8"), exitCode: code ?? -1 });
      });
    });
  },
});
