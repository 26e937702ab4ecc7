/**
 * `aegisclaw run`: the daemon. The agent behind a local HTTP API (channels/http.ts):
 * loopback only unless told otherwise with TLS or a named tunnel, one bearer
 * token from the secret store, every tool call through the envelope, pending
 * approvals answerable over the API.
 *
 * Shutdown (SIGINT, SIGTERM): stop taking connections and messages, deny what
 * waits for approval, let turns in flight finish until the deadline, then
 * cancel them through their AbortSignal; every step is in the audit log
 * between `run.start` and `run.stop`. A second signal exits at once.
 * Messages are stored before they are acknowledged, so a crash (or kill -9)
 * loses nothing a client was told was accepted.
 */
import { readFileSync, statSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import type { Server } from "node:http";
import { isIP } from "node:net";
import { hostname as osHostname, networkInterfaces } from "node:os";
import { createAdaptorServer } from "@hono/node-server";
import type { Command } from "commander";
import { AegisError, EXIT, errorMessage } from "../errors.ts";
import { openAgent, type OpenedAgent } from "../agent/open.ts";
import type { TurnResult } from "../agent/loop.ts";
import { PendingApprovals } from "../approvals/pending.ts";
import { openAuditLog } from "../audit/open.ts";
import { openProfile } from "../config/profile.ts";
import { SecretStore } from "../secrets/store.ts";
import { existsQuiet, loadProfileIdentities, type PassphraseSource } from "../secrets/identity.ts";
import { createHttpApi, type TurnInfo } from "../channels/http.ts";
import {
  API_TOKEN_SECRET,
  AuthFailureAuditor,
  BearerToken,
  MIN_TOKEN_LENGTH,
  generateApiToken,
  hostWithPort,
  isLoopbackAddress,
  isWildcardAddress,
  type RequestOrigin,
} from "../channels/auth.ts";
import { VERSION, type Cli } from "./program.ts";
import { printable, println, style } from "./output.ts";

const PASSPHRASE_ENV = "AEGISCLAW_PASSPHRASE";

/** After the deadline turns are cancelled; this long more is given to them to notice. */
const CANCEL_GRACE_MS = 10_000;

interface RunOptions {
  port?: string;
  bind?: string;
  model?: string;
  tlsCert?: string;
  tlsKey?: string;
  behindTunnel?: string;
  allowHost?: string[];
  shutdownTimeout: string;
  initToken?: boolean;
  rotateToken?: boolean;
  json?: boolean;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function usage(message: string): AegisError {
  return new AegisError("USAGE", message, { exitCode: EXIT.usage });
}

/** A daemon has no terminal to ask on: a passphrase-protected identity is unlocked with $AEGISCLAW_PASSPHRASE. */
const envPassphrase: PassphraseSource = ({ file }) => {
  const value = process.env[PASSPHRASE_ENV];
  if (value !== undefined && value !== "") return Promise.resolve(value);
  return Promise.reject(new AegisError("KEY_INVALID", `${file} is protected by a passphrase; set ${PASSPHRASE_ENV} for \`aegisclaw run\` (e.g. from your password manager or a systemd credential).`));
};

// ---------------------------------------------------------------------------
// The token: made, stored and shown once

async function storeNewToken(home: string, rotate: boolean, json: boolean): Promise<number> {
  const profile = openProfile(home);
  const { paths } = profile;
  if (!existsQuiet(paths.secretsFile)) {
    throw new AegisError("PROFILE_MISSING", `The API token lives in the encrypted secret store, and ${paths.home} has none yet. Run \`aegisclaw secrets init\` first, then \`aegisclaw run --init-token\`.`);
  }
  const log = await openAuditLog(paths, { checkpointEvery: profile.config.audit.checkpoint_every });
  const action = rotate ? "secrets.rotate-token" : "secrets.init-token";
  try {
    const store = await SecretStore.open(paths, (await loadProfileIdentities(paths, { passphrase: envPassphrase })).identities);
    let token: string;
    let created: boolean;
    try {
      if (store.has(API_TOKEN_SECRET) && !rotate) {
        throw usage(`${API_TOKEN_SECRET} already exists; nothing was changed. To replace it (every client must then use the new one), run \`aegisclaw run --rotate-token\`.`);
      }
      token = generateApiToken();
      created = (await store.set(API_TOKEN_SECRET, token)).created;
    } catch (err) {
      await log.append({ kind: "system", actor: "cli", action, resource: `secret:${API_TOKEN_SECRET}`, decision: "error", detail: { error: err instanceof AegisError ? err.code : "INTERNAL" } }).catch(() => undefined);
      throw err;
    } finally {
      store.close();
    }
    // Durable before the token is shown.
    await log.append({ kind: "system", actor: "cli", action, resource: `secret:${API_TOKEN_SECRET}`, decision: "info", detail: { created, generated: true, bits: 256 } });
    if (json) {
      process.stdout.write(`${JSON.stringify({ name: API_TOKEN_SECRET, token, created, file: paths.secretsFile })}\n`);
    } else {
      process.stdout.write(`${token}\n`);
      process.stderr.write(
        `${style.green("✔")} ${API_TOKEN_SECRET} ${created ? "created" : "replaced"} (encrypted in ${paths.secretsFile}).\n` +
          "  It is shown this once; clients send it as \"Authorization: Bearer <token>\" — never in a URL.\n" +
          `  To see it again: aegisclaw secrets get ${API_TOKEN_SECRET} --reveal (audited).${rotate ? "\n  A running daemon keeps the old token until it is restarted." : ""}\n`,
      );
    }
    return EXIT.ok;
  } finally {
    await log.close();
  }
}

// ---------------------------------------------------------------------------
// Where to listen

interface Listen {
  readonly bind: string;
  readonly port: number;
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  readonly tunnel: string | undefined;
  readonly allowHosts: readonly string[];
  readonly warnings: readonly string[];
}

function readPemFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw usage(`${flag} ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}).`);
  }
}

