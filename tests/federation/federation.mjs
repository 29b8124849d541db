// Queries through a gateway that cross both subgraphs, in both directions, checked against
// what each subgraph says directly; and the sandbox's request log proving that the gateway's
// entity fetches reached GHL batched: one GET /contacts/{id} per distinct contact.

import assert from 'node:assert/strict';
import { graphql, graphqlResponse } from './lib/http.mjs';

/**
 * The answers each gateway must give, read from the subgraphs directly (before any gateway runs).
 * `env`: `{ subgraph, jobs }` as started by run.mjs.
 */
export async function expectations({ subgraph, jobs }) {
  const ids = [...new Set(jobs.jobs.map((j) => j.contactId).filter(Boolean))];
  const fields = ids.map((id, i) => `c${i}: contact(id: ${JSON.stringify(id)}) { id name email tasks { title } }`);
  const data = await graphql(subgraph.graphqlUrl, `{ ${fields.join(' ')} }`);
  const contacts = new Map(ids.map((id, i) => [id, data[`c${i}`]]));
  for (const [id, contact] of contacts) assert.ok(contact, `the subgraph has no contact ${id}`);
  const jobsOf = (id) => jobs.jobs.filter((j) => j.contactId === id).map(({ id: jobId, title }) => ({ id: jobId, title }));
  return { contacts, jobsOf };
}

/** contact → jobs: our root field, then the jobs subgraph's `Contact.jobs` through `_entities`. */
export async function contactWithJobs(gateway, { jobs, expected }) {
  const id = jobs.jobs[0].contactId;
  const data = await graphql(gateway.url, 'query ($id: ID!) { contact(id: $id) { id name jobs { id title } } }', { id });
  const contact = expected.contacts.get(id);
  assert.deepEqual(data.contact, { id, name: contact.name, jobs: expected.jobsOf(id) });
  return `${contact.name}: ${data.contact.jobs.length} jobs`;
}

/**
 * jobs → contact: the jobs subgraph's root field, then our `_entities` for every job's contact
 * (12 jobs, 5 distinct contacts). The sandbox must see one GET per distinct contact, and the
 * tasks of all of them loaded without repeats.
 */
export async function jobsWithContacts(gateway, { jobs, expected, sandbox }) {
  await sandbox.clear();
  const data = await graphql(gateway.url, '{ jobs { id title contact { id name email tasks { title } } } }');
  const calls = await sandbox.entries();

  const want = jobs.jobs.map((job) => ({
    id: job.id,
    title: job.title,
    contact: job.contactId ? expected.contacts.get(job.contactId) : null,
  }));
  assert.deepEqual(data.jobs, want);

  const distinct = [...expected.contacts.keys()].sort();
  const contactGets = calls.filter((c) => c.method === 'GET' && /^\/contacts\/[^/]+$/.test(c.path));
  const fetched = contactGets.map((c) => c.path.slice('/contacts/'.length)).sort();
  assert.deepEqual(fetched, distinct, `one GET /contacts/{id} per distinct contact; the sandbox saw:\n${describe(calls)}`);

  // Tasks: one location-wide search, or one GET /contacts/{id}/tasks per contact; never a repeat.
  const taskCalls = calls.filter((c) => /\/tasks(\/search)?$/.test(c.path));
  const repeated = taskCalls.filter((c, i) => c.method === 'GET' && taskCalls.findIndex((d) => d.path === c.path) !== i);
  assert.equal(repeated.length, 0, `repeated task calls:\n${describe(calls)}`);
  assert.ok(taskCalls.length >= 1 && taskCalls.length <= distinct.length, `task calls for ${distinct.length} contacts:\n${describe(calls)}`);
  assert.equal(calls.length, contactGets.length + taskCalls.length, `unexpected upstream calls:\n${describe(calls)}`);

  const refs = jobs.jobs.filter((j) => j.contactId).length;
  return `${refs} contact references → ${contactGets.length} GET /contacts/{id} for ${distinct.length} distinct contacts, ${taskCalls.length} task call(s)`;
}

/** Many contacts → jobs: the gateway sends the jobs subgraph one `_entities` call for the whole page. */
export async function contactPageWithJobs(gateway, { subgraph, jobs, expected }) {
  const direct = await graphql(subgraph.graphqlUrl, '{ contacts(first: 20) { nodes { id name } } }');
  const before = { ...jobs.stats };
  const data = await graphql(gateway.url, '{ contacts(first: 20) { nodes { id name jobs { id title } } } }');
  const calls = jobs.stats.entityRequests - before.entityRequests;

  assert.deepEqual(
    data.contacts.nodes,
    direct.contacts.nodes.map((c) => ({ ...c, jobs: expected.jobsOf(c.id) })),
  );
  assert.equal(calls, 1, `the jobs subgraph got ${calls} _entities calls for one page of contacts`);
  const representations = jobs.stats.representations - before.representations;
  return `${data.contacts.nodes.length} contacts → ${calls} _entities call to jobs (${representations} representations)`;
}

function describe(calls) {
  return calls.map((c) => `  ${c.method} ${c.path}${c.query ? `?${c.query}` : ''} → ${c.status}`).join('\n');
}

/**
 * A failing nested list through the gateway: with every tasks call refused by GHL (403, so no
 * retry and no open circuit), each job's contact keeps its name and email; only `tasks` is
 * null, with an error at its path (GraphQL's "Handling Field Errors").
 */
export async function jobsWithFailingTasks(gateway, { jobs, expected, sandbox }) {
  await sandbox.addFault({ path: '/locations/*/tasks/search', kind: 'status', status: 403 });
  await sandbox.addFault({ path: '/contacts/*/tasks', kind: 'status', status: 403 });
  let body;
  try {
    body = await graphqlResponse(gateway.url, '{ jobs { id contact { id name email tasks { title } } } }');
  } finally {
    await sandbox.clearFaults();
  }
  const withContact = jobs.jobs.filter((j) => j.contactId);
  for (const job of body.data.jobs) {
    const want = jobs.jobs.find((j) => j.id === job.id);
    if (!want.contactId) continue;
    const contact = expected.contacts.get(want.contactId);
    assert.deepEqual(job.contact, { id: want.contactId, name: contact.name, email: contact.email, tasks: null }, JSON.stringify(body));
  }
  assert.ok(body.errors?.length > 0, `errors expected: ${JSON.stringify(body)}`);
  const taskErrors = body.errors.filter((e) => e.path?.at(-1) === 'tasks');
  assert.ok(taskErrors.length > 0, `an error at a tasks path: ${JSON.stringify(body.errors)}`);
  return `${withContact.length} jobs keep their contact's name and email; tasks null with ${taskErrors.length} error(s) at tasks paths`;
}
