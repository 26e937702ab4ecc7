/**
 * The file tools: files.read, files.write and files.edit. Each scope names
 * the canonical path (symlinks that exist resolved, `..` applied the way the
 * kernel does), so policy judges the file actually touched, and run() acts on
 * exactly that judged path, never on a fresh resolution of the arguments.
 *
 * Between the decision and the run (an approval can take minutes) a path can
 * change under us: a symlink swapped in for the file, or for a parent
 * directory. The discipline that defeats it:
 *  - the judged parent directory is opened with O_DIRECTORY|O_NOFOLLOW and
 *    proven, through /proc/self/fd, to be the judged path itself (no
 *    intermediate symlink led there);
 *  - every name inside it is reached through that descriptor
 *    (`/proc/self/fd/N/name`, the kernel's openat), so a parent swapped
 *    afterwards changes nothing;
 *  - the file itself is opened with O_NOFOLLOW (a symlink at the last
 *    component is refused, not followed) and must be a regular file;
 *  - a write goes to a fresh O_EXCL temporary file in that directory, is
 *    fsynced and renamed over the target (rename never follows a link), and
 *    the directory is fsynced. The target's inode is never written, so a
 *    hard link to a file elsewhere cannot be written through either.
 * Without /proc (not Linux) names are reached by path after a realpath check:
 * weaker, and said so here.
 */
import { randomBytes } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { lstat, mkdir, open, readlink, realpath, rename, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, sep } from "node:path";
import { z } from "zod";
import { pathReadings } from "../policy/scope.ts";
import { defineTool, type ToolRunContext } from "../envelope/tool.ts";

const MAX_READ_BYTES = 1024 * 1024;
/** Largest content files.write accepts, and largest file files.edit reads or produces. */
export const MAX_FILE_BYTES = 1024 * 1024;

const Path = z.string().min(1).max(4096);

const ReadArgs = z.object({ path: Path, max_bytes: z.number().int().positive().max(MAX_READ_BYTES).optional() }).strict();

const WriteArgs = z
  .object({
    path: Path.refine((p) => !p.endsWith("/"), "a file path, not a directory (no trailing /)"),
    content: z
      .string()
      .max(MAX_FILE_BYTES)
      .refine((c) => Buffer.byteLength(c, "utf8") <= MAX_FILE_BYTES, `at most ${String(MAX_FILE_BYTES)} bytes of UTF-8`),
    create_dirs: z.boolean().optional(),
  })
  .strict();

const EditArgs = z
  .object({
    path: Path,
    old_text: z.string().min(1).max(MAX_FILE_BYTES),
    new_text: z.string().max(MAX_FILE_BYTES),
    replace_all: z.boolean().optional(),
  })
  .strict();

const errnoOf = (err: unknown): string | undefined => (err instanceof Error && "code" in err && typeof err.code === "string" ? err.code : undefined);

/** Whether /proc/self/fd shows what a descriptor refers to (Linux); probed once. */
let procFd: boolean | undefined;
async function hasProcFd(): Promise<boolean> {
  if (procFd === undefined) {
    try {
      await readlink("/proc/self/fd/0");
      procFd = true;
    } catch {
      procFd = (await lstat("/proc/self/fd").catch(() => undefined))?.isDirectory() ?? false;
    }
  }
  return procFd;
}

/** Proves the open descriptor is the judged path itself, not something an intermediate symlink (swapped in after the decision) led to. */
async function assertOpened(fd: number, judged: string, what = "the read"): Promise<void> {
  let actual: string;
  try {
    actual = await readlink(`/proc/self/fd/${String(fd)}`);
  } catch {
    return; // No /proc (not Linux): O_NOFOLLOW on the last component is all there is.
  }
  if (actual !== judged) throw new Error(`${judged} changed between the policy decision and ${what} (it now leads to ${actual}); refusing`);
}

/** The one judged path of this kind the call was judged on (the literal reading comes first). */
function judgedPath(ctx: ToolRunContext, scope: "files.read" | "files.write", tool: string): string {
  const path = ctx.scopes.find((s) => s.name === scope)?.resource;
  if (path === undefined) throw new Error(`${tool} runs only with the ${scope} scope it was judged on`);
  return path;
}

