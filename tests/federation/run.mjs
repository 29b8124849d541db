#!/usr/bin/env node
// The Node-side proof that other GraphQL software accepts ghl-subgraph. From the repo root:
//   node tests/federation/run.mjs        (GHL_SUBGRAPH_BIN overrides target/debug/ghl-subgraph)
//
// 1. starts the real binary on the embedded GHL sandbox (127.0.0.1:0) and the jobs subgraph;
// 2. `_service { sdl }` over HTTP equals schema.graphql;
// 3. composes both with @apollo/composition (no errors, no hints, nothing dropped);
// 4. serves the supergraph with @apollo/gateway and with the Hive Gateway runtime, and runs
//    queries across both subgraphs in both directions on each, checking batching in the sandbox log;
//    then the Hive Gateway serves `contactChanged` with ghl-subgraph reached over SSE and over
//    WebSocket: an edit made "in the GHL app" arrives through it with the jobs subgraph's fields;
// 5. runs graphql-http's GraphQL-over-HTTP audit against /graphql;
// 6. drives GraphiQL in headless Chromium and checks nothing leaves 127.0.0.1; then runs a
//    contactChanged subscription in it (over /ws) and sees an edit in the GHL app arrive.
// Exits non-zero when any check fails. Every process it starts is stopped by PID.

import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { auditCheck } from './audit.mjs';
import { graphiqlRunsAQuery, graphiqlRunsASubscription } from './browser.mjs';
import { introspectionBuildsTheSchema } from './introspection.mjs';
import { contactPageWithJobs, contactWithJobs, expectations, jobsWithContacts, jobsWithFailingTasks } from './federation.mjs';
// The example's own jobs subgraph (one copy; its packages resolve from the root node_modules).
import { fetchContactIds, startJobsSubgraph } from '../../examples/supergraph/jobs-subgraph.mjs';
import { Checks } from './lib/checks.mjs';
import { compose } from './lib/compose.mjs';
import { startApolloGateway, startHiveGateway } from './lib/gateways.mjs';
import { graphql, sandboxLog } from './lib/http.mjs';
import { startSubgraph, stopAll } from './lib/processes.mjs';
import { servedSdlMatches } from './sdl.mjs';
import { contactChangedThroughGateway } from './subscriptions.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const ARTIFACTS = path.join(HERE, 'artifacts');
const BIN = process.env.GHL_SUBGRAPH_BIN ?? 'target/debug/ghl-subgraph';
const DEADLINE_MS = 4 * 60_000;
const PACKAGES = [
  'graphql', '@apollo/subgraph', '@apollo/composition', '@apollo/gateway', '@apollo/server',
  '@graphql-hive/gateway-runtime', '@graphql-mesh/transport-http', '@graphql-mesh/transport-ws', 'graphql-ws',
  'graphql-http', 'playwright-core',
];

const checks = new Checks();
const cleanups = [];

async function main() {
  console.log(await versions());

  const subgraph = await checks.run('ghl-subgraph starts on the embedded sandbox', async () => {
    const started = await startSubgraph({ bin: BIN, cwd: ROOT });
    return { ...started, detail: `${started.graphqlUrl} (pid ${started.pid}), sandbox ${started.sandboxUrl}` };
  });
  if (!subgraph) return checks.skip('every other check', 'ghl-subgraph did not start');

  await checks.run('_service { sdl } over HTTP equals schema.graphql', async () => {
    const served = await servedSdlMatches(subgraph.graphqlUrl, path.join(ROOT, 'schema.graphql'));
    return `${served.split('\n').length} lines, identical`;
  });
  await checks.run('the standard introspection query builds a client schema', () => introspectionBuildsTheSchema(subgraph.graphqlUrl));

  await federation(subgraph);

  await checks.run('GraphQL-over-HTTP audit (graphql-http serverAudits) of /graphql', () => auditCheck(subgraph.graphqlUrl));

  await checks.run('GraphiQL in headless Chromium runs a contacts query, offline', () =>
    graphiqlRunsAQuery({
      baseUrl: subgraph.url,
      graphqlUrl: subgraph.graphqlUrl,
      screenshot: path.join(ARTIFACTS, 'graphiql.png'),
    }));
  // After the query check, which expects the first contact's seeded name (this one edits another, and undoes it).
  await checks.run('GraphiQL in headless Chromium runs a contactChanged subscription over /ws: an edit in the GHL app shows up, Stop ends it', () =>
    graphiqlRunsASubscription({
      baseUrl: subgraph.url,
      graphqlUrl: subgraph.graphqlUrl,
      sandboxUrl: subgraph.sandboxUrl,
      screenshot: path.join(ARTIFACTS, 'graphiql-subscription.png'),
    }));
}

