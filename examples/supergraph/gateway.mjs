// A local supergraph around ghl-subgraph: starts the jobs subgraph, then an Apollo gateway that
// introspects both subgraphs (`_service { sdl }`), composes them and serves the result.
//
//   GHL_SUBGRAPH_URL  ghl-subgraph's GraphQL endpoint   (default http://127.0.0.1:4001/graphql)
//   JOBS_PORT         port of the jobs subgraph          (default 4002)
//   PORT              port of the gateway                (default 4000)
//   HOST              address the gateway and jobs bind  (default 127.0.0.1)

import { ApolloGateway, IntrospectAndCompose } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { fetchContactIds, startJobsSubgraph } from './jobs-subgraph.mjs';

const ghlUrl = process.env.GHL_SUBGRAPH_URL ?? 'http://127.0.0.1:4001/graphql';
const host = process.env.HOST ?? '127.0.0.1';

let contactIds;
try {
  contactIds = await fetchContactIds(ghlUrl);
} catch (err) {
  console.error(`Cannot reach ghl-subgraph at ${ghlUrl} (${err.message}).\nStart it first: cargo run -- --listen 127.0.0.1:4001`);
  process.exit(1);
}
const jobs = await startJobsSubgraph({ contactIds, host, port: Number(process.env.JOBS_PORT ?? 4002) });

const gateway = new ApolloGateway({
  supergraphSdl: new IntrospectAndCompose({
    subgraphs: [
      { name: 'ghl', url: ghlUrl },
      { name: 'jobs', url: jobs.url },
    ],
  }),
});
const server = new ApolloServer({ gateway });
const { url } = await startStandaloneServer(server, { listen: { host, port: Number(process.env.PORT ?? 4000) } });

console.log(`jobs subgraph:  ${jobs.url} (${jobs.jobs.length} jobs over contacts of ${ghlUrl})`);
console.log(`supergraph:     ${url}`);
console.log(`try:            curl -s ${url} -H 'content-type: application/json' \\
                  -d '{"query":"{ jobs { title status contact { name email tasks { title } } } }"}'`);