/**
 * A directory opened and proven to be a judged path. Names inside it are reached through the descriptor,
 * so swapping the directory (or one of its parents) for a symlink after it was opened redirects nothing.
 */
class JudgedDir {
  readonly path: string;
  readonly #handle: FileHandle;
  readonly #viaFd: boolean;

  private constructor(path: string, handle: FileHandle, viaFd: boolean) {
    this.path = path;
    this.#handle = handle;
    this.#viaFd = viaFd;
  }

  /** Opens `path` (absolute, canonical), or, with `create`, creates what is missing of it one verified level at a time. */
  static async open(path: string, create: boolean): Promise<JudgedDir> {
    const viaFd = await hasProcFd();
    try {
      return await JudgedDir.#openExisting(path, viaFd);
    } catch (err) {
      if (errnoOf(err) !== "ENOENT") throw err;
      if (!create) throw new Error(`the directory ${path} does not exist (pass create_dirs: true to create it)`);
    }
    const parentPath = dirname(path);
    if (parentPath === path) throw new Error(`cannot open the root directory ${path}`);
    const parent = await JudgedDir.open(parentPath, true);
    try {
      const name = basename(path);
      try {
        await mkdir(parent.at(name), 0o777);
      } catch (err) {
        if (errnoOf(err) !== "EEXIST") throw err; // Created meanwhile: opening it below checks what it is.
      }
      return await JudgedDir.#openExisting(path, viaFd, parent);
    } finally {
      await parent.close();
    }
  }

