// Composition with @apollo/composition, and the proof that it kept every field of every subgraph:
// errors fail, every hint fails (hints are how composition reports a field it dropped, an argument
// it removed, a type it narrowed or a description it overrode), and the composed API schema must
// still hold every type, field, argument and enum value the subgraphs declare, each reachable
// from a root (a root type not named `Query` composes as an orphan type, with no error or hint).

import { composeServices } from '@apollo/composition';
import { getNamedType, isInputObjectType, isInterfaceType, isObjectType, isUnionType, Kind, parse } from 'graphql';

/**
 * Composes `subgraphs` (`[{ name, url, sdl }]`). Resolves to `{ supergraphSdl, apiSchema }`;
 * throws on any error, any hint, or any subgraph element missing from the API schema.
 */
export function compose(subgraphs) {
  const result = composeServices(subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })));
  if (result.errors?.length) {
    throw new Error(`composition failed:\n${result.errors.map((e) => `  ${e.extensions?.code ?? ''} ${e.message}`).join('\n')}`);
  }
  if (result.hints.length) {
    throw new Error(`composition hints (each may drop or hide a field):\n${result.hints.map((h) => `  ${h.definition.code}: ${h.message}`).join('\n')}`);
  }
  const apiSchema = result.schema.toAPISchema().toGraphQLJSSchema();
  const missing = subgraphs.flatMap(({ name, sdl }) => missingFrom(apiSchema, sdl).map((what) => `${name}: ${what}`));
  if (missing.length) {
    throw new Error(`the composed API schema lost subgraph elements:\n  ${missing.join('\n  ')}`);
  }
  return { supergraphSdl: result.supergraphSdl, apiSchema };
}

/** What `sdl` declares (types, fields, arguments, enum values) that `apiSchema` lacks. */
export function missingFrom(apiSchema, sdl) {
  const missing = [];
  const reachable = reachableTypes(apiSchema);
  for (const def of parse(sdl).definitions) {
    const name = def.name?.value;
    if (!name || isFederationInternal(name) || !TYPE_KINDS.has(def.kind)) continue;
    const type = apiSchema.getType(name);
    if (!type) {
      missing.push(`type ${name}`);
      continue;
    }
    if (!reachable.has(name)) missing.push(`type ${name} (unreachable from Query or Mutation)`);
    if (def.fields) {
      const fields = type.getFields();
      for (const field of def.fields) {
        const fieldName = field.name.value;
        if (fieldName.startsWith('_')) continue; // _service, _entities: subgraph-only by design
        const composed = fields[fieldName];
        if (!composed) {
          missing.push(`field ${name}.${fieldName}`);
          continue;
        }
        for (const arg of field.arguments ?? []) {
          if (!composed.args.some((a) => a.name === arg.name.value)) missing.push(`argument ${name}.${fieldName}(${arg.name.value})`);
        }
      }
    }
    for (const value of def.values ?? []) {
      if (!type.getValue(value.name.value)) missing.push(`enum value ${name}.${value.name.value}`);
    }
  }
  return missing;
}

/** Names of the types a client can reach from the root operation types. */
function reachableTypes(schema) {
  const seen = new Set();
  const visit = (type) => {
    const named = getNamedType(type);
    if (!named || seen.has(named.name)) return;
    seen.add(named.name);
    if (isObjectType(named) || isInterfaceType(named)) {
      for (const field of Object.values(named.getFields())) {
        visit(field.type);
        for (const arg of field.args) visit(arg.type);
      }
      if (isInterfaceType(named)) for (const impl of schema.getPossibleTypes(named)) visit(impl);
    } else if (isInputObjectType(named)) {
      for (const field of Object.values(named.getFields())) visit(field.type);
    } else if (isUnionType(named)) {
      for (const member of named.getTypes()) visit(member);
    }
  };
  for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) if (root) visit(root);
  return seen;
}

const TYPE_KINDS = new Set([
  Kind.OBJECT_TYPE_DEFINITION, Kind.OBJECT_TYPE_EXTENSION,
  Kind.INTERFACE_TYPE_DEFINITION, Kind.INTERFACE_TYPE_EXTENSION,
  Kind.INPUT_OBJECT_TYPE_DEFINITION, Kind.INPUT_OBJECT_TYPE_EXTENSION,
  Kind.ENUM_TYPE_DEFINITION, Kind.ENUM_TYPE_EXTENSION,
  Kind.UNION_TYPE_DEFINITION, Kind.SCALAR_TYPE_DEFINITION,
]);

function isFederationInternal(name) {
  return name.startsWith('_') || name.startsWith('link__') || name.startsWith('federation__');
}
