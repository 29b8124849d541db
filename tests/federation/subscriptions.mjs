// A subscription served by the Hive Gateway from the composed supergraph: the client subscribes
// at the gateway over GraphQL over SSE (distinct connections), the gateway subscribes at
// ghl-subgraph over SSE or WebSocket, an out-of-band edit "in the GHL app" (the sandbox's
// PATCH /__sandbox/contacts/{id}) makes GHL send its webhook, and the event arrives through the
// gateway with `Contact.jobs` resolved by the jobs subgraph. ghl-subgraph's /metrics gauge
// `graphql_subscriptions_open{transport}` shows the gateway's upstream subscription opening on
// the expected transport and closing again when the client goes away.

import assert from 'node:assert/strict';
import { graphql } from './lib/http.mjs';

const EVENT_TIMEOUT_MS = 5_000;
const QUERY = 'subscription ($id: ID) { contactChanged(id: $id) { kind contactId contact { id name jobs { id } } } }';

/**
 * contactChanged through `gateway` (started by `startHiveGateway(sdl, { subscriptions: transport })`),
 * `transport` being how the gateway reaches ghl-subgraph: 'sse' or 'ws'.
 */
export async function contactChangedThroughGateway(gateway, { subgraph, jobs, expected }, transport) {
  const id = jobs.jobs[0].contactId;
  const wantJobs = expected.jobsOf(id).map(({ id: jobId }) => ({ id: jobId }));
  assert.ok(wantJobs.length > 0, `contact ${id} has no jobs in the jobs subgraph`);
  const { contact: original } = await graphql(subgraph.graphqlUrl, 'query ($id: ID!) { contact(id: $id) { firstName } }', { id });
  const firstName = `Live${transport === 'ws' ? 'Ws' : 'Sse'}`;
  assert.notEqual(original.firstName, firstName);

  const before = await openSubscriptions(subgraph.url);
  const fetchesBefore = gateway.fetches.length;
  const sub = await subscribeOverSse(gateway.url, QUERY, { id });
  let latency;
  let closeMs;
  let edited = false;
  try {
    // The gateway answers the client at once; wait until it has subscribed upstream, or the edit could come first.
    await waitFor(
      async () => (await openSubscriptions(subgraph.url))[transport] === before[transport] + 1,
      () => `ghl-subgraph never had one more ${transport} subscription open (before: ${JSON.stringify(before)}); the gateway sent: ${sub.describe()}`,
    );

    edited = true;
    const patchedAt = performance.now();
    await editInTheApp(subgraph.sandboxUrl, id, { firstName });
    const event = await sub.next(EVENT_TIMEOUT_MS);
    latency = performance.now() - patchedAt;

    assert.equal(event.event, 'next', `expected a next event: ${sub.describe()}`);
    const payload = JSON.parse(event.data);
    assert.equal(payload.errors, undefined, `errors in the event: ${event.data}`);
    const change = payload.data.contactChanged;
    assert.equal(change.kind, 'UPDATED', event.data);
    assert.equal(change.contactId, id, event.data);
    assert.equal(change.contact.id, id, event.data);
    assert.ok(change.contact.name?.startsWith(firstName), `the name ${JSON.stringify(change.contact.name)} does not start with the new first name ${firstName}`);
    assert.deepEqual(change.contact.jobs, wantJobs, `Contact.jobs from the jobs subgraph: ${event.data}`);
    const { contact: now } = await graphql(subgraph.graphqlUrl, 'query ($id: ID!) { contact(id: $id) { name } }', { id });
    assert.equal(change.contact.name, now.name, 'the event carries the name ghl-subgraph now answers');

    // Closed cleanly: the gateway ends its upstream subscription once the client has gone.
    await sub.close();
    const closedAt = performance.now();
    await waitFor(
      async () => (await openSubscriptions(subgraph.url))[transport] === before[transport],
      async () => `ghl-subgraph still has ${JSON.stringify(await openSubscriptions(subgraph.url))} open after the client closed (before: ${JSON.stringify(before)})`,
    );
    closeMs = performance.now() - closedAt;
  } finally {
    await sub.close();
    // Later checks see the seeded name.
    if (edited) await editInTheApp(subgraph.sandboxUrl, id, { firstName: original.firstName });
  }

  // How the gateway reached ghl-subgraph: SSE is a GET with `Accept: text/event-stream`; over ws, no HTTP request carries it.
  const upstream = gateway.fetches.slice(fetchesBefore).filter((f) => f.url.startsWith(subgraph.graphqlUrl) && /contactChanged/.test(decodeURIComponent(f.url) + (f.body ?? '')));
  if (transport === 'sse') {
    assert.equal(upstream.length, 1, `one subscription request to ghl-subgraph: ${JSON.stringify(upstream)}`);
    assert.equal(upstream[0].method, 'GET', JSON.stringify(upstream[0]));
    assert.match(upstream[0].accept, /text\/event-stream/, JSON.stringify(upstream[0]));
  } else {
    assert.deepEqual(upstream, [], 'over ws, the subscription must not reach ghl-subgraph over HTTP');
  }
  const how = transport === 'sse' ? 'GET text/event-stream' : 'WebSocket /ws';
  return `ghl over ${how}: UPDATED "${firstName} …" with ${wantJobs.length} jobs ${Math.round(latency)} ms after the edit; upstream subscription closed ${Math.round(closeMs)} ms after the client`;
}

