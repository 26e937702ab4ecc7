/** The built-in tools. Adapters register these with an Envelope; they are never called directly. */
import { emailSendTool } from "./email.ts";
import { filesEditTool, filesReadTool, filesWriteTool } from "./files.ts";
import { messageTool } from "./message.ts";
import { shellExecTool } from "./shell.ts";
import { webFetchTool } from "./web-fetch.ts";

export { emailSendTool, filesEditTool, filesReadTool, filesWriteTool, messageTool, shellExecTool, webFetchTool };
export { MAX_FILE_BYTES } from "./files.ts";
export { createMessageTool, outboxMessageSink, MAX_MESSAGE_CHARS, type Delivery, type DeliveryContext, type MessageSink, type OutboundMessage } from "./message.ts";
export { createWebFetchTool, htmlToText, DEFAULT_MAX_CHARS, MAX_DOWNLOAD_BYTES, MAX_REDIRECTS, MAX_URL_CHARS, type WebFetchOptions } from "./web-fetch.ts";

/** Registered by default: files, e-mail to the outbox, commands (sandboxed), web fetches through a per-call egress proxy, messages to the outbox. */
export const BUILTIN_TOOLS = [filesReadTool, filesWriteTool, filesEditTool, emailSendTool, shellExecTool, webFetchTool, messageTool] as const;
