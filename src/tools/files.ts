/** files.read: read a text file. The scope names the canonical path, so policy judges the file actually opened. */
import { open } from "node:fs/promises";
import { constants } from "node:fs";
import { z } from "zod";
import { pathReadings } from "../policy/scope.ts";
import { defineTool } from "../envelope/tool.ts";

const MAX_READ_BYTES = 1024 * 1024;

const ReadArgs = z.object({ path: z.string().min(1).max(4096), max_bytes: z.number().int().positive().max(MAX_READ_BYTES).optional() }).strict();

export const filesReadTool = defineTool<z.infer<typeof ReadArgs>>({
  name: "files.read",
  description: "Read a text file (at most 1 MiB). Relative paths are inside the workspace.",
  risk: "low",
  args: ReadArgs,
  argRoles: { recipients: [], urls: [], paths: ["path"] },
  spawnsProcess: false,
  scopes(args, ctx) {
    return pathReadings(args.path, { cwd: ctx.workspace }).map((p) => `files.read:${p}`);
  },
  async run(args, ctx) {
    const [path] = pathReadings(args.path, { cwd: ctx.workspace });
    if (path === undefined) throw new Error("no path");
    // O_NOFOLLOW: the scope was computed on the resolved path; refuse if a symlink appeared there since.
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const limit = args.max_bytes ?? MAX_READ_BYTES;
      const buffer = Buffer.alloc(limit);
      const { bytesRead } = await handle.read(buffer, 0, limit, 0);
      return { text: buffer.subarray(0, bytesRead).toString("utf8") };
    } finally {
      await handle.close();
    }
  },
});