function planListen(opts: RunOptions, config: { bind: string; port: number }): Listen {
  const port = opts.port === undefined ? config.port : Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || (opts.port !== undefined && !/^\d+$/.test(opts.port))) throw usage(`--port ${opts.port ?? ""}: use a port number from 1 to 65535, or 0 for any free port.`);
  // config.yaml's gateway.bind is loopback by schema; only an explicit --bind can be anything else.
  const bind = (opts.bind ?? config.bind).trim().replace(/^\[(.*)\]$/, "$1");
  if (bind !== "localhost" && isIP(bind) === 0) throw usage(`--bind ${bind}: give an IP address (127.0.0.1, ::1, or an interface's address), not a host name.`);
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) throw usage("--tls-cert and --tls-key go together: give the certificate (PEM) and its private key (PEM).");
  const tls = opts.tlsCert !== undefined && opts.tlsKey !== undefined ? { cert: readPemFile(opts.tlsCert, "--tls-cert"), key: readPemFile(opts.tlsKey, "--tls-key") } : undefined;
  const tunnel = opts.behindTunnel;
  if (tunnel !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(tunnel)) throw usage(`--behind-tunnel ${tunnel.slice(0, 80)}: name the tunnel (letters, digits, '.', '_', '-'), e.g. the cloudflared or Tailscale name that fronts this port.`);
  const allowHosts = opts.allowHost ?? [];
  for (const h of allowHosts) if (!/^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(h)) throw usage(`--allow-host ${h.slice(0, 80)}: give a host name or address, optionally with :PORT.`);
  const warnings: string[] = [];
  if (!isLoopbackAddress(bind)) {
    if (tls === undefined && tunnel === undefined) {
      throw usage(
        `Refusing to listen on ${bind}: that address is reachable from other machines, and the API runs tools on this one. ` +
          "Serve HTTPS (--tls-cert FILE --tls-key FILE), or say which tunnel fronts it (--behind-tunnel NAME) and firewall the port; " +
          "or keep the default, 127.0.0.1, and put an authenticating reverse proxy in front.",
      );
    }
    warnings.push(
      `the API listens on ${bind}, beyond this machine${tls !== undefined ? " (HTTPS)" : ` (plain HTTP: only the tunnel "${tunnel ?? ""}" should reach it — firewall the port)`}; every request still needs the token.`,
    );
  }
  if (tls !== undefined && opts.tlsKey !== undefined) {
    try {
      if ((statSync(opts.tlsKey).mode & 0o077) !== 0) warnings.push(`${opts.tlsKey} is readable by other users; chmod 600 it.`);
    } catch {
      // Read above; a race is not worth an error.
    }
  }
  return { bind, port, tls, tunnel, allowHosts, warnings };
}

/** The Host values the server answers to: its own address (every local one for a wildcard bind), loopback names, --allow-host. */
function allowedHosts(plan: Listen, port: number): Set<string> {
  const hosts = new Set<string>();
  const names = new Set<string>(["127.0.0.1", "localhost", "::1", plan.bind]);
  if (isWildcardAddress(plan.bind)) {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(a.address.replace(/%.*$/, ""));
    names.add(osHostname());
  }
  for (const n of names) hosts.add(hostWithPort(n, port));
  for (const h of plan.allowHosts) {
    const m = /^(.*?)(?::(\d{1,5}))?$/.exec(h.toLowerCase().replace(/^\[(.*)\](:\d+)?$/, "$1$2"));
    const name = m?.[1] ?? h;
    const p = m?.[2];
    // A name alone is accepted on this port and on the web defaults (a tunnel's public side).
    for (const each of p === undefined ? [port, 80, 443] : [Number(p)]) hosts.add(hostWithPort(name, each));
  }
  return hosts;
}

