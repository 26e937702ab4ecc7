export * from "./action.ts";
export * from "./tool.ts";
export * from "./stages.ts";
export * from "./envelope.ts";
export * from "./local-executor.ts";
