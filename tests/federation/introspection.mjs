// The standard introspection query — graphql-js's getIntrospectionQuery, what GraphiQL's Docs pane,
// codegen and Postman send — must pass the subgraph's limits and yield a schema graphql-js can build.

import { buildClientSchema, getIntrospectionQuery } from 'graphql';
import { graphql } from './lib/http.mjs';

/** Every option graphql 16 knows, so the query is as deep and wide as any client's. */
const OPTIONS = {
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
};

/** Introspects `graphqlUrl` and builds the client schema; resolves to a one-line detail. */
export async function introspectionBuildsTheSchema(graphqlUrl) {
  const data = await graphql(graphqlUrl, getIntrospectionQuery(OPTIONS));
  const schema = buildClientSchema(data);
  const contact = schema.getType('Contact');
  const fields = contact?.getFields?.() ?? {};
  if (!fields.tasks) throw new Error(`the built schema's Contact has no field tasks (fields: ${Object.keys(fields).join(', ') || 'none'})`);
  const types = Object.keys(schema.getTypeMap()).filter((name) => !name.startsWith('__'));
  return `${types.length} types; Contact has ${Object.keys(fields).length} fields, tasks among them`;
}
