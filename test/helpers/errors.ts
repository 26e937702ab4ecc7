/** assert.rejects/throws predicate: an AegisError with this code (and message). */
import assert from "node:assert/strict";
import { AegisError, type ErrorCode } from "../../src/errors.ts";

export const isAegis =
  (code: ErrorCode, message?: RegExp) =>
  (err: unknown): boolean => {
    assert.ok(err instanceof AegisError, `expected an AegisError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