function urlFor(scheme: string, bind: string, port: number): string {
  const host = isWildcardAddress(bind) ? (bind.includes(":") ? "::1" : "127.0.0.1") : bind;
  return `${scheme}://${isIP(host) === 6 ? `[${host}]` : host}:${String(port)}`;
}

function listen(server: Server, port: number, bind: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off("listening", onListening);
      const where = `${bind}:${String(port)}`;
      if (err.code === "EADDRINUSE") reject(usage(`${where} is in use (another aegisclaw run?). Stop it, or choose another port with --port (0 picks a free one).`));
      else if (err.code === "EACCES") reject(usage(`not allowed to listen on ${where}; ports below 1024 need privileges — use a higher one.`));
      else if (err.code === "EADDRNOTAVAIL") reject(usage(`${bind} is not an address of this machine.`));
      else reject(new AegisError("USAGE", `cannot listen on ${where}: ${err.message}`));
    };
    const onListening = (): void => {
      server.off("error", onError);
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : port);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, bind);
  });
}

// ---------------------------------------------------------------------------
// Approvals: answered over the API; denied at once after shutdown began

function delay(ms: number): Promise<"timeout"> {
  return new Promise((resolve) => {
    setTimeout(() => {
      resolve("timeout");
    }, ms).unref();
  });
}

/** Resolves with the first signal; from then on a second one exits at once. */
function firstSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM"];
    const onSignal = (sig: NodeJS.Signals): void => {
      for (const s of signals) process.off(s, onSignal);
      for (const s of signals) {
        process.once(s, (again: NodeJS.Signals) => {
          process.stderr.write(`aegisclaw: ${again} again — exiting now without waiting (acknowledged messages are stored; the audit log stays valid)\n`);
          process.exit(again === "SIGINT" ? 130 : 143);
        });
      }
      resolve(sig);
    };
    for (const s of signals) process.on(s, onSignal);
  });
}

// ---------------------------------------------------------------------------
// The daemon

