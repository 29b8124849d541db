// GraphiQL in a real browser: Debian's Chromium, headless, driven by playwright-core. Opens
// GET /graphql, runs the page's default contacts query with the run button, finds a contact from
// the response in the result pane, checks the schema arrived (the Docs pane shows type Contact
// and its fields; the editor completes Contact's fields), and proves that no request left
// 127.0.0.1 (the page and its vendored assets work offline). Keeps screenshots in artifacts/.

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

    const docs = await docsShowContact(page, screenshot);
    const hints = await editorCompletesContactFields(page, screenshot);

    if (pageErrors.length) throw new Error(`the page threw:\n  ${pageErrors.join('\n  ')}`);
    if (offsite.length) throw new Error(`requests left 127.0.0.1:\n  ${offsite.join('\n  ')}`);
    const graphqlPosts = local.filter((u) => new URL(u).pathname === '/graphql').length;
    return `result shows ${first.name} (${first.id}); Docs: Contact with ${docs}; completion offers ${hints}; ${local.length} requests, all to 127.0.0.1 (${graphqlPosts} to /graphql), none elsewhere; screenshot ${path.relative(process.cwd(), screenshot)}`;
  } finally {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
  }
}

/** `screenshot` with `-suffix` before its extension. */
function besides(screenshot, suffix) {
  const { dir, name, ext } = path.parse(screenshot);
  return path.join(dir, `${name}-${suffix}${ext}`);
}

/** Opens the Docs pane and the type Contact; resolves to a detail naming some of its fields. */
async function docsShowContact(page, screenshot) {
  await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
  const explorer = page.locator('.graphiql-doc-explorer');
  const error = explorer.locator('.graphiql-doc-explorer-error');
  const contactLink = explorer.locator('a.graphiql-doc-explorer-type-name', { hasText: /^Contact$/ }).first();
  // Either the schema arrives (the root lists every type) or the pane says why not.
  await contactLink.or(error).first().waitFor({ timeout: TIMEOUT_MS });
  if (await error.count()) throw new Error(`the Docs pane shows: ${(await error.first().innerText()).slice(0, 300)}`);
  await contactLink.click();
  await explorer.locator('.graphiql-doc-explorer-title', { hasText: /^Contact$/ }).waitFor({ timeout: TIMEOUT_MS });
  const fields = explorer.locator('.graphiql-doc-explorer-field-name');
  await fields.filter({ hasText: /^tasks$/ }).waitFor({ timeout: TIMEOUT_MS });
  const names = await fields.allInnerTexts();
  await page.screenshot({ path: besides(screenshot, 'docs') });
  return `${names.length} fields (${names.slice(0, 4).join(', ')}, …)`;
}

/** Types a contact selection into the query editor and asks for completions (Ctrl+Space). */
async function editorCompletesContactFields(page, screenshot) {
  const editor = page.locator('.graphiql-query-editor .CodeMirror');
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  // The editor closes brackets and quotes itself; typing the closer steps over it.
  await page.keyboard.type('{ contact(id: "x") { ', { delay: 20 });
  await page.keyboard.press('Control+Space');
  const hints = page.locator('.CodeMirror-hints .CodeMirror-hint');
  await hints.filter({ hasText: /^email$/ }).waitFor({ timeout: TIMEOUT_MS });
  const offered = await hints.allInnerTexts();
  await page.screenshot({ path: besides(screenshot, 'completion') });
  await page.keyboard.press('Escape');
  return `${offered.length} fields of Contact (email among them)`;
}

function isLocal(url, baseUrl) {
  const { protocol, hostname } = new URL(url);
  if (protocol === 'data:' || protocol === 'blob:') return true; // never leaves the browser
  return hostname === new URL(baseUrl).hostname;
}
