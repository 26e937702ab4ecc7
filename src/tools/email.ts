/**
 * email.send: compose an RFC 5322 message and put it in the profile's outbox
 * (`<profile>/outbox/*.eml`). No transport is configured in this build; a
 * channel or SMTP relay delivers from the outbox. Recipients are parsed with
 * the same strict parser the policy uses, so what policy approved is what the
 * message is addressed to.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { parseAddressList } from "../policy/addresses.ts";
import { defineTool } from "../envelope/tool.ts";

const Recipients = z.union([z.string().min(3), z.array(z.string().min(3)).min(1)]).refine(
  (v) => {
    try {
      return parseAddressList(v).length > 0;
    } catch {
      return false;
    }
  },
  { message: "not a list of plain local@domain addresses" },
);
// C0, DEL, C1 (NEL) and the Unicode line/paragraph separators: some mail software breaks header lines on each.
// eslint-disable-next-line no-control-regex
const NoControl = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$/;

const SendArgs = z
  .object({
    to: Recipients,
    cc: Recipients.optional(),
    bcc: Recipients.optional(),
    subject: z.string().max(998).regex(NoControl, "the subject must be one line without control characters"),
    body: z.string().max(1024 * 1024),
  })
  .strict();

export const emailSendTool = defineTool<z.infer<typeof SendArgs>>({
  name: "email.send",
  description: "Send an e-mail (queued in the local outbox).",
  risk: "high",
  args: SendArgs,
  argRoles: { recipients: ["to", "cc", "bcc"], urls: [], paths: [] },
  spawnsProcess: false,
  scopes() {
    return ["email.send"];
  },
  async run(args, ctx) {
    const list = (v: string | string[] | undefined): string => (v === undefined ? "" : parseAddressList(v).map((a) => a.address).join(", "));
    const headers = [`To: ${list(args.to)}`];
    if (args.cc !== undefined) headers.push(`Cc: ${list(args.cc)}`);
    if (args.bcc !== undefined) headers.push(`Bcc: ${list(args.bcc)}`);
    headers.push(`Subject: ${args.subject}`, `Date: ${new Date().toUTCString()}`, "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8");
    const outbox = join(ctx.dataDir, "outbox");
    await mkdir(outbox, { recursive: true, mode: 0o700 });
    const file = join(outbox, `${new Date().toISOString().replace(/[:.]/g, "-")}-${Math.random().toString(16).slice(2, 10)}.eml`);
    await writeFile(file, `${headers.join("\r\n")}\r\n\r\n${args.body.replace(/\r?\n/g, "\r\n")}\r\n`, { mode: 0o600, flag: "wx" });
    return { text: `queued for ${list(args.to)} in ${file}` };
  },
});
