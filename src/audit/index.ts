export * from "./entry.ts";
export * from "./merkle.ts";
export * from "./checkpoint.ts";
export * from "./store.ts";
export * from "./sqlite-store.ts";
export * from "./log.ts";
export * from "./verify.ts";
export * from "./open.ts";
