// The composed supergraph served by two gateways, each in this process on 127.0.0.1:0:
// @apollo/gateway on @apollo/server 4, and the Hive Gateway runtime (which finds
// @graphql-mesh/transport-http beside it for the `http` subgraph transport, and
// @graphql-mesh/transport-ws for `ws`).

import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { createGatewayRuntime } from '@graphql-hive/gateway-runtime';
import http from 'node:http';

/** @apollo/gateway with a static supergraph. Resolves to `{ name, url, stop() }`. */
export async function startApolloGateway(supergraphSdl) {
  const server = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl }) });
  const { url } = await startStandaloneServer(server, { listen: { host: '127.0.0.1', port: 0 } });
  return { name: 'Apollo Gateway', url, stop: () => server.stop() };
}

/**
 * The Hive Gateway runtime with a static supergraph. Resolves to `{ name, url, fetches, stop() }`;
 * `fetches` lists every HTTP request it sends a subgraph (`{ method, url, accept, body }`).
 * `subscriptions` says how it subscribes at ghl-subgraph (the subgraph named `ghl`):
 * - `'sse'`: the http transport's own way, GraphQL over SSE: a GET with the operation in the URL
 *   and `Accept: text/event-stream`. A GET needs a non-empty `apollo-require-preflight` header at
 *   ghl-subgraph (CSRF prevention), which the gateway does not send unless told to.
 * - `'ws'`: `@graphql-mesh/transport-ws` (graphql-ws, subprotocol graphql-transport-ws) at `/ws`.
 * - none: as configured out of the box (subscriptions would fail on the missing header).
 */
export async function startHiveGateway(supergraphSdl, { subscriptions } = {}) {
  const transportEntries = {
    sse: { ghl: { headers: [['apollo-require-preflight', 'hive-gateway']] } },
    ws: { ghl: { options: { subscriptions: { kind: 'ws', location: '/ws' } } } },
  }[subscriptions];
  if (subscriptions && !transportEntries) throw new Error(`unknown subscriptions transport ${subscriptions}`);
  const fetches = [];
  const gateway = createGatewayRuntime({
    supergraph: supergraphSdl,
    logging: false,
    landingPage: false,
    transportEntries,
    plugins: () => [recordFetches(fetches)],
  });
  const server = http.createServer(gateway);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    name: subscriptions ? `Hive Gateway (subscriptions to ghl over ${subscriptions})` : 'Hive Gateway',
    url: `http://127.0.0.1:${port}/graphql`,
    fetches,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await gateway.dispose();
    },
  };
}

/** A gateway plugin noting each subgraph request (its `onFetch` hook sees them before they go). */
function recordFetches(fetches) {
  return {
    onFetch({ url, options }) {
      const headers = new Headers(options?.headers ?? {});
      fetches.push({
        method: (options?.method ?? 'GET').toUpperCase(),
        url: String(url),
        accept: headers.get('accept') ?? '',
        body: typeof options?.body === 'string' ? options.body : undefined,
      });
    },
  };
}
