/** The scripted provider: turns from a file, in order, clearly not a model. */
import assert from "node:assert/strict";
import { symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { createScriptedProvider, loadScript, parseScript, parseTurns } from "../../../src/agent/providers/scripted.ts";
import type { ModelRequest } from "../../../src/agent/providers/types.ts";
import { AegisError } from "../../../src/errors.ts";
import { isAegis } from "../../helpers/errors.ts";
import { tempDir } from "../../helpers/tmp.ts";

const SCRIPT = `# A scripted "model": not a real model.
turns:
  - text: "Let me read the inbox."
    tool_calls:
      - name: read
        input: { path: inbox/0001.eml }
  - text: "Done."
`;

function request(extra: Partial<ModelRequest> = {}): ModelRequest {
  return { model: "demo", system: "", messages: [{ role: "user", text: "go" }], tools: [], maxOutputTokens: 100, ...extra };
}

test("scripted: answers the turns in order, streaming the text through onTextDelta", async () => {
  const provider = createScriptedProvider({ turns: parseScript(SCRIPT, "demo.yaml"), source: "demo.yaml", model: "demo" });
  const deltas: string[] = [];
  const first = await provider.complete(request({ onTextDelta: (d) => deltas.push(d) }));
  assert.equal(first.text, "Let me read the inbox.");
  assert.ok(deltas.length > 1);
  assert.equal(deltas.join(""), first.text);
  assert.deepEqual(first.toolCalls, [{ id: "call_0_0", name: "read", input: { path: "inbox/0001.eml" } }]);
  assert.equal(first.stopReason, "tool_use");
  assert.equal(first.model, "demo");
  const second = await provider.complete(request());
  assert.equal(second.text, "Done.");
  assert.deepEqual(second.toolCalls, []);
  assert.equal(second.stopReason, "end_turn");
});

test("scripted: says plainly in its label that it is scripted and not a model", () => {
  const provider = createScriptedProvider({ turns: [], source: "/profile/scripts/demo.yaml", model: "demo" });
  assert.equal(provider.scripted, true);
  assert.equal(provider.name, "scripted");
  assert.equal(provider.label, "scripted turns from /profile/scripts/demo.yaml (not a model)");
});

test("scripted: once the script is used up it says so, with end_turn, every time", async () => {
  const provider = createScriptedProvider({ turns: parseTurns([{ text: "Only turn." }]), source: "one.yaml", model: "one" });
  await provider.complete(request());
  for (let i = 0; i < 2; i++) {
    const deltas: string[] = [];
    const res = await provider.complete(request({ onTextDelta: (d) => deltas.push(d) }));
    assert.match(res.text, /script one\.yaml has ended/);
    assert.match(res.text, /not a model/);
    assert.equal(deltas.join(""), res.text);
    assert.equal(res.stopReason, "end_turn");
    assert.deepEqual(res.toolCalls, []);
  }
});

test("scripted: raw_input that is not JSON becomes inputError; ids, stop reasons and usage can be scripted", async () => {
  const turns = parseTurns([
    { tool_calls: [{ name: "read", raw_input: '{"path": ' }, { id: "mine", name: "read", raw_input: '{"path": "x"}' }], stop_reason: "max_tokens", usage: { input_tokens: 7, output_tokens: 3 } },
  ]);
  const provider = createScriptedProvider({ turns, source: "s", model: "s" });
  const res = await provider.complete(request());
  assert.equal(res.toolCalls[0]?.input, undefined);
  assert.match(res.toolCalls[0]?.inputError ?? "", /JSON|Unexpected/i);
  assert.deepEqual(res.toolCalls[1], { id: "mine", name: "read", input: { path: "x" } });
  assert.equal(res.stopReason, "max_tokens");
  assert.deepEqual(res.usage, { inputTokens: 7, outputTokens: 3 });
});

test("scripted: an aborted request is refused without using a turn", async () => {
  const provider = createScriptedProvider({ turns: parseTurns([{ text: "kept" }]), source: "s", model: "s" });
  await assert.rejects(provider.complete(request({ signal: AbortSignal.abort() })), isAegis("MODEL_ERROR", /cancelled/));
  assert.equal((await provider.complete(request())).text, "kept");
});

test("scripted: a YAML syntax error names the file and the line", () => {
  assert.throws(() => parseScript("turns:\n  - text: [unclosed\n", "broken.yaml"), isAegis("CONFIG_INVALID", /broken\.yaml:\d+/));
});

test("scripted: a misspelt field names the file, the line and the field", () => {
  const text = "turns:\n  - text: hi\n  - text: there\n    tool_call:\n      - name: read\n";
  assert.throws(() => parseScript(text, "typo.yaml"), (err: unknown) => {
    assert.ok(err instanceof AegisError && err.code === "CONFIG_INVALID");
    // The shared YAML helper points at the key or its value (lines 4-5).
    assert.match(err.message, /typo\.yaml:[45]: turns\[1\]/);
    assert.match(err.message, /tool_call/);
    return true;
  });
});

test("scripted: a tool call with both input and raw_input is refused", () => {
  assert.throws(() => parseScript('turns:\n  - tool_calls:\n      - { name: read, input: {}, raw_input: "{}" }\n', "both.yaml"), isAegis("CONFIG_INVALID", /not both/));
});

test("scripted: a file without turns is refused", () => {
  assert.throws(() => parseScript("hello: world\n", "nope.yaml"), isAegis("CONFIG_INVALID", /nope\.yaml/));
});

test("scripted: parseTurns reports bad turns given as values", () => {
  assert.throws(() => parseTurns([{ text: 5 }], "test turns"), isAegis("CONFIG_INVALID", /test turns: turns\[0\]\.text/));
});

test("scripted: loadScript reads JSON as well as YAML", (t) => {
  const dir = tempDir(t);
  const file = join(dir, "j.yaml");
  writeFileSync(file, JSON.stringify({ turns: [{ text: "from json" }] }));
  assert.equal(loadScript(file)[0]?.text, "from json");
});

test("scripted: a missing script file is CONFIG_INVALID naming the path", (t) => {
  const dir = tempDir(t);
  const file = join(dir, "absent.yaml");
  assert.throws(() => loadScript(file), isAegis("CONFIG_INVALID", new RegExp(`no script ${file.replace(/[.]/g, "\\.")}`)));
});

test("scripted: a script that is a symbolic link is refused", (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, "real.yaml"), SCRIPT);
  symlinkSync(join(dir, "real.yaml"), join(dir, "link.yaml"));
  assert.throws(() => loadScript(join(dir, "link.yaml")), isAegis("CONFIG_INVALID", /symbolic link/));
});