/** The jobs subgraph, composition, and both gateways with queries across the two subgraphs. */
async function federation(subgraph) {
  const jobs = await checks.run('jobs subgraph starts with contact ids from ghl-subgraph', async () => {
    const started = await startJobsSubgraph({ contactIds: await fetchContactIds(subgraph.graphqlUrl) });
    cleanups.push(started.stop);
    const contacts = new Set(started.jobs.map((j) => j.contactId).filter(Boolean)).size;
    return { ...started, detail: `${started.url}: ${started.jobs.length} jobs over ${contacts} contacts` };
  });

  if (!jobs) return checks.skip('composition and gateway checks', 'the jobs subgraph did not start');

  // Both SDLs as a gateway reads them: `_service { sdl }` over HTTP.
  const supergraph = await checks.run('@apollo/composition composes both subgraphs: no errors, no hints, nothing dropped', async () => {
    const sdlOf = async (url) => (await graphql(url, '{ _service { sdl } }'))._service.sdl;
    const composed = compose([
      { name: 'ghl', url: subgraph.graphqlUrl, sdl: await sdlOf(subgraph.graphqlUrl) },
      { name: 'jobs', url: jobs.url, sdl: await sdlOf(jobs.url) },
    ]);
    await mkdir(ARTIFACTS, { recursive: true });
    await writeFile(path.join(ARTIFACTS, 'supergraph.graphql'), composed.supergraphSdl);
    const roots = Object.keys(composed.apiSchema.getQueryType().getFields());
    return { ...composed, detail: `Query { ${roots.join(', ')} }; artifacts/supergraph.graphql` };
  });
  const expected = await checks.run('expected answers read from each subgraph directly', async () => {
    const exp = await expectations({ subgraph, jobs });
    return { ...exp, detail: `${exp.contacts.size} distinct contacts on ${jobs.jobs.length} jobs` };
  });

  const sandbox = sandboxLog(subgraph.sandboxUrl);
  for (const [name, start] of [['Apollo Gateway', startApolloGateway], ['Hive Gateway', startHiveGateway]]) {
    const queries = [
      'contact → jobs',
      'jobs → contacts (entity batching)',
      'contact page → jobs (one _entities call)',
      'jobs → contacts with failing tasks (partial data)',
    ];
    if (!supergraph || !expected) {
      for (const q of queries) checks.skip(`${name}: ${q}`, 'composition or expectations failed');
      continue;
    }
    const gateway = await checks.run(`${name} serves the supergraph`, async () => {
      const started = await start(supergraph.supergraphSdl);
      return { ...started, detail: started.url };
    });
    if (!gateway) {
      for (const q of queries) checks.skip(`${name}: ${q}`, 'the gateway did not start');
      continue;
    }
    const env = { subgraph, jobs, expected, sandbox };
    try {
      await checks.run(`${name}: ${queries[0]}`, () => contactWithJobs(gateway, env));
      await checks.run(`${name}: ${queries[1]}`, () => jobsWithContacts(gateway, env));
      await checks.run(`${name}: ${queries[2]}`, () => contactPageWithJobs(gateway, env));
      await checks.run(`${name}: ${queries[3]}`, () => jobsWithFailingTasks(gateway, env));
    } finally {
      await gateway.stop();
    }
  }

  // Subscriptions: the client speaks GraphQL over SSE to the gateway; the gateway subscribes at
  // ghl-subgraph over `transport`, and resolves `Contact.jobs` at the jobs subgraph per event.
  for (const [transport, how] of [['sse', 'SSE (GET text/event-stream)'], ['ws', 'WebSocket (graphql-transport-ws at /ws)']]) {
    const name = `Hive Gateway, subscriptions to ghl over ${how}`;
    const check = `${name}: contactChanged → jobs, pushed by an edit in the GHL app`;
    if (!supergraph || !expected) {
      checks.skip(check, 'composition or expectations failed');
      continue;
    }
    const gateway = await checks.run(`${name}: serves the supergraph`, async () => {
      const started = await startHiveGateway(supergraph.supergraphSdl, { subscriptions: transport });
      return { ...started, detail: started.url };
    });
    if (!gateway) {
      checks.skip(check, 'the gateway did not start');
      continue;
    }
    try {
      await checks.run(check, () => contactChangedThroughGateway(gateway, { subgraph, jobs, expected }, transport));
    } finally {
      await gateway.stop();
    }
  }
}

async function versions() {
  const lines = [`node ${process.version}`];
  for (const name of PACKAGES) {
    try {
      const pkg = JSON.parse(await readFile(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8'));
      lines.push(`${name} ${pkg.version}`);
    } catch {
      lines.push(`${name} (not installed: run \`npm ci\` at the repository root)`);
    }
  }
  for (const [label, file, args] of [['ghl-subgraph', path.resolve(ROOT, BIN), ['--version']], ['chromium', process.env.CHROMIUM_BIN ?? '/usr/bin/chromium', ['--version']]]) {
    try {
      lines.push(execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    } catch {
      lines.push(`${label} (not found)`);
    }
  }
  return `Tools: ${lines.join(', ')}\n`;
}

async function cleanup() {
  for (const stop of cleanups.splice(0).reverse()) await stop().catch((err) => console.error(`cleanup: ${err.message}`));
  await stopAll();
}

const watchdog = setTimeout(() => {
  console.error(`\nFAIL  the run took longer than ${DEADLINE_MS / 1000} s; stopping`);
  cleanup().finally(() => process.exit(1));
}, DEADLINE_MS);
watchdog.unref();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => cleanup().finally(() => process.exit(130)));
}

const startedAt = performance.now();
try {
  await main();
} catch (err) {
  await checks.run('the run itself', () => Promise.reject(err));
} finally {
  await cleanup();
}
console.log(checks.summary());
console.log(`\n${checks.ok ? 'OK' : 'FAILED'} in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
// Gateways and the browser can leave timers behind; the verdict is in, so exit now.
process.exit(checks.ok ? 0 : 1);
