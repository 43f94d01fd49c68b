// The debug console in a real browser: Debian's chromium (installed by `go tool task e2e:test`,
// never a browser download) driven by playwright-core. A wrong token sees nothing; the right
// one watches a pusher-js client connect, subscribe and receive an event triggered through the
// HTTP API, and sends an event with the event creator that the client receives.
//
// HERALD_CONSOLE_SCREENSHOT=path saves a screenshot of the console there (the README's).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import {
  TIMEOUT_MS,
  app,
  connected,
  freePorts,
  heraldConfig,
  httpClient,
  nextEvent,
  pusherClient,
  startHerald,
  subscribe,
} from '../harness.mjs';

const CHROMIUM = process.env.HERALD_CHROMIUM || '/usr/bin/chromium';
const TOKEN = 'e2e-console-token-4f1c9a';
const main = app({ id: 'shop', key: 'shop-key', secret: 'shop-secret-never-shown' });

describe('debug console', () => {
  let server;
  let consoleURL;
  let browser;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: go tool task e2e:chromium installs Debian's chromium`);
    const [metricsPort] = await freePorts(1);
    server = await startHerald(heraldConfig({
      apps: [main],
      metrics_listen: `127.0.0.1:${metricsPort}`,
      console: { enabled: true, token: TOKEN },
    }));
    consoleURL = `http://127.0.0.1:${metricsPort}/console/`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Without these, chromium reaches for Google's services at start, which this network refuses.
      args: ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function openConsole(t) {
    const context = await browser.newContext({ viewport: { width: 1360, height: 820 } });
    t.after(() => context.close());
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS * 2);
    const res = await page.goto(consoleURL);
    assert.equal(res.status(), 401, 'the page without a token answers 401 (with its login form)');
    return page;
  }

  async function signIn(page, token) {
    await page.fill('#token', token);
    await page.click('#login-form button[type=submit]');
  }

  // A log row containing every one of `texts`.
  function row(page, ...texts) {
    let rows = page.locator('#rows tr');
    for (const text of texts) rows = rows.filter({ hasText: text });
    return rows.first();
  }

  test('a wrong token sees nothing', async (t) => {
    const page = await openConsole(t);
    await signIn(page, 'not-the-token-at-all');
    await page.locator('#login-error').filter({ hasText: 'refused' }).waitFor();
    assert.equal(await page.locator('#main').isVisible(), false);
    const body = await page.content();
    assert.ok(!body.includes(main.id) && !body.includes(main.secret), 'no app is shown');
    const api = await page.evaluate(async (url) => {
      const res = await fetch(url + 'api/apps', { headers: { Authorization: 'Bearer not-the-token-at-all' } });
      return { status: res.status, text: await res.text() };
    }, consoleURL);
    assert.equal(api.status, 401);
    assert.ok(!api.text.includes(main.id));
  });

  test('watches a pusher-js client, an HTTP API event and the event creator', async (t) => {
    const page = await openConsole(t);
    await signIn(page, TOKEN);
    await page.locator('#status').filter({ hasText: 'live' }).waitFor();
    assert.equal(await page.locator('#app').inputValue(), main.id);
    assert.ok(!(await page.content()).includes(main.secret), 'the console never shows a secret');

    const client = pusherClient(server, main, { userId: 'alice', userInfo: { name: 'Alice' } }, t);
    const socketId = await connected(client);
    const { channel } = await subscribe(client, 'orders');
    await row(page, 'connection opened', socketId).waitFor();
    await row(page, 'subscribed', 'orders', socketId).waitFor();
    await row(page, 'channel occupied', 'orders').waitFor();

    const received = nextEvent(channel, 'order-placed');
    await httpClient(server, main).trigger('orders', 'order-placed', { id: 42, total: '19.99' });
    assert.deepEqual((await received).data, { id: 42, total: '19.99' });
    await row(page, 'API message', 'order-placed', '"total":"19.99"').waitFor();

    const fromConsole = nextEvent(channel, 'from-console');
    await page.fill('#s-channel', 'orders');
    await page.fill('#s-event', 'from-console');
    await page.fill('#s-data', '{"message": "hello from the console"}');
    await page.click('#send-form button[type=submit]');
    await page.locator('#send-result').filter({ hasText: 'Sent' }).waitFor();
    assert.deepEqual((await fromConsole).data, { message: 'hello from the console' });
    await row(page, 'API message', 'from-console').waitFor();

    // A presence member and the channels view.
    await subscribe(client, 'presence-lobby');
    await row(page, 'member added', 'alice').waitFor();
    await page.click('#refresh');
    await page.locator('#channel-rows tr', { hasText: 'presence-lobby' }).filter({ hasText: 'alice' }).waitFor();
    await page.locator('#channel-rows tr', { hasText: 'orders' }).filter({ hasText: '1' }).waitFor();

    // Filters hide what does not match, and show it again.
    await page.fill('#f-channel', 'presence-');
    assert.equal(await row(page, 'order-placed').isVisible(), false);
    await page.fill('#f-channel', '');
    assert.equal(await row(page, 'order-placed').isVisible(), true);

    if (process.env.HERALD_CONSOLE_SCREENSHOT) {
      await page.screenshot({ path: process.env.HERALD_CONSOLE_SCREENSHOT });
    }

    // Pause holds new events back until resumed; clear empties the log.
    await page.click('#pause');
    const whilePaused = nextEvent(channel, 'while-paused');
    await httpClient(server, main).trigger('orders', 'while-paused', {});
    await whilePaused;
    assert.equal(await row(page, 'while-paused').count(), 0);
    await page.click('#pause');
    await row(page, 'while-paused').waitFor();
    await page.click('#clear');
    assert.equal(await page.locator('#rows tr').count(), 0);

    client.disconnect();
    await row(page, 'connection closed', socketId).waitFor();
  });
});
