// Small HTTP helpers: a GraphQL POST that fails loudly, and the sandbox's request log.

/** POSTs a GraphQL operation and returns the whole response (data and errors); throws on non-JSON. */
export async function graphqlResponse(url, query, variables = {}) {
  const { body } = await post(url, query, variables);
  return body;
}

/** POSTs a GraphQL operation; throws on a non-200 answer or any GraphQL error. Returns `data`. */
export async function graphql(url, query, variables = {}) {
  const { status, body } = await post(url, query, variables);
  if (status !== 200 || body.errors?.length) {
    throw new Error(`${url} answered ${status}: ${JSON.stringify(body.errors ?? body).slice(0, 1000)}`);
  }
  return body.data;
}

/** The status and JSON body of a GraphQL POST; throws when the body is not JSON. */
async function post(url, query, variables) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    throw new Error(`${url} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
}

/** The embedded sandbox's control API: every upstream GHL call the subgraph made, in order. */
export function sandboxLog(sandboxUrl) {
  return {
    async clear() {
      const res = await fetch(`${sandboxUrl}/__sandbox/requests`, { method: 'DELETE' });
      if (!res.ok) throw new Error(`clearing the sandbox request log answered ${res.status}`);
    },
    async addFault(fault) {
      const res = await fetch(`${sandboxUrl}/__sandbox/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(fault),
      });
      if (!res.ok) throw new Error(`adding a sandbox fault answered ${res.status}: ${await res.text()}`);
    },
    async clearFaults() {
      const res = await fetch(`${sandboxUrl}/__sandbox/faults`, { method: 'DELETE' });
      if (!res.ok) throw new Error(`clearing sandbox faults answered ${res.status}`);
    },
    async entries() {
      const res = await fetch(`${sandboxUrl}/__sandbox/requests`);
      if (!res.ok) throw new Error(`reading the sandbox request log answered ${res.status}`);
      return (await res.json()).requests;
    },
  };
}
