/**
 * The bridge runs inside the sandbox, whose network namespace has only
 * loopback. It listens on 127.0.0.1:PORT and forwards every TCP connection,
 * byte for byte, to the egress proxy's UNIX socket (bind-mounted from the
 * host); then it runs the tool with the proxy variables pointing at itself:
 *
 *   node bridge.js --socket /run/aegisclaw/egress.sock --port 3128 -- CMD ARGS…
 *
 * `--port 0` picks a free port; the variables carry the one chosen. The tool
 * gets HTTP_PROXY, HTTPS_PROXY, ALL_PROXY (and their lower-case forms) set to
 * http://127.0.0.1:PORT, NO_PROXY and no_proxy set empty (nothing bypasses
 * the proxy; there is nowhere else to go anyway), and AEGISCLAW_EGRESS_PROXY.
 * The bridge passes SIGTERM, SIGINT, SIGHUP and SIGQUIT on to the tool and
 * exits with the tool's status, or 128 + the signal number if it was killed.
 * Its own failures exit 125 (bad arguments, no socket, cannot listen), 126
 * (the command cannot be executed) or 127 (the command was not found).
 *
 * Only the Node binary and this one file are mounted in the sandbox, so it
 * imports nothing but node: builtins. It makes no decisions: every judgement
 * is the proxy's, on the host side.
 */
import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { createConnection, createServer, type AddressInfo, type Socket } from "node:net";
import { constants } from "node:os";

const EXIT_BRIDGE_FAILED = 125;

function fail(message: string, code = EXIT_BRIDGE_FAILED): never {
  process.stderr.write(`aegisclaw-bridge: ${message}\n`);
  process.exit(code);
}

interface BridgeArgs {
  readonly socket: string;
  readonly port: number;
  readonly command: readonly string[];
}

function parseArgs(argv: readonly string[]): BridgeArgs {
  let socket: string | undefined;
  let port = 0;
  let i = 0;
  for (; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "--") break;
    const value = argv[i + 1];
    if (arg === "--socket" && value !== undefined) {
      socket = value;
      i += 1;
    } else if (arg === "--port" && value !== undefined) {
      if (!/^[0-9]{1,5}$/.test(value) || Number(value) > 65535) fail(`--port must be 0 to 65535, got ${JSON.stringify(value)}`);
      port = Number(value);
      i += 1;
    } else {
      fail(`unexpected argument ${JSON.stringify(arg)}; usage: bridge --socket PATH [--port N] -- CMD [ARGS…]`);
    }
  }
  const command = argv.slice(i + 1);
  if (socket === undefined) fail("--socket PATH is required (the egress proxy's UNIX socket)");
  if (i >= argv.length || command.length === 0) fail("no command given; usage: bridge --socket PATH [--port N] -- CMD [ARGS…]");
  return { socket, port, command };
}

function forward(client: Socket, socketPath: string): void {
  client.setNoDelay(true);
  const upstream = createConnection({ path: socketPath, allowHalfOpen: true });
  const abort = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", abort);
  upstream.on("error", abort);
  client.once("close", () => upstream.destroy());
  upstream.once("close", () => {
    if (!client.writableEnded) client.end();
  });
  client.pipe(upstream);
  upstream.pipe(client);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  try {
    if (!statSync(args.socket).isSocket()) fail(`${args.socket} is not a socket; is the egress proxy running and mounted here?`);
  } catch (err) {
    fail(`cannot reach the egress socket ${args.socket}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    forward(client, args.socket);
  });
  await new Promise<void>((resolve) => {
    server.once("error", (err) => {
      fail(`cannot listen on 127.0.0.1:${String(args.port)}: ${err.message}`);
    });
    server.listen({ host: "127.0.0.1", port: args.port }, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${String(port)}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    ALL_PROXY: url,
    http_proxy: url,
    https_proxy: url,
    all_proxy: url,
    NO_PROXY: "",
    no_proxy: "",
    AEGISCLAW_EGRESS_PROXY: url,
  };
  const [file, ...rest] = args.command;
  if (file === undefined) fail("no command given");
  const child = spawn(file, rest, { env, stdio: "inherit" });
  const signals: NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT"];
  for (const signal of signals) {
    process.on(signal, () => {
      child.kill(signal);
    });
  }
  child.once("error", (err: NodeJS.ErrnoException) => {
    fail(`cannot run ${JSON.stringify(file)}: ${err.message}`, err.code === "ENOENT" ? 127 : 126);
  });
  child.once("exit", (code, signal) => {
    server.close();
    const status = code ?? (signal === null ? EXIT_BRIDGE_FAILED : 128 + constants.signals[signal]);
    process.exit(status);
  });
}

main().catch((err: unknown) => {
  fail(err instanceof Error ? err.message : String(err));
});
