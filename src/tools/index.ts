/** The built-in tools. Adapters register these with an Envelope; they are never called directly. */
import { emailSendTool } from "./email.ts";
import { filesReadTool } from "./files.ts";
import { shellExecTool } from "./shell.ts";

export { emailSendTool, filesReadTool, shellExecTool };
export const BUILTIN_TOOLS = [filesReadTool, emailSendTool, shellExecTool] as const;
