/**
 * The tools the model is offered, under OpenClaw's names, and how a call
 * becomes an envelope proposal. This file only translates: what a call may
 * touch is computed by the envelope tool from the translated arguments, and
 * policy judges that. Inputs are parsed strictly (unknown fields refused), so
 * nothing the model adds reaches a tool unjudged.
 */
import { z } from "zod";
import { OPENCLAW_TOOL_NAMES, type OpenClawToolName } from "../tools/openclaw-names.ts";
import type { ModelToolSpec } from "./providers/types.ts";
import { ShellWordsError, splitCommandLine } from "./shell-words.ts";

const Path = z.string().min(1).max(4096).describe("a file path; relative paths are inside the workspace");

const ReadInput = z.object({ path: Path }).strict();
const WriteInput = z.object({ path: Path, content: z.string().max(1024 * 1024), create_dirs: z.boolean().optional().describe("create missing parent directories") }).strict();
const EditInput = z
  .object({
    path: Path,
    old_text: z.string().min(1).describe("the exact text to replace; it must occur once unless replace_all"),
    new_text: z.string(),
    replace_all: z.boolean().optional(),
  })
  .strict();
const ExecInput = z
  .object({
    command: z.string().min(1).max(8192).optional().describe("a simple command line: words and quotes only (no pipes, redirections, ;, &&, $ or globs — no shell runs)"),
    argv: z.array(z.string().max(8192)).min(1).max(256).optional().describe("the program and its arguments as a list (use instead of command)"),
    workdir: Path.optional().describe("where to run (default: the workspace)"),
    write: z.boolean().optional().describe("true when the command must change files in workdir (it is read-only otherwise)"),
    allow_net: z.array(z.string().min(1).max(253)).max(16).optional().describe("hosts the command must reach (each needs approval by policy)"),
    timeout: z.number().int().min(1).max(3600).optional().describe("seconds"),
  })
  .strict();
const WebFetchInput = z.object({ url: z.string().min(1).max(2048), max_chars: z.number().int().min(100).max(200_000).optional() }).strict();
const MessageInput = z
  .object({
    channel: z.string().min(1).max(64).optional().describe('where to send (default "outbox")'),
    to: z.string().min(1).max(320).optional(),
    text: z.string().min(1).max(64 * 1024),
  })
  .strict();
const LoadSkillInput = z.object({ name: z.string().min(1).max(64) }).strict();

interface ModelTool {
  readonly name: OpenClawToolName;
  readonly description: string;
  readonly input: z.ZodType<Record<string, unknown>>;
  /** The envelope tool's arguments, or a message for the model saying what to change. */
  toArgs(input: Record<string, unknown>): Record<string, unknown> | string;
}

function tool<S extends z.ZodType<Record<string, unknown>>>(name: OpenClawToolName, description: string, input: S, toArgs: (i: z.infer<S>) => Record<string, unknown> | string): ModelTool {
  return { name, description, input, toArgs: (i) => toArgs(i as z.infer<S>) };
}

const MODEL_TOOLS: readonly ModelTool[] = [
  tool("read", "Read a text file (at most 1 MiB).", ReadInput, (i) => ({ path: i.path })),
  tool("write", "Write a file, replacing it if it exists.", WriteInput, (i) => ({ path: i.path, content: i.content, ...(i.create_dirs === undefined ? {} : { create_dirs: i.create_dirs }) })),
  tool("edit", "Replace exact text in a file.", EditInput, (i) => ({ path: i.path, old_text: i.old_text, new_text: i.new_text, ...(i.replace_all === undefined ? {} : { replace_all: i.replace_all }) })),
  tool("exec", "Run one program in the sandbox (no shell: no pipes or redirections). Give argv, or a simple command line.", ExecInput, (i) => {
    if ((i.command === undefined) === (i.argv === undefined)) return 'give exactly one of "command" or "argv"';
    let argv: string[];
    if (i.argv !== undefined) argv = i.argv;
    else {
      try {
        argv = splitCommandLine(i.command ?? "");
      } catch (err) {
        if (err instanceof ShellWordsError) return err.message;
        throw err;
      }
    }
    return {
      argv,
      ...(i.workdir === undefined ? {} : { cwd: i.workdir }),
      ...(i.write === undefined ? {} : { write: i.write }),
      ...(i.allow_net === undefined ? {} : { allow_net: i.allow_net }),
      ...(i.timeout === undefined ? {} : { timeout_s: i.timeout }),
    };
  }),
  tool("web_fetch", "Fetch a web page or API over HTTP(S) through the egress proxy; HTML comes back as text.", WebFetchInput, (i) => ({ url: i.url, ...(i.max_chars === undefined ? {} : { max_chars: i.max_chars }) })),
  tool("message", "Send a message on a channel (default: the outbox).", MessageInput, (i) => ({ channel: i.channel ?? "outbox", ...(i.to === undefined ? {} : { to: i.to }), text: i.text })),
  tool("load_skill", "Load a skill's instructions by name (see the skills list in the system prompt).", LoadSkillInput, (i) => ({ name: i.name })),
];

const BY_NAME = new Map(MODEL_TOOLS.map((t) => [t.name as string, t]));

let specs: readonly ModelToolSpec[] | undefined;

/** The tool list for the model: name, description, JSON Schema of the input (computed once; it never changes). */
export function modelToolSpecs(): readonly ModelToolSpec[] {
  specs ??= MODEL_TOOLS.map((t) => {
    const schema = z.toJSONSchema(t.input, { target: "draft-7", unrepresentable: "any" }) as Record<string, unknown>;
    delete schema.$schema;
    return { name: t.name, description: t.description, parameters: schema };
  });
  return specs;
}

export type Translation = { readonly ok: true; readonly tool: string; readonly args: Record<string, unknown> } | { readonly ok: false; readonly error: string };

/** A model's tool call as an envelope tool and arguments, or the error to give back to the model. */
export function translateToolCall(name: string, input: unknown): Translation {
  const t = BY_NAME.get(name);
  if (t === undefined) return { ok: false, error: `there is no tool named ${JSON.stringify(name.slice(0, 64))}; the tools are ${MODEL_TOOLS.map((x) => x.name).join(", ")}` };
  const parsed = t.input.safeParse(input);
  if (!parsed.success) return { ok: false, error: `invalid input for ${t.name}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(input)"}: ${i.message}`).join("; ")}` };
  const args = t.toArgs(parsed.data);
  if (typeof args === "string") return { ok: false, error: `${t.name}: ${args}` };
  return { ok: true, tool: OPENCLAW_TOOL_NAMES[t.name], args };
}
