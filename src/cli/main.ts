#!/usr/bin/env node
/**
 * The `aegisclaw` executable. Kept tiny: it checks the Node version before
 * loading anything that needs a newer one, then runs the command tree.
 */
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(`aegisclaw: Node.js ${process.versions.node} is too old; AegisClaw needs Node.js >= 22.13 (24 LTS recommended). In a source checkout, ./setup installs Node 24 locally.\n`);
  process.exit(1);
}

// Everything AegisClaw creates (profile files, exports, outbox) is private to the user.
process.umask(0o077);

// `aegisclaw … | head`: a reader that stops early is not an error. Exit quietly instead of crashing on EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const { run } = await import("./program.ts");
process.exitCode = await run(process.argv);
