/**
 * Telemetry: the structured logger (pino) with secret redaction. OpenTelemetry
 * tracing and metrics come later, behind the same folder.
 */
export { createLogger, type LogDestination, type LogLevel, type Logger, type LoggerOptions } from "./logger.ts";
export { CIRCULAR, MAX_REDACTION_DEPTH, TRUNCATED, UNSERIALIZABLE, isSecretKey, redactLogFields, redactSecretKeys } from "./redact-keys.ts";
