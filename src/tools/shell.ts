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
import { accessSync, constants, realpathSync, statSync } from "node:fs";
import { basename, isAbsolute } from "node:path";
import { z } from "zod";
import { canonicalBinary, canonicalPath, ScopeError } from "../policy/scope.ts";
import { defineTool } from "../envelope/tool.ts";

const MAX_OUTPUT = 1024 * 1024;
const DEFAULT_PATH = "/usr/bin:/bin";
const ExecArgs = z
  .object({
    argv: z.array(z.string()).min(1).max(256),
    cwd: z.string().optional().describe("directory to start in (relative: to the workspace); visible in the sandbox, read-only unless write"),
    write: z.boolean().optional().describe("make the working directory writable (judged as files.write)"),
    mounts: z
      .array(z.object({ path: z.string().min(1), rw: z.boolean().optional() }).strict())
      .max(32)
      .optional()
      .describe("more host paths to make visible at the same path (judged as files.read / files.write)"),
    allow_net: z.array(z.string().min(1)).max(32).optional().describe("hosts (host or host:port) the process may reach through the egress proxy (judged as net.connect)"),
    timeout_s: z.number().int().min(1).max(3600).optional(),
  })
  .strict();
type ExecArgs = z.infer<typeof ExecArgs>;

/** The host an egress allowlist entry names (`host`, `host:port`, `[v6]:port`), for its net.connect scope. */
function hostOfAllowEntry(entry: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (v6) return v6[1] ?? "";
  const m = /^([^:/\s]+)(?::(\d{1,5}))?$/.exec(entry);
  if (!m) throw new ScopeError(`allow_net entry "${entry}" is not a host or host:port (no schemes, paths or wildcards here)`);
  return m[1] ?? "";
}

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
 * How a call names its program. A bare name (found on the trusted PATH) is the primary scope, so
 * `allow shell.exec:gh` covers `gh`; a program given by path is judged by its real path, so a workspace
 * script called `gh` is not covered by that rule. Every other name — the real path, the real and the given
 * basename — is an alias: a deny or ask rule written for any of them still applies.
 */
function programNames(args: ExecArgs, workspace: string): { primary: string; aliases: string[] } {
  const program = args.argv[0] ?? "";
  const cwd = resolveCwd(args, workspace);
  const real = resolveProgram(program, cwd);
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
    // The program: a rule on plain `shell.exec` matches it whatever the program; `shell.exec:gh` matches only gh.
    // Then everything the sandbox will expose, so policy judges it and the sandbox mounts exactly that.
    const { primary } = programNames(args, ctx.workspace);
    const cwd = resolveCwd(args, ctx.workspace);
    return [
      `shell.exec:${primary}`,
      `files.${args.write === true ? "write" : "read"}:${cwd}`,
      ...(args.mounts ?? []).map((m) => `files.${m.rw === true ? "write" : "read"}:${canonicalPath(m.path, { cwd: ctx.workspace })}`),
      ...(args.allow_net ?? []).map((entry) => `net.connect:${hostOfAllowEntry(entry)}`),
    ];
  },
  aliases(args, ctx) {
    return programNames(args, ctx.workspace).aliases.map((n) => `shell.exec:${n}`);
  },
  async run(args, ctx) {
    const program = args.argv[0];
    if (program === undefined) throw new Error("argv is empty");
    // Start exactly the program, in exactly the directory, with exactly the mounts and hosts that policy judged.
    const judged = (name: string): string[] => ctx.scopes.filter((s) => s.name === name && s.resource !== undefined).map((s) => s.resource ?? "");
    const bins = judged("shell.exec").filter((r) => r.startsWith("/"));
    const bin = bins[0];
    if (bin === undefined || bins.length !== 1) throw new Error("shell.exec runs only with the one program path it was judged on");
    const cwd = resolveCwd(args, ctx.workspace);
    const files = ctx.scopes.filter((s) => (s.name === "files.read" || s.name === "files.write") && s.resource !== undefined);
    if (!files.some((s) => s.resource === cwd)) throw new Error(`the working directory changed since the decision (now ${cwd})`);
    // A judged path swapped for a link while the call waited for approval would mount the link's target instead.
    for (const s of files) {
      const judgedPath = s.resource ?? "";
      let now: string;
      try {
        now = realpathSync.native(judgedPath);
      } catch {
        throw new Error(`${judgedPath} no longer exists; nothing ran`);
      }
      if (now !== judgedPath) throw new Error(`${judgedPath} changed since the decision (it now leads to ${now}); nothing ran`);
    }
    const now = realpathSync.native(bin);
    if (now !== bin) throw new Error(`program changed since the decision: judged ${bin}, now ${now}`);
    const hosts = new Set(judged("net.connect"));
    const network = (args.allow_net ?? []).filter((entry) => hosts.has(hostOfAllowEntry(entry)));
    const result = await ctx.runProcess(
      {
        program: bin,
        argv0: program,
        args: args.argv.slice(1),
        cwd,
        env: { PATH: spawnPath(), ...ctx.secrets.env },
        mounts: files.map((s) => ({ path: s.resource ?? "", rw: s.name === "files.write" })),
        network,
        outputBytes: MAX_OUTPUT,
        ...(args.timeout_s !== undefined ? { timeoutMs: args.timeout_s * 1000 } : {}),
      },
      ctx.signal,
    );
    const stdout = result.stdout.toString("utf8");
    const stderr = result.stderr.toString("utf8");
    return {
      text: stdout + stderr,
      streams: { stdout, stderr },
      exitCode: result.exitCode,
      details: { runner: result.runner, durationMs: Math.round(result.durationMs), violations: result.violations, ...(result.egress ? { egress: result.egress } : {}) },
    };
  },
});
