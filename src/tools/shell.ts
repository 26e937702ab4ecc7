/**
 * shell.exec: run one program with arguments (no shell interpretation). The
 * scope names the program, so policy can allow `shell.exec:gh` and nothing
 * else. It starts a process, so it runs only inside a sandbox executor, or on
 * the host when the operator explicitly chose --unsafe-host.
 */
import { spawn } from "node:child_process";
import { z } from "zod";
import { canonicalBinary, canonicalPath } from "../policy/scope.ts";
import { defineTool } from "../envelope/tool.ts";

const MAX_OUTPUT = 1024 * 1024;
const ExecArgs = z.object({ argv: z.array(z.string()).min(1).max(256), cwd: z.string().optional() }).strict();
type ExecArgs = z.infer<typeof ExecArgs>;

interface Launch {
  /** The program: a bare name (looked up on PATH) or a canonical absolute path. */
  readonly bin: string;
  /** The canonical working directory. */
  readonly cwd: string;
}

/**
 * Resolves the working directory against the workspace, then a program path
 * against that directory: the same resolution the scope, the `paths`
 * constraint and the spawn all use (a relative `cwd` must not mean the
 * workspace to policy and AegisClaw's own cwd to spawn).
 */
function resolveLaunch(args: ExecArgs, workspace: string): Launch {
  const cwd = args.cwd === undefined ? workspace : canonicalPath(args.cwd, { cwd: workspace });
  return { bin: canonicalBinary(args.argv[0] ?? "", { cwd }), cwd };
}

export const shellExecTool = defineTool<z.infer<typeof ExecArgs>>({
  name: "shell.exec",
  description: "Run a program with arguments (no shell). Output is limited to 1 MiB.",
  risk: "high",
  args: ExecArgs,
  argRoles: { recipients: [], urls: [], paths: ["cwd"] },
  spawnsProcess: true,
  scopes(args, ctx) {
    const judged = resolveLaunch(args, ctx.workspace);
    // Both the generic and the program-specific scope: rules can govern commands in general or one binary.
    return ["shell.exec", `shell.exec:${judged.bin}`];
  },
  run(args, ctx) {
    return new Promise((resolve, reject) => {
      const [program, ...rest] = args.argv;
      if (program === undefined) {
        reject(new Error("argv is empty"));
        return;
      }
      // Start exactly the program, in exactly the directory, that policy judged; argv[0] keeps the name the caller gave.
      const bin = ctx.scopes.find((s) => s.name === "shell.exec" && s.resource !== undefined)?.resource;
      if (bin === undefined) {
        reject(new Error("shell.exec runs only with the scope it was judged on"));
        return;
      }
      const { cwd } = resolveLaunch(args, ctx.workspace);
      const child = spawn(bin, rest, { argv0: program, cwd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...ctx.secrets.env }, signal: ctx.signal, stdio: ["ignore", "pipe", "pipe"] });
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
