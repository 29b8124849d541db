// GraphiQL in a real browser: Debian's Chromium, headless, driven by playwright-core. Opens
// GET /graphql, runs the page's default contacts query with the run button, finds a contact from
// the response in the result pane, and proves that no request left 127.0.0.1 (the page and its
// vendored assets work offline). Keeps a screenshot in artifacts/graphiql.png.

import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { graphql } from './lib/http.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const TIMEOUT_MS = 30_000;

/** Runs the browser check against the subgraph at `baseUrl`; resolves to a one-line detail. */
export async function graphiqlRunsAQuery({ baseUrl, graphqlUrl, screenshot }) {
  // The page's default query starts with `contacts(first: 5)`: its first contact must show up.
  const first = (await graphql(graphqlUrl, '{ contacts(first: 5) { nodes { id name } } }')).contacts.nodes[0];

  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'ghl-graphiql-'));
  // launchPersistentContext passes `--user-data-dir` (a fresh one) itself.
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1400, height: 900 },
    timeout: TIMEOUT_MS,
  });
  const local = [];
  const offsite = [];
  const pageErrors = [];
  try {
    // Every request the page makes passes here; anything not for 127.0.0.1 is recorded and refused.
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (isLocal(url, baseUrl)) {
        local.push(url);
        return route.continue();
      }
      offsite.push(url);
      return route.abort('blockedbyclient');
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('websocket', (ws) => (isLocal(ws.url(), baseUrl) ? local : offsite).push(ws.url()));
    page.on('pageerror', (err) => pageErrors.push(err.message));

    const response = await page.goto(`${baseUrl}/graphql`, { waitUntil: 'load', timeout: TIMEOUT_MS });
    if (response?.status() !== 200) throw new Error(`GET /graphql answered ${response?.status()}`);
    await page.locator('.graphiql-query-editor').getByText('query FirstContacts').waitFor({ timeout: TIMEOUT_MS });
    await page.locator('.graphiql-execute-button').click();

    const result = page.locator('.result-window');
    await result.getByText(first.id, { exact: false }).waitFor({ timeout: TIMEOUT_MS });
    await result.getByText(first.name, { exact: false }).first().waitFor({ timeout: TIMEOUT_MS });
    const text = await result.innerText();
    if (/"errors"/.test(text)) throw new Error(`the result pane shows errors:\n${text.slice(0, 1000)}`);

    await mkdir(path.dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot });

    if (pageErrors.length) throw new Error(`the page threw:\n  ${pageErrors.join('\n  ')}`);
    if (offsite.length) throw new Error(`requests left 127.0.0.1:\n  ${offsite.join('\n  ')}`);
    const graphqlPosts = local.filter((u) => new URL(u).pathname === '/graphql').length;
    return `result shows ${first.name} (${first.id}); ${local.length} requests, all to 127.0.0.1 (${graphqlPosts} to /graphql), none elsewhere; screenshot ${path.relative(process.cwd(), screenshot)}`;
  } finally {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
  }
}

function isLocal(url, baseUrl) {
  const { protocol, hostname } = new URL(url);
  if (protocol === 'data:' || protocol === 'blob:') return true; // never leaves the browser
  return hostname === new URL(baseUrl).hostname;
}
