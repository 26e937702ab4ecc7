/** The agent runtime: the loop, sessions, the tools offered to the model, and model providers. */
export { Agent, DEFAULT_LIMITS, fenceUntrusted, repairedHistory, type AgentEvent, type AgentLimits, type AgentOptions, type IncomingMessage, type TurnResult, type TurnStop } from "./loop.ts";
export { SessionStore, SESSION_ID_PATTERN, assertSessionId, newSessionId, type SessionInfo, type StoredMessage, type StoredToolCall, type ToolCallRecord } from "./session-store.ts";
export { buildSystemPrompt, WORKSPACE_PROMPT_FILES } from "./system-prompt.ts";
export { modelToolSpecs, translateToolCall } from "./tools.ts";
export { splitCommandLine, ShellWordsError } from "./shell-words.ts";
export type * from "./providers/types.ts";