async function runDaemon(home: string, opts: RunOptions): Promise<number> {
  const json = opts.json === true;
  const shutdownSeconds = Number(opts.shutdownTimeout);
  if (!/^\d+$/.test(opts.shutdownTimeout) || shutdownSeconds > 3600) throw usage("--shutdown-timeout takes whole seconds, 0 to 3600.");
  const profile = openProfile(home);
  const plan = planListen(opts, profile.config.gateway);
  // Listen for signals before anything slow: a SIGTERM during start-up still shuts down cleanly.
  const stopping = firstSignal();

  const pending = new PendingApprovals();
  const opened: OpenedAgent = await openAgent(home, { approver: pending, passphrase: envPassphrase, ...(opts.model === undefined ? {} : { model: opts.model }) });
  const { runtime, agent, sessions } = opened;
  const say = (text: string): void => {
    if (!json) process.stderr.write(`${text}\n`);
  };
  const logError = (text: string): void => {
    process.stderr.write(`aegisclaw: ${printable(runtime.scrub(text))}\n`);
  };
  let server: Server | undefined;
  try {
    const secret = await runtime.runtimeSecret(API_TOKEN_SECRET);
    if (secret === undefined) {
      throw new AegisError(
        "SECRET_MISSING",
        `There is no API token (${API_TOKEN_SECRET}) in the secret store${existsQuiet(profile.paths.secretsFile) ? "" : " — and no secret store yet: run `aegisclaw secrets init` first"}. Create one with \`aegisclaw run --init-token\` (256 random bits, shown once), then start \`aegisclaw run\` again.`,
      );
    }
    const tokenText = secret.reveal();
    if (tokenText.length < MIN_TOKEN_LENGTH) {
      throw new AegisError("SECRET_MISSING", `${API_TOKEN_SECRET} is shorter than ${String(MIN_TOKEN_LENGTH)} characters, so it could be guessed. Replace it with a random one: aegisclaw run --rotate-token`);
    }
    const token = new BearerToken(tokenText);

    const scheme = plan.tls === undefined ? "http" : "https";
    let origin: RequestOrigin = { scheme, hosts: new Set() };
    let url = "";
    const cancelTurns = new AbortController();
    let accepting = true;
    const inFlight = new Set<Promise<unknown>>();
    const stats = { turns: 0, finished: 0, cancelled: 0, failed: 0 };

    const auth = new AuthFailureAuditor((s) => {
      runtime.audit
        // Paths are the client's to choose, so they can carry anything: scrubbed like any other text recorded.
        .append({ kind: "system", actor: "http", action: "api.auth-failed", resource: url, decision: "deny", detail: { ...s, paths: s.paths.map((p) => runtime.scrub(p)) } })
        .catch((err: unknown) => {
          logError(`could not record failed API requests in the audit log: ${errorMessage(err)}`);
        });
    });

    // A turn counts as in flight until its bookkeeping (the cancellation entry) is recorded too.
    const onTurn = (turn: Promise<TurnResult>, info: TurnInfo): void => {
      stats.turns++;
      const tracked: Promise<unknown> = turn
        .then(
          async (r) => {
            if (r.stopReason === "cancelled" && cancelTurns.signal.aborted) {
              stats.cancelled++;
              await runtime.audit.append({ kind: "system", actor: "system", action: "turn.cancelled", resource: `session:${info.session}`, decision: "info", detail: { reason: "shutdown deadline", label: info.label, item: info.item ?? null, modelCalls: r.modelCalls, toolCalls: r.toolCalls } });
            } else stats.finished++;
          },
          (err: unknown) => {
            stats.failed++;
            logError(`a turn in session ${info.session} failed: ${errorMessage(err)}`);
          },
        )
        .catch((err: unknown) => {
          logError(`could not record a cancelled turn: ${errorMessage(err)}`);
        })
        .finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    };

    const app = createHttpApi({
      agent,
      sessions,
      approvals: pending,
      modelRef: opened.modelRef,
      version: VERSION,
      token,
      origin: () => origin,
      turnSignal: cancelTurns.signal,
      accepting: () => accepting,
      onTurn,
      onAuthFailure: (f) => {
        auth.record(f);
      },
      onError: logError,
    });
    server = (
      plan.tls === undefined
        ? createAdaptorServer({ fetch: app.fetch })
        : createAdaptorServer({ fetch: app.fetch, createServer: createHttpsServer, serverOptions: { cert: plan.tls.cert, key: plan.tls.key, minVersion: "TLSv1.2" } })
    ) as Server;
    // Slow clients may not hold connections open forever; turns answered as JSON may take minutes, so no response timeout.
    server.headersTimeout = 20_000;
    server.requestTimeout = 60_000;
    const port = await listen(server, plan.port, plan.bind);
    origin = { scheme, hosts: allowedHosts(plan, port) };
    url = urlFor(scheme, plan.bind, port);
    const started = Date.now();
    await runtime.audit.append({
      kind: "system",
      actor: "system",
      action: "run.start",
      resource: url,
      decision: "info",
      detail: { bind: plan.bind, port, tls: plan.tls !== undefined, tunnel: plan.tunnel ?? null, allowHosts: plan.allowHosts, model: opened.modelRef, pid: process.pid, version: VERSION },
    });
    for (const w of plan.warnings) process.stderr.write(`${style.yellow("warning:")} ${w}\n`);
    if (json) process.stdout.write(`${JSON.stringify({ event: "listening", url, port, bind: plan.bind, tls: plan.tls !== undefined, model: opened.modelRef, pid: process.pid })}\n`);
    else {
      println(`AegisClaw API listening on ${url}`);
      say(style.dim(`  model ${opened.modelRef}; token: the secret ${API_TOKEN_SECRET} (Authorization: Bearer …); Ctrl-C stops (waits up to ${String(shutdownSeconds)} s for turns in flight)`));
    }

    const signal = await stopping;
    // 1. Take nothing new: no connections, no messages; approvals still waiting are denied, new ones too.
    accepting = false;
    const listening = server;
    const closed = new Promise<void>((resolve) => listening.close(() => {
      resolve();
    }));
    listening.closeIdleConnections();
    const approvalsDenied = pending.list().length;
    pending.close("the daemon is shutting down");
    const atStop = inFlight.size;
    if (json) process.stdout.write(`${JSON.stringify({ event: "stopping", signal, inFlight: atStop, approvalsDenied, deadlineS: shutdownSeconds })}\n`);
    say(`aegisclaw: ${signal}: stopping${atStop > 0 ? `, waiting up to ${String(shutdownSeconds)} s for ${String(atStop)} turn(s) in flight` : ""}${approvalsDenied > 0 ? `; ${String(approvalsDenied)} pending approval(s) denied` : ""} (${signal} again exits at once)`);
    // 2. Let turns in flight finish, until the deadline; then cancel them and give them a moment to notice.
    const settled = (): Promise<unknown> => Promise.allSettled([...inFlight]);
    let forced = false;
    if (inFlight.size > 0 && (await Promise.race([settled(), delay(shutdownSeconds * 1000)])) === "timeout") {
      say(`aegisclaw: cancelling ${String(inFlight.size)} turn(s) still running`);
      cancelTurns.abort();
      if ((await Promise.race([settled(), delay(CANCEL_GRACE_MS)])) === "timeout") forced = true;
    }
    await Promise.race([agent.idle(), delay(forced ? 0 : CANCEL_GRACE_MS)]);
    // 3. Record the stop, close everything.
    auth.flush();
    const summary = { signal, uptimeS: Math.round((Date.now() - started) / 1000), turns: { ...stats, inFlightAtStop: atStop, unfinished: inFlight.size }, approvalsDenied, cancelled: cancelTurns.signal.aborted, forced };
    await runtime.audit.append({ kind: "system", actor: "system", action: "run.stop", resource: url, decision: "info", detail: summary });
    listening.closeAllConnections();
    await closed;
    const done = await Promise.race([opened.close().then(() => "closed" as const), delay(CANCEL_GRACE_MS)]);
    server = undefined;
    if (json) process.stdout.write(`${JSON.stringify({ event: "stopped", ...summary })}\n`);
    else say(`aegisclaw: stopped (${String(stats.finished)} turn(s) finished, ${String(stats.cancelled)} cancelled)`);
    if (done === "timeout") {
      process.stderr.write("aegisclaw: a turn did not stop in time; exiting without waiting for it\n");
      return EXIT.error;
    }
    return EXIT.ok;
  } catch (err) {
    if (server !== undefined) {
      server.closeAllConnections();
      server.close();
    }
    await opened.close().catch(() => undefined);
    throw err;
  }
}

