// The GraphQL-over-HTTP audit of the `graphql-http` package (`serverAudits`) against /graphql.
// A failed MUST is an `error`, a failed SHOULD a `warn`, a failed MAY a `notice`; an audit that
// throws (not an assertion: e.g. the server hung up) is an audit error. Errors, audit errors and
// any warning not listed in ACCEPTED_WARNINGS fail the run; notices are only reported.
//
// Standalone: node tests/federation/audit.mjs http://127.0.0.1:PORT/graphql

import { serverAudits } from 'graphql-http';
import { pathToFileURL } from 'node:url';

/** SHOULD audits we knowingly fail, by audit id, with the reason. None today. */
export const ACCEPTED_WARNINGS = {};

/**
 * The server refuses GETs and non-JSON POSTs without a preflight header (CSRF prevention, as
 * Apollo Router does), so every audit request carries one, as Apollo clients and GraphiQL do.
 */
export function withPreflightHeader(fetchFn = fetch) {
  return (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('apollo-require-preflight', 'true');
    return fetchFn(input, { ...init, headers });
  };
}

/** Runs every server audit against `url`; resolves to the counts and the non-ok results. */
export async function audit(url) {
  const results = await Promise.all(
    serverAudits({ url, fetchFn: withPreflightHeader() }).map(async ({ id, name, fn }) => {
      try {
        return await fn();
      } catch (err) {
        return { id, name, status: 'audit-error', reason: err?.message ?? String(err) };
      }
    }),
  );
  const counts = { total: results.length, ok: 0, warn: 0, notice: 0, error: 0, 'audit-error': 0 };
  for (const r of results) counts[r.status] += 1;
  const findings = await Promise.all(results.filter((r) => r.status !== 'ok').map(describe));
  return { counts, findings };
}

/** `audit(url)` as a check: throws when the run must fail, else returns the counts line. */
export async function auditCheck(url) {
  const { counts, findings } = await audit(url);
  const line = formatCounts(counts);
  const failing = findings.filter(
    (f) => f.status === 'error' || f.status === 'audit-error' || (f.status === 'warn' && !(f.id in ACCEPTED_WARNINGS)),
  );
  const report = findings.map(formatFinding).join('\n');
  if (failing.length) throw new Error(`${line}\n${report}`);
  return report ? `${line}\n${report}` : line;
}

export function formatCounts(c) {
  return `${c.total} audits: ${c.ok} ok, ${c.warn} warn, ${c.notice} notice, ${c.error} error, ${c['audit-error']} audit errors`;
}

function formatFinding(f) {
  const accepted = f.status === 'warn' && f.id in ACCEPTED_WARNINGS ? ` (accepted: ${ACCEPTED_WARNINGS[f.id]})` : '';
  const response = f.responseStatus ? ` [HTTP ${f.responseStatus} ${f.responseType ?? ''} ${f.responseBody ?? ''}]` : '';
  return `      ${f.status.toUpperCase()} ${f.id} ${f.name}: ${f.reason}${accepted}${response}`;
}

async function describe(result) {
  const { id, name, status, reason, response } = result;
  const finding = { id, name, status, reason };
  if (response) {
    finding.responseStatus = response.status;
    finding.responseType = response.headers.get('content-type');
    try {
      finding.responseBody = (await response.clone().text()).slice(0, 200);
    } catch {
      // the audit already read the body; status and type are enough
    }
  }
  return finding;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const url = process.argv[2];
  if (!url) {
    console.error('usage: node audit.mjs http://127.0.0.1:PORT/graphql');
    process.exit(2);
  }
  try {
    console.log(await auditCheck(url));
  } catch (err) {
    console.log(err.message);
    process.exit(1);
  }
}
