/**
 * message.send: send a text message on a channel (a chat, a webhook, the
 * local outbox). Outbound messages are the classic exfiltration path, so the
 * scope names the channel (`message.send:<channel>`) for policy to judge, and
 * a channel that is not configured is refused before anyone is asked.
 *
 * Delivery is pluggable: a MessageSink says which channels it has and
 * delivers. The default tool's sink has one channel, `outbox`: each message
 * becomes a 0600 JSON file in `<data>/outbox/messages/`, so the tool works
 * with no channel configured (something else may deliver from there).
 */
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { actionDigest } from "../envelope/action.ts";
import { defineTool, type AnyTool } from "../envelope/tool.ts";
import { ScopeError } from "../policy/scope.ts";

export const MAX_MESSAGE_CHARS = 64 * 1024;

export interface OutboundMessage {
  readonly channel: string;
  readonly to?: string;
  readonly text: string;
  /** The action's digest (SHA-256 of the tool name and arguments): the audit log records the same one. */
  readonly action: string;
}

export interface Delivery {
  /** The channel's id for the message (file name, message id…). */
  readonly id: string;
  /** Anything worth telling the agent (queued, not delivered yet…). */
  readonly note?: string;
}

/** What a sink may need of the run: where tools keep state, and the call's cancellation. */
export interface DeliveryContext {
  readonly dataDir: string;
  readonly signal: AbortSignal;
}

export interface MessageSink {
  /** The channels this sink delivers to (short lower-case names). */
  channels(): readonly string[];
  deliver(message: OutboundMessage, context: DeliveryContext): Promise<Delivery>;
}

// eslint-disable-next-line no-control-regex
const NoControl = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$/;

const SendArgs = z
  .object({
    channel: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-z0-9][a-z0-9_-]*$/, "a channel name: lower-case letters, digits, - and _ (e.g. outbox)"),
    to: z.string().min(1).max(320).regex(NoControl, "one line without control characters").optional(),
    text: z.string().min(1).max(MAX_MESSAGE_CHARS),
  })
  .strict();

function assertKnown(sink: MessageSink, channel: string): void {
  const known = sink.channels();
  if (!known.includes(channel)) throw new ScopeError(`there is no message channel "${channel}"; the configured channels are: ${known.join(", ") || "(none)"}`);
}

/** message.send delivering through `sink`. An unknown channel cannot be judged, so it is denied without asking anyone. */
export function createMessageTool(sink: MessageSink): AnyTool {
  return defineTool<z.infer<typeof SendArgs>>({
    name: "message.send",
    description: `Send a text message on a channel (${sink.channels().join(", ") || "none configured"}).`,
    risk: "high",
    args: SendArgs,
    argRoles: { recipients: [], urls: [], paths: [] },
    spawnsProcess: false,
    scopes(args) {
      assertKnown(sink, args.channel);
      return [`message.send:${args.channel}`];
    },
    async run(args, ctx) {
      // The channel policy judged, and still configured.
      const channel = ctx.scopes.find((s) => s.name === "message.send")?.resource;
      if (channel === undefined || channel !== args.channel) throw new Error("message.send runs only with the channel it was judged on");
      assertKnown(sink, channel);
      const message: OutboundMessage = { channel, ...(args.to === undefined ? {} : { to: args.to }), text: args.text, action: actionDigest("message.send", args) };
      const delivery = await sink.deliver(message, { dataDir: ctx.dataDir, signal: ctx.signal });
      const to = args.to === undefined ? "" : ` to ${args.to}`;
      return {
        text: `sent on ${channel}${to} (id ${delivery.id})${delivery.note === undefined ? "" : `: ${delivery.note}`}`,
        details: { channel, id: delivery.id, chars: args.text.length },
      };
    },
  });
}

/** The sink of the default tool: channel `outbox`, one private JSON file per message under `<data>/outbox/messages/`. */
export const outboxMessageSink: MessageSink = {
  channels: () => ["outbox"],
  async deliver(message, context) {
    const dir = join(context.dataDir, "outbox", "messages");
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const created = new Date();
    const id = `${created.toISOString().replace(/[:.]/g, "-")}-${randomBytes(4).toString("hex")}`;
    const file = join(dir, `${id}.json`);
    const record = { id, created: created.toISOString(), channel: message.channel, ...(message.to === undefined ? {} : { to: message.to }), text: message.text, action: message.action };
    // wx: a new file, never through something already there; 0600: only the owner reads what the agent wrote.
    await writeFile(file, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600, flag: "wx" });
    return { id, note: `queued in ${file}; no channel delivers it yet` };
  },
};

export const messageTool = createMessageTool(outboxMessageSink);
