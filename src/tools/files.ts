/** files.read: read a text file. The scope names the canonical path, so policy judges the file actually opened. */
import { open, readlink } from "node:fs/promises";
import { constants } from "node:fs";
import { z } from "zod";
import { pathReadings } from "../policy/scope.ts";
import { defineTool } from "../envelope/tool.ts";

const MAX_READ_BYTES = 1024 * 1024;

const ReadArgs = z.object({ path: z.string().min(1).max(4096), max_bytes: z.number().int().positive().max(MAX_READ_BYTES).optional() }).strict();

/** Proves the open file is the judged path itself, not something an intermediate symlink (swapped in after the decision) led to. */
async function assertOpened(fd: number, judged: string): Promise<void> {
  let actual: string;
  try {
    actual = await readlink(`/proc/self/fd/${fd}`);
  } catch {
    return; // No /proc (not Linux): O_NOFOLLOW on the last component is all there is.
  }
  if (actual !== judged) throw new Error(`${judged} changed between the policy decision and the read (it now leads to ${actual}); refusing to read it`);
}

export const filesReadTool = defineTool<z.infer<typeof ReadArgs>>({
  name: "files.read",
  description: "Read a text file (at most 1 MiB). Relative paths are inside the workspace.",
  risk: "low",
  args: ReadArgs,
  argRoles: { recipients: [], urls: [], paths: ["path"] },
  spawnsProcess: false,
  scopes(args, ctx) {
    // The literal reading comes first; run() opens exactly that one.
    return pathReadings(args.path, { cwd: ctx.workspace }).map((p) => `files.read:${p}`);
  },
  async run(args, ctx) {
    // Open the path policy judged, not a fresh resolution: a symlink swapped in since the decision is not followed.
    const path = ctx.scopes.find((s) => s.name === "files.read")?.resource;
    if (path === undefined) throw new Error("files.read runs only with the scope it was judged on");
    // O_NOFOLLOW: refuse if the last component became a symlink since the decision; O_NONBLOCK: a FIFO must not hang the read.
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      await assertOpened(handle.fd, path);
      if (!(await handle.stat()).isFile()) throw new Error(`${path} is not a regular file`);
      const limit = args.max_bytes ?? MAX_READ_BYTES;
      const buffer = Buffer.alloc(limit);
      const { bytesRead } = await handle.read(buffer, 0, limit, 0);
      return { text: buffer.subarray(0, bytesRead).toString("utf8") };
    } finally {
      await handle.close();
    }
  },
});
