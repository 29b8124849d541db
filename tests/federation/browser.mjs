// GraphiQL in a real browser: Debian's Chromium, headless, driven by playwright-core. Opens
// GET /graphql, runs the page's default contacts query with the run button, finds a contact from
// the response in the result pane, checks the schema arrived (the Docs pane shows type Contact
// and its fields; the editor completes Contact's fields), and proves that no request left
// 127.0.0.1 (the page and its vendored assets work offline). A second check types a
// `contactChanged` subscription, runs it (the page's fetcher takes it to /ws, graphql-transport-ws),
// makes an edit "in the GHL app" and finds the UPDATED event in the result pane, then stops it
// with the same button and sees the server's subscription gauge drop back. Keeps screenshots in artifacts/.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { graphql } from './lib/http.mjs';
import { editInTheApp, openSubscriptions, waitFor } from './subscriptions.mjs';

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
const EVENT_TIMEOUT_MS = 5_000;
const EXECUTE = 'Execute query (Ctrl-Enter)';
const STOP = 'Stop query (Ctrl-Enter)';

/** Runs the browser check against the subgraph at `baseUrl`; resolves to a one-line detail. */
export async function graphiqlRunsAQuery({ baseUrl, graphqlUrl, screenshot }) {
  // The page's default query starts with `contacts(first: 5)`: its first contact must show up.
  const first = (await graphql(graphqlUrl, '{ contacts(first: 5) { nodes { id name } } }')).contacts.nodes[0];

  return withGraphiql(baseUrl, async (page, seen) => {
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

    assertClean(seen);
    const graphqlPosts = seen.local.filter((u) => new URL(u).pathname === '/graphql').length;
    return `result shows ${first.name} (${first.id}); Docs: Contact with ${docs}; completion offers ${hints}; ${seen.local.length} requests, all to 127.0.0.1 (${graphqlPosts} to /graphql), none elsewhere; screenshot ${path.relative(process.cwd(), screenshot)}`;
  });
}

/**
 * Types `subscription WatchContact { contactChanged(id) { … } }` into GraphiQL and runs it with the
 * run button; once ghl-subgraph's gauge `graphql_subscriptions_open{transport="ws"}` shows it, an
 * edit in the GHL app (the sandbox's out-of-band PATCH) must appear in the result pane as UPDATED
 * with the new name within 5 s. The same button (now "Stop") ends it: the gauge drops back. The
 * edit is undone. Resolves to a one-line detail.
 */