  static async #openExisting(path: string, viaFd: boolean, parent?: JudgedDir): Promise<JudgedDir> {
    const target = parent === undefined ? path : parent.at(basename(path));
    let handle: FileHandle;
    try {
      handle = await open(target, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch (err) {
      const code = errnoOf(err);
      if (code === "ELOOP" || code === "ENOTDIR") throw new Error(`${path} changed between the policy decision and the write (it is now a symlink or not a directory); refusing`);
      throw err;
    }
    try {
      if (viaFd) await assertOpened(handle.fd, path, "the write");
      else if ((await realpath(path)) !== path) throw new Error(`${path} changed between the policy decision and the write; refusing`);
      return new JudgedDir(path, handle, viaFd);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** A path that reaches `name` inside this very directory (openat through /proc), whatever its path now leads to. */
  at(name: string): string {
    if (name.length === 0 || name === "." || name === ".." || name.includes(sep)) throw new Error(`"${name}" is not a file name`);
    return this.#viaFd ? `/proc/self/fd/${String(this.#handle.fd)}/${name}` : `${this.path === sep ? "" : this.path}${sep}${name}`;
  }

  /** Fails unless the directory is still at its judged path (it was not moved or replaced meanwhile). */
  async recheck(): Promise<void> {
    if (this.#viaFd) await assertOpened(this.#handle.fd, this.path, "the write");
    else if ((await realpath(this.path)) !== this.path) throw new Error(`${this.path} changed between the policy decision and the write; refusing`);
  }

  async sync(): Promise<void> {
    await this.#handle.sync().catch(() => undefined); // Some file systems cannot fsync a directory; the file itself was synced.
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}

/** lstat of a name in the judged directory, or undefined when there is nothing there. */
async function lstatIn(dir: JudgedDir, name: string): Promise<Stats | undefined> {
  try {
    return await lstat(dir.at(name));
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return undefined;
    throw err;
  }
}

function describeKind(st: Stats): string {
  if (st.isSymbolicLink()) return "a symbolic link";
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a regular file";
}

/** Refuses anything at the target but a regular file (a symlink there now was swapped in: the judged path is canonical). */
function assertRegularTarget(st: Stats | undefined, path: string): void {
  if (st === undefined || st.isFile()) return;
  throw new Error(`${path} is ${describeKind(st)}; only regular files are written${st.isSymbolicLink() ? " (a link appeared there after the policy decision)" : ""}`);
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

/**
 * Replaces `name` in the judged directory with `content`, atomically: a fresh O_EXCL temporary file, fsync,
 * rename over the target, fsync of the directory. An existing file keeps its permission bits (not set-id
 * bits) and, where allowed, its owner. With `expected`, the target must still be exactly that file.
 */
async function replaceFile(dir: JudgedDir, name: string, judged: string, content: Buffer, expected?: Stats): Promise<void> {
  const before = await lstatIn(dir, name);
  assertRegularTarget(before, judged);
  if (expected !== undefined && (before === undefined || !sameFile(before, expected))) throw new Error(`${judged} changed while it was being edited; nothing was written`);
  const temp = `.aegisclaw-${randomBytes(8).toString("hex")}.tmp`;
  // Created empty with the mode a new file gets here (umask applied), then closed to the owner while it fills.
  const handle = await open(dir.at(temp), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o666);
  let renamed = false;
  try {
    const mode = before === undefined ? (await handle.stat()).mode & 0o777 : before.mode & 0o777;
    await handle.chmod(0o600);
    if (before !== undefined) await handle.chown(before.uid, before.gid).catch(() => undefined);
    await handle.writeFile(content);
    await handle.chmod(mode);
    await handle.sync();
    await handle.close();
    // Last checks before the rename: still the judged directory, and nothing but a regular file (or nothing) at the name.
    await dir.recheck();
    const now = await lstatIn(dir, name);
    assertRegularTarget(now, judged);
    if (expected !== undefined && (now === undefined || !sameFile(now, expected))) throw new Error(`${judged} changed while it was being edited; nothing was written`);
    if (before === undefined && now !== undefined) throw new Error(`${judged} was created by something else while it was being written; nothing was written`);
    await rename(dir.at(temp), dir.at(name));
    renamed = true;
    await dir.sync();
  } finally {
    await handle.close().catch(() => undefined);
    if (!renamed) await unlink(dir.at(temp)).catch(() => undefined);
  }
}

/** Reads the judged file through the judged directory: no link followed, regular files only, at most `limit` bytes. */
async function readJudged(dir: JudgedDir, name: string, judged: string, limit: number): Promise<{ bytes: Buffer; stats: Stats }> {
  let handle: FileHandle;
  try {
    // O_NOFOLLOW: a symlink at the last component is refused; O_NONBLOCK: a FIFO must not hang the read.
    handle = await open(dir.at(name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (errnoOf(err) === "ELOOP") throw new Error(`${judged} is now a symbolic link (it changed after the policy decision); refusing`);
    if (errnoOf(err) === "ENOENT") throw new Error(`${judged} does not exist`);
    throw err;
  }
  try {
    await assertOpened(handle.fd, judged);
    const stats = await handle.stat();
    if (!stats.isFile()) throw new Error(`${judged} is ${describeKind(stats)}, not a regular file`);
    if (stats.size > limit) throw new Error(`${judged} is ${String(stats.size)} bytes; at most ${String(limit)} can be edited`);
    const buffer = Buffer.alloc(limit + 1);
    const { bytesRead } = await handle.read(buffer, 0, limit + 1, 0);
    if (bytesRead > limit) throw new Error(`${judged} grew beyond ${String(limit)} bytes; at most that can be edited`);
    return { bytes: buffer.subarray(0, bytesRead), stats };
  } finally {
    await handle.close();
  }
}

/** Opens the judged file's parent (proven to be the judged directory) and runs `fn` with it. */
async function inJudgedParent<T>(judged: string, create: boolean, fn: (dir: JudgedDir, name: string) => Promise<T>): Promise<T> {
  const name = basename(judged);
  const parent = dirname(judged);
  if (name.length === 0 || parent === judged) throw new Error(`${judged} is not a file path`);
  const dir = await JudgedDir.open(parent, create);
  try {
    return await fn(dir, name);
  } finally {
    await dir.close();
  }
}

/** Start offsets of every occurrence of `needle`, overlapping ones included (so "aa" occurs twice in "aaa"). */
function occurrences(haystack: string, needle: string): number[] {
  const found: number[] = [];
  for (let i = haystack.indexOf(needle); i !== -1; i = haystack.indexOf(needle, i + 1)) found.push(i);
  return found;
}

/** Replaces non-overlapping occurrences left to right, literally (no `$&`-style patterns as String.replace has). */
function replaceLiteral(text: string, oldText: string, newText: string, all: boolean): { text: string; count: number } {
  const parts: string[] = [];
  let from = 0;
  let count = 0;
  for (let i = text.indexOf(oldText); i !== -1; i = text.indexOf(oldText, from)) {
    parts.push(text.slice(from, i), newText);
    from = i + oldText.length;
    count += 1;
    if (!all) break;
  }
  parts.push(text.slice(from));
  return { text: parts.join(""), count };
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
    const path = judgedPath(ctx, "files.read", "files.read");
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

export const filesWriteTool = defineTool<z.infer<typeof WriteArgs>>({
  name: "files.write",
  description: "Write a text file (at most 1 MiB), replacing it if it exists. Relative paths are inside the workspace; create_dirs creates missing parent directories.",
  risk: "medium",
  args: WriteArgs,
  argRoles: { recipients: [], urls: [], paths: ["path"] },
  spawnsProcess: false,
  scopes(args, ctx) {
    // The file may not exist yet: its parent is canonicalised and the name kept as written. The literal reading comes first.
    return pathReadings(args.path, { cwd: ctx.workspace }).map((p) => `files.write:${p}`);
  },
  async run(args, ctx) {
    const path = judgedPath(ctx, "files.write", "files.write");
    const content = Buffer.from(args.content, "utf8");
    await inJudgedParent(path, args.create_dirs === true, (dir, name) => replaceFile(dir, name, path, content));
    return { text: `wrote ${String(content.length)} bytes to ${path}`, details: { path, bytes: content.length } };
  },
});

export const filesEditTool = defineTool<z.infer<typeof EditArgs>>({
  name: "files.edit",
  description: "Replace exact text in a text file: old_text must occur exactly once unless replace_all. Relative paths are inside the workspace.",
  risk: "medium",
  args: EditArgs,
  argRoles: { recipients: [], urls: [], paths: ["path"] },
  spawnsProcess: false,
  scopes(args, ctx) {
    // An edit reads the file and writes it back: both must be allowed, for every reading of the path.
    const readings = pathReadings(args.path, { cwd: ctx.workspace });
    return [...readings.map((p) => `files.read:${p}`), ...readings.map((p) => `files.write:${p}`)];
  },
  async run(args, ctx) {
    const path = judgedPath(ctx, "files.write", "files.edit");
    if (!ctx.scopes.some((s) => s.name === "files.read" && s.resource === path)) throw new Error("files.edit runs only with the files.read scope of the path it writes");
    if (args.old_text === args.new_text) throw new Error("old_text and new_text are the same; there is nothing to change");
    return inJudgedParent(path, false, async (dir, name) => {
      const { bytes, stats } = await readJudged(dir, name, path, MAX_FILE_BYTES);
      let text: string;
      try {
        // ignoreBOM keeps a byte-order mark in the text, so writing it back keeps it too.
        text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
      } catch {
        throw new Error(`${path} is not UTF-8 text; files.edit changes text files only`);
      }
      const found = occurrences(text, args.old_text);
      if (found.length === 0) {
        const hint = text.includes("\r\n") && args.old_text.includes("\n") && !args.old_text.includes("\r\n") ? " (the file has CRLF line endings; old_text has LF)" : "";
        throw new Error(`old_text does not occur in ${path}${hint}; read the file and copy the exact text, whitespace included`);
      }
      if (found.length > 1 && args.replace_all !== true) {
        throw new Error(`old_text occurs ${String(found.length)} times in ${path}; include more surrounding text so it occurs exactly once, or pass replace_all: true`);
      }
      const replaced = replaceLiteral(text, args.old_text, args.new_text, args.replace_all === true);
      const out = Buffer.from(replaced.text, "utf8");
      if (out.length > MAX_FILE_BYTES) throw new Error(`the edited file would be ${String(out.length)} bytes; at most ${String(MAX_FILE_BYTES)} can be written`);
      await replaceFile(dir, name, path, out, stats);
      const times = replaced.count === 1 ? "1 occurrence" : `${String(replaced.count)} occurrences`;
      return { text: `replaced ${times} in ${path} (now ${String(out.length)} bytes)`, details: { path, replacements: replaced.count, bytes: out.length } };
    });
  },
});
