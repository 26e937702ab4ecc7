export * from "./action.ts";
export * from "./tool.ts";
export * from "./stages.ts";
export * from "./judge.ts";
export { Envelope, type EnvelopeOptions, type EnvelopeResult, type Outcome, type StageTimings } from "./envelope.ts";
export * from "./local-executor.ts";