export async function graphiqlRunsASubscription({ baseUrl, graphqlUrl, sandboxUrl, screenshot }) {
  // Not the first contact (the query check looks for its name); the edit is undone either way.
  const { nodes } = (await graphql(graphqlUrl, '{ contacts(first: 5) { nodes { id firstName name } } }')).contacts;
  const target = nodes[1] ?? nodes[0];
  const firstName = 'LiveGraphiql';
  assert.notEqual(target.firstName, firstName);
  const query = `subscription WatchContact { contactChanged(id: "${target.id}") { kind contactId contact { id name } } }`;

  return withGraphiql(baseUrl, async (page, seen) => {
    const failure = (what) => `${what}\n${describe(seen)}`;
    await typeQuery(page, query, 'WatchContact');
    const button = page.locator('.graphiql-execute-button');
    assert.equal(await button.getAttribute('aria-label'), EXECUTE);

    const before = await openSubscriptions(baseUrl);
    const runAt = performance.now();
    await button.click();
    let edited = false;
    try {
      // GraphiQL shows nothing until the first event; the gauge says when the server has the subscription.
      await waitFor(
        async () => (await openSubscriptions(baseUrl)).ws === before.ws + 1,
        async () => failure(`ghl-subgraph never had one more ws subscription open (before: ${JSON.stringify(before)}, now: ${JSON.stringify(await openSubscriptions(baseUrl))}); result pane: ${await resultText(page)}`),
      );
      const openMs = performance.now() - runAt;
      assert.equal(await button.getAttribute('aria-label'), STOP, failure('the run button does not offer to stop the running subscription'));

      edited = true;
      const patchedAt = performance.now();
      await editInTheApp(sandboxUrl, target.id, { firstName });
      const shown = await page
        .waitForFunction(
          (first) => {
            const cm = document.querySelector('.result-window .CodeMirror');
            const text = cm?.CodeMirror?.getValue() ?? document.querySelector('.result-window')?.innerText ?? '';
            try {
              const change = JSON.parse(text).data?.contactChanged;
              return change?.kind === 'UPDATED' && change.contact?.name?.startsWith(first) ? text : false;
            } catch {
              return false;
            }
          },
          firstName,
          { timeout: EVENT_TIMEOUT_MS, polling: 20 },
        )
        .then((handle) => handle.jsonValue())
        .catch(async (err) => {
          throw new Error(failure(`no UPDATED event with the name "${firstName} …" in the result pane within ${EVENT_TIMEOUT_MS} ms (${err.message.split('\n')[0]}); the pane shows: ${await resultText(page)}`));
        });
      const latency = performance.now() - patchedAt;

      const payload = JSON.parse(shown);
      assert.equal(payload.errors, undefined, failure(`errors in the result pane: ${shown}`));
      const change = payload.data.contactChanged;
      assert.equal(change.contactId, target.id, shown);
      assert.equal(change.contact.id, target.id, shown);
      const { contact: now } = await graphql(graphqlUrl, 'query ($id: ID!) { contact(id: $id) { name } }', { id: target.id });
      assert.equal(change.contact.name, now.name, 'the pane shows the name ghl-subgraph now answers');
      // Visible on screen, not only in the editor's model.
      await page.locator('.result-window').getByText(now.name, { exact: false }).first().waitFor({ timeout: EVENT_TIMEOUT_MS });
      await mkdir(path.dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot });

      // Stop: the same button; the page completes the operation and closes its socket.
      const stopAt = performance.now();
      await button.click();
      await waitFor(
        async () => (await openSubscriptions(baseUrl)).ws === before.ws,
        async () => failure(`ghl-subgraph still has ${JSON.stringify(await openSubscriptions(baseUrl))} open after Stop (before: ${JSON.stringify(before)})`),
      );
      const closeMs = performance.now() - stopAt;
      await waitFor(
        async () => (await button.getAttribute('aria-label')) === EXECUTE,
        async () => failure(`the run button still reads "${await button.getAttribute('aria-label')}" after Stop`),
      );
      const after = await resultText(page);
      assert.doesNotMatch(after, /"errors"/, failure(`the result pane shows errors after Stop: ${after}`));

      // The subscription went over /ws, never as an HTTP request.
      assert.deepEqual(seen.requests.filter((r) => /contactChanged/.test(r.body ?? '') || /contactChanged/.test(decodeURIComponent(r.url))), [], 'the subscription reached the server over HTTP');
      assert.equal(seen.sockets.length, 1, failure(`expected one WebSocket, the page opened ${seen.sockets.length}`));
      const socket = seen.sockets[0];
      assert.equal(new URL(socket.url).pathname, '/ws', socket.url);
      const types = (list) => list.map((f) => f.type);
      assert.deepEqual(types(socket.sent), ['connection_init', 'subscribe', 'complete'], failure('frames the page sent'));
      // The server may answer the page's `complete` with its own before the close reaches it (async-graphql
      // ends the stream so); the page has finished by then and ignores it.
      const received = types(socket.received);
      if (received.at(-1) === 'complete') received.pop();
      assert.deepEqual(received, ['connection_ack', 'next'], failure('frames the page received'));
      await waitFor(() => socket.closed, () => failure('the page did not close its socket after Stop'));
      assertClean(seen);
      return `${socket.url}: subscribed ${Math.round(openMs)} ms after Run; UPDATED "${now.name}" in the result pane ${Math.round(latency)} ms after the edit; Stop closed it (gauge back ${Math.round(closeMs)} ms after Stop); no HTTP request carried it; screenshot ${path.relative(process.cwd(), screenshot)}`;
    } finally {
      if (edited) await editInTheApp(sandboxUrl, target.id, { firstName: target.firstName });
    }
  });
}

/**
 * Opens GraphiQL at `${baseUrl}/graphql` in a fresh headless Chromium and waits for the default
 * query; runs `fn(page, seen)`, `seen` recording every request (`local`, `offsite`: refused),
 * WebSocket (`sockets` with their frames), page error and console message. Closes the browser.
 */
