// Child processes of the run: the ghl-subgraph binary. Each is started on 127.0.0.1:0, read
// for the address it prints, and stopped by its PID (never by name: other programs share the machine).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

const running = new Set();

// If this process dies before its cleanup (a crash, a closed stdout pipe), take the children along.
process.on('exit', () => {
  for (const proc of running) proc.kill();
});

/**
 * Starts `ghl-subgraph serve` on the embedded sandbox and waits for its banner.
 * Resolves to `{ url, graphqlUrl, sandboxUrl, pid, stop() }`.
 */
export async function startSubgraph({ bin, cwd, timeoutMs = 60_000 }) {
  const binary = path.resolve(cwd, bin);
  if (!existsSync(binary)) {
    throw new Error(`no subgraph binary at ${binary}: run \`cargo build --bin ghl-subgraph\` or set GHL_SUBGRAPH_BIN`);
  }
  // These checks count GHL calls per gateway request, so the shared cache is off (`--cache-ttl 0s`).
  const child = spawn(binary, ['serve', '--listen', '127.0.0.1:0', '--cache-ttl', '0s'], {
    cwd,
    env: subgraphEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = track(child, 'ghl-subgraph');

  const stderr = [];
  readline.createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 50) stderr.shift();
  });

  const banner = await new Promise((resolve, reject) => {
    const found = {};
    const timer = setTimeout(() => fail(`no banner within ${timeoutMs} ms`), timeoutMs);
    const lines = readline.createInterface({ input: child.stdout });
    function fail(why) {
      clearTimeout(timer);
      reject(new Error(`ghl-subgraph did not start: ${why}\n${stderr.join('\n')}`));
    }
    lines.on('line', (line) => {
      const listening = line.match(/^ghl-subgraph listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (listening) found.url = listening[1];
      const sandbox = line.match(/Running on the embedded GHL sandbox at (http:\/\/127\.0\.0\.1:\d+)/);
      if (sandbox) found.sandboxUrl = sandbox[1];
      if (found.url && found.sandboxUrl) {
        clearTimeout(timer);
        resolve(found);
      }
    });
    child.once('exit', (code, signal) => fail(`exited early (code ${code}, signal ${signal})`));
    child.once('error', (err) => fail(err.message));
  });

  return { ...banner, graphqlUrl: `${banner.url}/graphql`, pid: child.pid, stop: proc.stop };
}

/** Stops every child process still running (the run's `finally`). */
export async function stopAll() {
  await Promise.all([...running].map((proc) => proc.stop()));
}

// The parent's environment minus everything the subgraph reads as configuration, so a developer's
// GHL_TOKEN (or LISTEN_ADDR) never points the run at real GHL or a fixed port.
function subgraphEnv() {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(GHL_|SANDBOX_|GRAPHQL_|LISTEN_ADDR$)/.test(key)) env[key] = value;
  }
  env.RUST_LOG = 'warn';
  return env;
}

function track(child, name) {
  let exited = child.exitCode !== null;
  const exit = new Promise((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  const proc = {
    /** Signals the child now, without waiting (for the `exit` handler, which cannot wait). */
    kill() {
      if (!exited) child.kill('SIGTERM');
    },
    async stop() {
      running.delete(proc);
      if (exited) return;
      child.kill('SIGTERM'); // ChildProcess.kill signals this child's PID only
      const killed = setTimeout(() => {
        if (!exited) {
          console.error(`${name} (pid ${child.pid}) ignored SIGTERM; sending SIGKILL`);
          child.kill('SIGKILL');
        }
      }, 5_000);
      await exit;
      clearTimeout(killed);
    },
  };
  running.add(proc);
  return proc;
}