export function registerRun(program: Command, cli: Cli): void {
  program
    .command("run")
    .description("the daemon: the agent behind a local HTTP API (loopback only, bearer token, every tool call through the envelope)")
    .option("--port <n>", "port to listen on (default: config.yaml gateway.port, 18789); 0 picks a free one")
    .option("--bind <address>", "address to listen on (default: config.yaml gateway.bind, 127.0.0.1); any other than loopback needs --tls-cert/--tls-key or --behind-tunnel")
    .option("--model <provider/model>", "the model (default: config.yaml agent.model)")
    .option("--tls-cert <file>", "serve HTTPS with this certificate (PEM)")
    .option("--tls-key <file>", "the certificate's private key (PEM)")
    .option("--behind-tunnel <name>", "a non-loopback --bind is reached only through this named tunnel (plain HTTP; firewall the port)")
    .option("--allow-host <host[:port]>", "also accept this Host header (a tunnel's public name); repeatable", collect)
    .option("--shutdown-timeout <seconds>", "on SIGINT/SIGTERM, wait this long for turns in flight before cancelling them", "30")
    .option("--init-token", `create the API token (${API_TOKEN_SECRET}, 256 random bits) in the secret store, print it once, and exit`)
    .option("--rotate-token", "replace the API token with a new one, print it once, and exit")
    .option("--json", 'print one JSON line per event: {"event":"listening","url",…} on start, {"event":"stopped",…} on stop')
    .addHelpText(
      "after",
      `
Endpoints (all but /health need "Authorization: Bearer <token>"; see docs/http-api.md):
  GET  /health                       {ok, version}
  GET  /api/sessions                 sessions, most recent first
  POST /api/sessions                 a new session id
  GET  /api/sessions/:id             messages (with provenance labels) and tool calls (with decisions)
  POST /api/sessions/:id/messages    {text} from you (trusted:owner); Accept: text/event-stream streams events
  POST /inbound                      {source: email|chat|web|webhook, from?, subject?, body, session?, id?}
                                     stored as untrusted:<source>; 202 once stored, the turn runs in the background
  GET  /api/approvals                pending approvals
  POST /api/approvals/:id            {approve: true|false, note?}

Tokens are never accepted in a URL. Set up once:
  aegisclaw secrets init && aegisclaw run --init-token
Then:
  aegisclaw run --port 0 --json`,
    )
    .action(
      cli.action(async (opts: RunOptions, cmd: Command) => {
        const home = cli.home(cmd);
        if (opts.initToken === true && opts.rotateToken === true) throw usage("--init-token or --rotate-token, not both.");
        if (opts.initToken === true || opts.rotateToken === true) return storeNewToken(home, opts.rotateToken === true, opts.json === true);
        return runDaemon(home, opts);
      }),
    );
}
