// The composed supergraph served by two gateways, each in this process on 127.0.0.1:0:
// @apollo/gateway on @apollo/server 4, and the Hive Gateway runtime (which finds
// @graphql-mesh/transport-http beside it for the `http` subgraph transport).

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

/** The Hive Gateway runtime with a static supergraph. Resolves to `{ name, url, stop() }`. */
export async function startHiveGateway(supergraphSdl) {
  const gateway = createGatewayRuntime({ supergraph: supergraphSdl, logging: false, landingPage: false });
  const server = http.createServer(gateway);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    name: 'Hive Gateway',
    url: `http://127.0.0.1:${port}/graphql`,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await gateway.dispose();
    },
  };
}
