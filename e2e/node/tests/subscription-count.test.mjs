// subscription_count: with the app option on, subscribers get pusher_internal:subscription_count
// as the channel's count changes, coalesced (a burst of joins is one update, not one per join);
// with it off they get none.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { app, expectNothing, heraldConfig, nextEvent, pusherClient, rawConnect, subscribe, uniq, useHerald, withTimeout } from '../harness.mjs';

const counting = app({ subscription_count: true });
const silent = app({ id: 'silent-id', key: 'silent-key', secret: 'silent-secret', subscription_count: false });
const server = useHerald(heraldConfig({ apps: [counting, silent] }));

const isCount = (channel) => (f) => f.event === 'pusher_internal:subscription_count' && f.channel === channel;
const countOf = (f) => (typeof f.data === 'string' ? JSON.parse(f.data) : f.data).subscription_count;

describe('subscription_count', () => {
  test('pusher-js: pusher:subscription_count on the channel and channel.subscriptionCount', async (t) => {
    const name = uniq('counted-');
    const a = pusherClient(server, counting, {}, t);
    const ch = a.subscribe(name);
    const first = nextEvent(ch, 'pusher:subscription_count');
    await subscribe(a, name);
    assert.deepEqual((await first).data, { subscription_count: 1 });
    assert.equal(ch.subscriptionCount, 1);

    const second = nextEvent(ch, 'pusher:subscription_count');
    const b = pusherClient(server, counting, {}, t);
    await subscribe(b, name);
    assert.deepEqual((await second).data, { subscription_count: 2 });
    assert.equal(ch.subscriptionCount, 2);

    const third = nextEvent(ch, 'pusher:subscription_count');
    b.unsubscribe(name);
    assert.deepEqual((await third).data, { subscription_count: 1 });
    assert.equal(ch.subscriptionCount, 1);
  });

  test('5 quick joins are coalesced: at most two updates, the last one 5', async (t) => {
    const name = uniq('burst-');
    const clients = await Promise.all(Array.from({ length: 5 }, () => rawConnect(server, counting.key, { t })));
    const watcher = clients[0];
    for (const c of clients) c.subscribe(name);

    const updates = [];
    await withTimeout(
      (async () => {
        for (;;) {
          const f = await watcher.next(isCount(name), 4000);
          updates.push(countOf(f));
          if (updates.at(-1) === 5) return;
        }
      })(),
      6000,
      `a subscription_count of 5 (updates so far: ${JSON.stringify(updates)})`,
    );
    assert.ok(updates.length <= 2, `at most two updates for five joins, got ${JSON.stringify(updates)}`);
    // Every subscriber got the final count.
    for (const c of clients.slice(1)) {
      const seen = [];
      do seen.push(countOf(await c.next(isCount(name))));
      while (seen.at(-1) !== 5);
      assert.ok(seen.length <= 2, `another subscriber got ${JSON.stringify(seen)}`);
    }
    // Nothing changes, nothing is sent.
    await expectNothing((fail) => {
      const timer = setInterval(() => {
        const got = watcher.take(isCount(name));
        if (got.length) fail(got);
      }, 50);
      return () => clearInterval(timer);
    }, 1300);
  });

  test('an app without subscription_count sends none', async (t) => {
    const name = uniq('uncounted-');
    const a = await rawConnect(server, silent.key, { t });
    const b = await rawConnect(server, silent.key, { t });
    await a.subscribeOK(name);
    await b.subscribeOK(name);
    await expectNothing((fail) => {
      const timer = setInterval(() => {
        const got = [...a.take((f) => f.event === 'pusher_internal:subscription_count'), ...b.take((f) => f.event === 'pusher_internal:subscription_count')];
        if (got.length) fail(got);
      }, 50);
      return () => clearInterval(timer);
    }, 1300);
  });
});