/** The out-of-band edit: what the GHL app would do; the sandbox then sends GHL's signed webhook. */
export async function editInTheApp(sandboxUrl, id, fields) {
  const res = await fetch(`${sandboxUrl}/__sandbox/contacts/${encodeURIComponent(id)}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(fields),
  });
  if (!res.ok) throw new Error(`PATCH /__sandbox/contacts/${id} answered ${res.status}: ${await res.text()}`);
}

/** ghl-subgraph's open subscriptions by transport, from /metrics (a gauge never touched reads 0). */
export async function openSubscriptions(baseUrl) {
  const res = await fetch(`${baseUrl}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  const open = { sse: 0, ws: 0 };
  for (const line of (await res.text()).split('\n')) {
    const m = line.match(/^graphql_subscriptions_open\{transport="(\w+)"\} (\S+)$/);
    if (m) open[m[1]] = Number(m[2]);
  }
  return open;
}

/** Polls `condition` every 25 ms; throws `await message()` after `timeoutMs`. */
export async function waitFor(condition, message, timeoutMs = EVENT_TIMEOUT_MS) {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`after ${timeoutMs} ms: ${await message()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * A GraphQL-over-SSE client, distinct connections mode: one POST with `Accept: text/event-stream`
 * per subscription. Resolves once the response headers are in, to
 * `{ next(timeoutMs), close(), describe() }`; `next` resolves to `{ event, data }` (`complete`
 * when the stream ends) and rejects when nothing arrives in time.
 */
export async function subscribeOverSse(url, query, variables) {
  const abort = new AbortController();
  const res = await fetch(url, {
    method: 'POST',
    signal: abort.signal,
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query, variables }),
  });
  if (res.status !== 200 || !res.headers.get('content-type')?.startsWith('text/event-stream')) {
    abort.abort();
    throw new Error(`${url} answered ${res.status} ${res.headers.get('content-type')} to a subscription: ${(await res.text().catch(() => '')).slice(0, 500)}`);
  }

  const received = [];
  const queue = [];
  const waiters = [];
  const push = (event) => {
    received.push(event);
    const waiter = waiters.shift();
    if (waiter) waiter(event);
    else queue.push(event);
  };
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
          const event = parseEvent(block);
          if (event) push(event);
        }
      }
    } catch (err) {
      if (!abort.signal.aborted) push({ event: 'error', data: err.message });
      return;
    }
    push({ event: 'complete', data: '' });
  })();

  return {
    next(timeoutMs) {
      if (queue.length) return Promise.resolve(queue.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(onEvent), 1);
          reject(new Error(`no event within ${timeoutMs} ms; received so far: ${describe()}`));
        }, timeoutMs);
        function onEvent(event) {
          clearTimeout(timer);
          resolve(event);
        }
        waiters.push(onEvent);
      });
    },
    async close() {
      abort.abort();
      await reading;
    },
    describe,
  };

  function describe() {
    return received.length ? received.map((e) => `${e.event}: ${e.data}`).join(' | ') : 'nothing';
  }
}

/** One SSE block: `event:` and `data:` lines (several data lines join with \n); comments only → null. */
function parseEvent(block) {
  let event = 'message';
  const data = [];
  let any = false;
  for (const line of block.split(/\r?\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else continue;
    any = true;
  }
  return any ? { event, data: data.join('\n') } : null;
}
