/**
 * The `scripted` provider: not a model. Its replies are turns read from a
 * YAML (or JSON) file, answered in order, for tests, demos and the
 * quickstart. It says so in its label, and once the script is used up it
 * says that too, instead of inventing anything.
 *
 * The turn shape is shared with the protocol test servers
 * (test/helpers/model-servers.ts), so one script can drive the scripted
 * provider, a fake Anthropic API or a fake OpenAI-compatible server.
 *
 * ```yaml
 * # A scripted "model": not a real model.
 * turns:
 *   - text: "Let me read the inbox."
 *     tool_calls:
 *       - name: read
 *         input: { path: inbox/0001.eml }
 *   - text: "Done."
 * ```
 */
import { lstatSync, readFileSync } from "node:fs";
import { z } from "zod";
import { formatProblems, parseYamlWith } from "../../config/yaml.ts";
import { AegisError } from "../../errors.ts";
import { cancelledError, toolCallFromArguments } from "./common.ts";
import type { ModelProvider, ModelRequest, ModelResponse, ModelToolCall, StopReason } from "./types.ts";

const MAX_SCRIPT_BYTES = 4 * 1024 * 1024;

export const ScriptedToolCallSchema = z
  .object({
    id: z.string().min(1).optional().describe("the call id (default call_<turn>_<n>)"),
    name: z.string().min(1).describe("the tool the scripted model calls"),
    input: z.unknown().optional().describe("the arguments, any JSON value (default {})"),
    raw_input: z.string().optional().describe("the arguments exactly as a model would send them, possibly not valid JSON (instead of input)"),
  })
  .strict()
  .refine((c) => c.input === undefined || c.raw_input === undefined, { message: "give input or raw_input, not both" });

export const ScriptedTurnSchema = z
  .object({
    text: z.string().default("").describe("what the scripted model says"),
    tool_calls: z.array(ScriptedToolCallSchema).default([]),
    stop_reason: z.enum(["end_turn", "tool_use", "max_tokens", "refusal", "other"]).optional().describe("default tool_use when there are tool calls, else end_turn"),
    usage: z.object({ input_tokens: z.number().int().min(0), output_tokens: z.number().int().min(0) }).strict().optional(),
  })
  .strict();

export const ScriptFileSchema = z.object({ turns: z.array(ScriptedTurnSchema) }).strict();

/** One scripted turn after parsing (defaults filled in). */
export type ScriptedTurn = z.output<typeof ScriptedTurnSchema>;
/** One scripted turn as written in a file or a test (`text` and `tool_calls` optional). */
export type ScriptedTurnInput = z.input<typeof ScriptedTurnSchema>;
export type ScriptedToolCall = z.output<typeof ScriptedToolCallSchema>;

/** Parses a script's text (YAML or JSON); `file` names it in errors. Throws CONFIG_INVALID with line numbers. */
export function parseScript(text: string, file: string): ScriptedTurn[] {
  const parsed = parseYamlWith(text, ScriptFileSchema);
  if (!parsed.ok) {
    throw new AegisError("CONFIG_INVALID", `The script ${file} is invalid:\n${formatProblems(file, parsed.problems)}\nA script is a list of turns: turns: [{ text: "...", tool_calls: [{ name: read, input: { path: notes.txt } }] }].`, {
      details: { file, problems: parsed.problems },
    });
  }
  return parsed.data.turns;
}

/** Parses turns given as values (tests, the protocol servers); `source` names them in errors. */
export function parseTurns(turns: readonly unknown[], source = "scripted turns"): ScriptedTurn[] {
  const parsed = z.array(ScriptedTurnSchema).safeParse(turns);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${source}: turns${i.path.map((p) => (typeof p === "number" ? `[${String(p)}]` : `.${String(p)}`)).join("")}: ${i.message}`);
    throw new AegisError("CONFIG_INVALID", `${source} are invalid:\n${problems.join("\n")}`);
  }
  return parsed.data;
}

/** Reads and parses a script file. */
export function loadScript(file: string): ScriptedTurn[] {
  let size: number;
  try {
    const st = lstatSync(file);
    if (st.isSymbolicLink()) throw new AegisError("CONFIG_INVALID", `Refusing the script ${file}: it is a symbolic link. Put the script itself in the scripts directory.`);
    if (!st.isFile()) throw new AegisError("CONFIG_INVALID", `The script ${file} is not a regular file.`);
    size = st.size;
  } catch (err) {
    if (err instanceof AegisError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new AegisError("CONFIG_INVALID", code === "ENOENT" ? `There is no script ${file}. Write one (turns: [{ text: "Hello." }]) or choose another model.` : `Cannot read the script ${file} (${code ?? String(err)}).`, {
      details: { file },
    });
  }
  if (size > MAX_SCRIPT_BYTES) throw new AegisError("CONFIG_INVALID", `The script ${file} is larger than 4 MiB; a script is a short list of turns.`, { details: { file } });
  return parseScript(readFileSync(file, "utf8"), file);
}

/** The text the scripted provider answers once every turn has been used. */
export function scriptEndedText(source: string): string {
  return `[The script ${source} has ended: it has no more turns. This is a scripted provider, not a model; nothing more will be said.]`;
}

/** A turn's tool calls as the loop sees them; `turnIndex` makes default ids unique across the conversation. */
export function scriptedToolCalls(turn: ScriptedTurn, turnIndex: number): ModelToolCall[] {
  return turn.tool_calls.map((c, i) => {
    const id = c.id ?? `call_${String(turnIndex)}_${String(i)}`;
    if (c.raw_input !== undefined) return toolCallFromArguments(id, c.name, c.raw_input);
    return { id, name: c.name, input: c.input ?? {} };
  });
}

export function scriptedStopReason(turn: ScriptedTurn): StopReason {
  return turn.stop_reason ?? (turn.tool_calls.length > 0 ? "tool_use" : "end_turn");
}

/** Splits text into the pieces a stream would deliver: words with their trailing space, so deltas look like a model's. */
export function textPieces(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

export interface ScriptedProviderOptions {
  readonly turns: readonly ScriptedTurn[];
  /** Where the turns came from (a file path), shown in the label and the end-of-script text. */
  readonly source: string;
  /** The model name reported back (the NAME in `scripted/NAME`). */
  readonly model: string;
}

export function createScriptedProvider(options: ScriptedProviderOptions): ModelProvider {
  const turns = options.turns;
  let next = 0;
  return {
    name: "scripted",
    label: `scripted turns from ${options.source} (not a model)`,
    scripted: true,
    complete(req: ModelRequest): Promise<ModelResponse> {
      if (req.signal?.aborted === true) return Promise.reject(cancelledError("scripted"));
      const index = next;
      const turn = turns[index];
      if (turn === undefined) {
        const text = scriptEndedText(options.source);
        for (const piece of textPieces(text)) req.onTextDelta?.(piece);
        return Promise.resolve({ text, toolCalls: [], stopReason: "end_turn", usage: { inputTokens: 0, outputTokens: 0 }, model: options.model });
      }
      next++;
      for (const piece of textPieces(turn.text)) req.onTextDelta?.(piece);
      return Promise.resolve({
        text: turn.text,
        toolCalls: scriptedToolCalls(turn, index),
        stopReason: scriptedStopReason(turn),
        usage: { inputTokens: turn.usage?.input_tokens ?? 0, outputTokens: turn.usage?.output_tokens ?? 0 },
        model: options.model,
      });
    },
  };
}
