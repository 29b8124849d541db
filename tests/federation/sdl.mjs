// `{ _service { sdl } }` over HTTP — what a gateway or `rover subgraph introspect` reads — must be
// exactly the committed schema.graphql, the subgraph's public contract.

import { readFile } from 'node:fs/promises';
import { graphql } from './lib/http.mjs';

/** Resolves to the served SDL; throws with the first differing line when it is not the committed file. */
export async function servedSdlMatches(graphqlUrl, schemaPath) {
  const served = (await graphql(graphqlUrl, '{ _service { sdl } }'))._service.sdl;
  const committed = await readFile(schemaPath, 'utf8');
  if (served !== committed) {
    const a = served.split('\n');
    const b = committed.split('\n');
    const line = a.findIndex((text, i) => text !== b[i]);
    const at = line < 0 ? Math.min(a.length, b.length) : line;
    throw new Error(
      `_service.sdl differs from ${schemaPath} at line ${at + 1}:\n  served:    ${JSON.stringify(a[at])}\n  committed: ${JSON.stringify(b[at])}\n` +
        '(regenerate with `cargo run -- schema > schema.graphql` if the change is intended)',
    );
  }
  return served;
}