async function withGraphiql(baseUrl, fn) {
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'ghl-graphiql-'));
  // launchPersistentContext passes `--user-data-dir` (a fresh one) itself.
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1400, height: 900 },
    timeout: TIMEOUT_MS,
  });
  const seen = { local: [], offsite: [], requests: [], sockets: [], pageErrors: [], console: [] };
  try {
    // Every request the page makes passes here; anything not for 127.0.0.1 is recorded and refused.
    await context.route('**/*', (route) => {
      const request = route.request();
      const url = request.url();
      if (isLocal(url, baseUrl)) {
        seen.local.push(url);
        seen.requests.push({ method: request.method(), url, body: request.postData() ?? undefined });
        return route.continue();
      }
      seen.offsite.push(url);
      return route.abort('blockedbyclient');
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('websocket', (ws) => {
      (isLocal(ws.url(), baseUrl) ? seen.local : seen.offsite).push(ws.url());
      const socket = { url: ws.url(), sent: [], received: [], closed: false, errors: [] };
      seen.sockets.push(socket);
      const frame = (payload) => {
        try {
          return { type: JSON.parse(payload).type, payload };
        } catch {
          return { type: '(not JSON)', payload: String(payload) };
        }
      };
      ws.on('framesent', (f) => socket.sent.push(frame(f.payload)));
      ws.on('framereceived', (f) => socket.received.push(frame(f.payload)));
      ws.on('socketerror', (err) => socket.errors.push(String(err)));
      ws.on('close', () => (socket.closed = true));
    });
    page.on('pageerror', (err) => seen.pageErrors.push(err.message));
    page.on('console', (msg) => seen.console.push(`${msg.type()}: ${msg.text()}`));

    const response = await page.goto(`${baseUrl}/graphql`, { waitUntil: 'load', timeout: TIMEOUT_MS });
    if (response?.status() !== 200) throw new Error(`GET /graphql answered ${response?.status()}`);
    await page.locator('.graphiql-query-editor').getByText('query FirstContacts').waitFor({ timeout: TIMEOUT_MS });
    return await fn(page, seen);
  } finally {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
  }
}

/** No page error, no request that left 127.0.0.1. */
function assertClean(seen) {
  if (seen.pageErrors.length) throw new Error(`the page threw:\n  ${seen.pageErrors.join('\n  ')}\n${describe(seen)}`);
  if (seen.offsite.length) throw new Error(`requests left 127.0.0.1:\n  ${seen.offsite.join('\n  ')}`);
}

/** What the page did, for a failure message: console, page errors, WebSocket frames. */
function describe(seen) {
  const lines = [
    `console: ${seen.console.length ? seen.console.join(' | ') : 'nothing'}`,
    `page errors: ${seen.pageErrors.length ? seen.pageErrors.join(' | ') : 'none'}`,
  ];
  for (const s of seen.sockets) {
    const frames = (list) => list.map((f) => f.payload.slice(0, 300)).join(' ; ') || 'nothing';
    lines.push(`socket ${s.url}${s.closed ? ' (closed)' : ''}${s.errors.length ? ` errors: ${s.errors.join(', ')}` : ''}: sent ${frames(s.sent)}; received ${frames(s.received)}`);
  }
  if (!seen.sockets.length) lines.push('no WebSocket opened');
  return lines.join('\n');
}

/** The result pane's text (its editor's value when there is one). */
async function resultText(page) {
  return page.evaluate(() => {
    const cm = document.querySelector('.result-window .CodeMirror');
    return cm?.CodeMirror?.getValue() ?? document.querySelector('.result-window')?.innerText ?? '(no result pane)';
  });
}

/**
 * Replaces the query editor's text by typing `query` (closers the editor inserted are stepped over),
 * then waits until GraphiQL has parsed it: it re-reads the operations 100 ms after the last edit
 * (debounced), and a run before that sends the previous document's operationName (here
 * `FirstContacts`, which the server refuses as unknown, and the page's fetcher rightly takes for
 * no subscription).
 */
async function typeQuery(page, query, operationName) {
  const editor = page.locator('.graphiql-query-editor .CodeMirror');
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.type(query, { delay: 10 });
  await page.keyboard.press('Escape'); // any completion popup
  const typed = await page.evaluate(() => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue());
  assert.equal(typed, query, 'the query editor holds what was typed');
  await page
    .waitForFunction((name) => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.operationName === name, operationName, { timeout: EVENT_TIMEOUT_MS, polling: 20 })
    .catch(async () => {
      const facts = await page.evaluate(() => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.operationName);
      throw new Error(`GraphiQL never took the typed operation ${operationName} as the one to run (it has ${JSON.stringify(facts)})`);
    });
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
