// Unsubscribing and at once subscribing again to the same channel on the same socket (what an app
// does when it re-renders a component) must end subscribed, whether or not other sockets are on
// the channel.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { app, heraldConfig, httpClient, nextEvent, pusherClient, rawConnect, subscribe, uniq, useHerald } from '../harness.mjs';

const main = app();
const server = useHerald(heraldConfig({ apps: [main] }));

describe('unsubscribe then subscribe again at once', () => {
  test('raw: the only subscriber gets subscription_succeeded again and receives events (10 rounds)', async (t) => {
    // A race shows up in some rounds only: each round is a fresh channel.
    const c = await rawConnect(server, main.key, { t });
    for (let round = 1; round <= 10; round++) {
      const name = uniq('again-');
      await c.subscribeOK(name);
      c.send({ event: 'pusher:unsubscribe', data: { channel: name } });
      await c.subscribeOK(name, {}, 3000).catch((err) => {
        throw new Error(`round ${round}: ${err.message}`);
      });
      await httpClient(server, main).trigger(name, 'after', { round });
      const f = await c.next('after');
      assert.deepEqual(JSON.parse(f.data), { round });
    }
  });

  test('raw: with another subscriber on the channel', async (t) => {
    const name = uniq('again-');
    const other = await rawConnect(server, main.key, { t });
    await other.subscribeOK(name);
    const c = await rawConnect(server, main.key, { t });
    await c.subscribeOK(name);
    c.send({ event: 'pusher:unsubscribe', data: { channel: name } });
    await c.subscribeOK(name);
  });

  test('pusher-js: unsubscribe() and subscribe() in the same tick', async (t) => {
    const name = uniq('private-again-');
    const client = pusherClient(server, main, {}, t);
    await subscribe(client, name);
    client.unsubscribe(name);
    const { channel } = await subscribe(client, name);
    const got = nextEvent(channel, 'after');
    await httpClient(server, main).trigger(name, 'after', { n: 1 });
    assert.deepEqual((await got).data, { n: 1 });
  });
});
