/**
 * The structured logger every part of AegisClaw uses: pino, one JSON object
 * per line, on stderr unless told otherwise (stdout carries command output and
 * is refused). Three layers keep secrets out, each for what the others miss:
 *
 * 1. Field names: any field called like a credential (`password`,
 *    `apiKey`, `Authorization`, `GITHUB_TOKEN`, `env`, …) is `[REDACTED]` at
 *    any depth, in log calls, child bindings, errors' own fields and objects
 *    interpolated into the message (`./redact-keys.ts`). A `Secret` is
 *    `[REDACTED]` wherever it appears (its `toJSON`).
 * 2. Extra pino `redact` paths for fields that key names cannot catch.
 * 3. `scrub`: the runtime's function over each finished line, which removes
 *    known secret values (raw and encoded) and detected credentials wherever
 *    they are — in the message, in an error's message or stack, in any value.
 *
 * A record is one line whatever it contains: pino escapes control characters
 * in every string, and line separators (U+2028/U+2029) and any line break the
 * scrub function introduces are escaped too, so a message cannot forge a
 * record. If scrubbing fails, the record is withheld, never written unscrubbed.
 */
import { constants, fstatSync, closeSync, openSync } from "node:fs";
import { resolve } from "node:path";
import { pino, type Bindings, type ChildLoggerOptions, type DestinationStream, type LevelWithSilent, type Logger as PinoLogger, type LoggerOptions as PinoOptions } from "pino";
import { AegisError, EXIT } from "../errors.ts";
import { REDACTED } from "../secrets/secret.ts";
import { redactLogFields, redactSecretKeys } from "./redact-keys.ts";

export type Logger = PinoLogger;
export type LogLevel = LevelWithSilent;

/** Where log lines go: a stream, an open file descriptor, or a file path (created 0600, appended to). */
export type LogDestination = DestinationStream | NodeJS.WritableStream | number | string;

export interface LoggerOptions {
  /** Least severe level written. Default `info`. */
  readonly level?: LogLevel;
  /** Default: standard error. Standard output (fd 1) is refused: it carries command output. */
  readonly destination?: LogDestination;
  /**
   * Applied to every serialised line (one JSON object, without its newline)
   * before it is written; the runtime passes one that removes known secret
   * values and detected credentials. It sees JSON text, so a value with
   * quotes, backslashes or control characters appears JSON-escaped — the
   * scrub must look for that form too. If it throws, the line is withheld.
   */
  readonly scrub?: (line: string) => string;
  /** Extra pino `redact` paths (e.g. `request.body`), censored as `[REDACTED]`. */
  readonly redactPaths?: readonly string[];
}

