// The "jobs" subgraph: a Payaca-style job list that joins ghl-subgraph's `Contact` entity.
// It adds `Contact.jobs` (the gateway calls it with our contacts' ids) and returns `Contact`
// references from `Query.jobs` (the gateway calls our `_entities` with many representations,
// the same contact several times). Jobs are seeded from real contact ids, with repeats.
//
// In-process: `startJobsSubgraph({ contactIds, port: 0 })`. Standalone:
//   GHL_SUBGRAPH_URL=http://127.0.0.1:4001/graphql PORT=4002 node jobs-subgraph.mjs

import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { pathToFileURL } from 'node:url';

export const typeDefs = parse(/* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])

  type Query {
    "Every job, newest first."
    jobs: [Job!]!
  }

  "A piece of work for a customer: quoted, scheduled, done and invoiced."
  type Job {
    "The job's id."
    id: ID!
    "What the job is."
    title: String!
    "Where the job is: quote, scheduled, in_progress, completed or invoiced."
    status: String!
    "The customer, a contact in HighLevel (resolved by ghl-subgraph)."
    contact: Contact
  }

  extend type Contact @key(fields: "id") {
    id: ID!
    "Jobs done for this contact."
    jobs: [Job!]!
  }
`);

const TITLES = ['Boiler service', 'Kitchen rewire', 'Bathroom refit', 'Roof repair', 'EV charger install', 'Radiator swap'];
const STATUSES = ['quote', 'scheduled', 'in_progress', 'completed', 'invoiced'];
// Which of the given contacts each job belongs to: few contacts, many repeats; -1 is a job with no contact.
const OWNERS = [0, 1, 2, 0, 3, 1, 4, 0, 2, -1, 3, 1];

/** Jobs over the first five `contactIds`, each contact on several jobs, one job without a contact. */
export function seedJobs(contactIds) {
  if (contactIds.length === 0) throw new Error('the jobs subgraph needs at least one contact id');
  return OWNERS.map((owner, i) => ({
    id: `job-${i + 1}`,
    title: `${TITLES[i % TITLES.length]} #${i + 1}`,
    status: STATUSES[i % STATUSES.length],
    contactId: owner < 0 ? null : contactIds[owner % Math.min(5, contactIds.length)],
  }));
}

export function resolvers(jobs) {
  return {
    Query: { jobs: () => jobs },
    Job: { contact: (job) => (job.contactId ? { id: job.contactId } : null) },
    Contact: {
      __resolveReference: (ref) => ({ id: ref.id }),
      jobs: (contact) => jobs.filter((job) => job.contactId === contact.id),
    },
  };
}

/**
 * Serves the jobs subgraph on 127.0.0.1:`port` (0: a free port).
 * Resolves to `{ url, jobs, stats, stop() }`; `stats.entityRequests` counts `_entities` operations
 * and `stats.representations` the representations they carried, so tests can see batching.
 */
export async function startJobsSubgraph({ contactIds, port = 0, host = '127.0.0.1' }) {
  const jobs = seedJobs(contactIds);
  const stats = { entityRequests: 0, representations: 0 };
  const server = new ApolloServer({
    schema: buildSubgraphSchema([{ typeDefs, resolvers: resolvers(jobs) }]),
    // No inline traces: they are for Apollo GraphOS usage reporting, which this example does not use.
    plugins: [ApolloServerPluginInlineTraceDisabled(), countEntityRequests(stats)],
  });
  const { url } = await startStandaloneServer(server, { listen: { host, port } });
  return { url, jobs, stats, stop: () => server.stop() };
}

function countEntityRequests(stats) {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, request }) {
          const fields = operation.selectionSet.selections.map((s) => s.name?.value);
          if (fields.includes('_entities')) {
            stats.entityRequests += 1;
            stats.representations += request.variables?.representations?.length ?? 0;
          }
        },
      };
    },
  };
}

/** Contact ids from ghl-subgraph, for a standalone run. */
export async function fetchContactIds(subgraphUrl, first = 20) {
  const res = await fetch(subgraphUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: `{ contacts(first: ${first}) { nodes { id } } }` }),
  });
  const body = await res.json();
  if (!res.ok || body.errors) throw new Error(`ghl-subgraph at ${subgraphUrl} answered ${res.status}: ${JSON.stringify(body.errors)}`);
  return body.data.contacts.nodes.map((c) => c.id);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const subgraphUrl = process.env.GHL_SUBGRAPH_URL ?? 'http://127.0.0.1:4001/graphql';
  const contactIds = await fetchContactIds(subgraphUrl);
  const { url } = await startJobsSubgraph({ contactIds, port: Number(process.env.PORT ?? 4002) });
  console.log(`jobs subgraph listening on ${url} (${contactIds.length} contacts from ${subgraphUrl})`);
}