const STDOUT_FD = 1;
const STDERR_FD = 2;
const STDOUT_PATHS = new Set(["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]);

function refuseStdout(): never {
  throw new AegisError("CONFIG_INVALID", "Logs cannot go to standard output: it carries command output. Leave the log destination unset for standard error, or give a file path.");
}

/** Opens a log file for appending: created 0600, never through a symbolic link, refused when others can read it. */
function openLogFile(path: string): number {
  const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new AegisError("CONFIG_INVALID", `Log file ${path} is not a regular file.`);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) {
      throw new AegisError("PROFILE_INSECURE", `Refusing to log to ${path}: it is owned by uid ${st.uid}, not you (uid ${uid}). Fix with: chown ${uid} ${JSON.stringify(path)}`, { exitCode: EXIT.insecure });
    }
    if ((st.mode & 0o077) !== 0) {
      throw new AegisError("PROFILE_INSECURE", `Refusing to log to ${path} (mode ${(st.mode & 0o777).toString(8).padStart(3, "0")}): the group or others can access it. Fix with: chmod 600 ${JSON.stringify(path)}`, {
        exitCode: EXIT.insecure,
      });
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

function openDestination(destination: LogDestination | undefined): DestinationStream | NodeJS.WritableStream {
  if (destination === undefined) return pino.destination({ dest: STDERR_FD, sync: true });
  if (typeof destination === "number") {
    if (destination === STDOUT_FD) refuseStdout();
    return pino.destination({ dest: destination, sync: true });
  }
  if (typeof destination === "string") {
    if (STDOUT_PATHS.has(resolve(destination))) refuseStdout();
    return pino.destination({ fd: openLogFile(destination), sync: true });
  }
  if ((destination as { fd?: unknown }).fd === STDOUT_FD) refuseStdout();
  return destination;
}

// U+2028/U+2029 are legal raw in JSON strings, but some viewers break lines on them.
const LINE_SEPARATORS = /[\u2028\u2029]/g;
// A scrub function's replacement might contain a line break; escaped, the record stays one line.
const LINE_BREAKS = /[\n\r\u2028\u2029]/g;

function escapeLineBreak(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

function withheldLine(): string {
  return `{"level":50,"time":${Date.now()},"msg":"log record withheld: scrubbing it failed"}\n`;
}

function lineWriter(scrub: ((line: string) => string) | undefined): (line: string) => string {
  if (scrub === undefined) return (line) => line.replace(LINE_SEPARATORS, escapeLineBreak);
  return (line) => {
    const body = line.endsWith("\n") ? line.slice(0, -1) : line;
    let scrubbed: unknown;
    try {
      scrubbed = scrub(body);
    } catch {
      return withheldLine();
    }
    if (typeof scrubbed !== "string") return withheldLine();
    return `${scrubbed.replace(LINE_BREAKS, escapeLineBreak)}\n`;
  };
}

/** Interpolation arguments (`log.info("got %o", obj)`) get the same key redaction as fields; errors keep their `%s` form. */
function redactArgument(argument: unknown): unknown {
  return typeof argument === "object" && argument !== null && !(argument instanceof Error) ? redactSecretKeys(argument) : argument;
}

/**
 * A pino logger with the redaction described at the top of this file. Writes
 * are synchronous, so a record logged just before a crash or exit is written.
 * Children (`log.child({ component })`) keep every layer.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const redactPaths = options.redactPaths ?? [];
  const pinoOptions: PinoOptions = {
    level: options.level ?? "info",
    formatters: {
      log: redactLogFields,
      bindings: redactLogFields,
    },
    // The formatters already turned errors into redacted plain objects; pino's own serializer would re-wrap them.
    serializers: { err: (value: unknown) => (value instanceof Error ? redactSecretKeys(value) : value) },
    hooks: {
      logMethod(args, method) {
        if (args.length < 2) {
          method.apply(this, args);
          return;
        }
        const [first, ...rest] = args;
        method.apply(this, [first, ...rest.map(redactArgument)] as Parameters<typeof method>);
      },
      streamWrite: lineWriter(options.scrub),
    },
    ...(redactPaths.length > 0 ? { redact: { paths: [...redactPaths], censor: REDACTED } } : {}),
  };
  return redactChildBindings(pino(pinoOptions, openDestination(options.destination)));
}

/**
 * pino applies `formatters.bindings` only to the root's own bindings: a
 * child's bindings (`log.child({ token })`), `setBindings`, and a child's own
 * `formatters` bypass it. So the root gets its own `child` and `setBindings`
 * that redact first; children are created from their parent's prototype
 * chain, so grandchildren inherit both.
 */
type ChildFn = (this: Logger, bindings: Bindings, options?: ChildLoggerOptions) => Logger;
type SetBindingsFn = (this: Logger, bindings: Bindings) => void;

function redactChildBindings(logger: Logger): Logger {
  const child = Reflect.get<object, "child">(logger, "child") as ChildFn;
  const setBindings = Reflect.get<object, "setBindings">(logger, "setBindings") as SetBindingsFn;
  Object.defineProperty(logger, "child", {
    value: function redactedChild(this: Logger, bindings: Bindings, childOptions?: ChildLoggerOptions): Logger {
      return child.call(this, redactLogFields(bindings), childOptions === undefined ? undefined : keepRedactingFormatters(childOptions));
    },
  });
  Object.defineProperty(logger, "setBindings", {
    value: function redactedSetBindings(this: Logger, bindings: Bindings): void {
      setBindings.call(this, redactLogFields(bindings));
    },
  });
  return logger;
}

/** A child's own `formatters.log` / `formatters.bindings` replace the parent's in pino; run the redaction after them. */
function keepRedactingFormatters(childOptions: ChildLoggerOptions): ChildLoggerOptions {
  const formatters = childOptions.formatters;
  if (formatters === undefined) return childOptions;
  const { log, bindings } = formatters;
  return {
    ...childOptions,
    formatters: {
      ...formatters,
      ...(log === undefined ? {} : { log: (fields: object) => redactLogFields(log(fields)) }),
      ...(bindings === undefined ? {} : { bindings: (fields: Bindings) => redactLogFields(bindings(fields)) }),
    },
  };
}
