// Cache channels (cache-, private-cache-, presence-cache-, private-encrypted-cache-): the last
// event is delivered to each new subscriber right after subscription_succeeded, pusher:cache_miss
// when there is none, and the per-app cache_ttl expires it. laravel-echo listening on one.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import {
  app,
  channelAuth,
  echoClient,
  expectNothing,
  heraldConfig,
  httpClient,
  nextEvent,
  pusherClient,
  rawConnect,
  subscribe,
  uniq,
  useHerald,
  withTimeout,
} from '../harness.mjs';

const main = app();
const shortTTL = app({ id: 'ttl-id', key: 'ttl-key', secret: 'ttl-secret', cache_ttl: '2s' });
const server = useHerald(heraldConfig({ apps: [main, shortTTL] }));

/** Every event a pusher-js channel emits, in order, as [name, data]. */
function record(channel) {
  const seen = [];
  channel.bind_global((name, data) => seen.push([name, data]));
  return seen;
}

/** The frames of `channel` a raw client receives, in order, until `count` have arrived. */
async function rawFramesOf(c, channel, count) {
  const out = [];
  while (out.length < count) out.push(await c.next((f) => f.channel === channel));
  return out;
}

describe('cache channels', () => {
  test('public cache-: a new pusher-js subscriber gets the last event right after subscription_succeeded', async (t) => {
    const name = uniq('cache-news-');
    await httpClient(server, main).trigger(name, 'headline', { n: 1 });

    const client = pusherClient(server, main, {}, t);
    const ch = client.subscribe(name);
    const seen = record(ch);
    const got = nextEvent(ch, 'headline');
    await subscribe(client, name);
    assert.deepEqual((await got).data, { n: 1 });
    assert.deepEqual(
      seen.map(([n]) => n),
      ['pusher:subscription_succeeded', 'headline'],
      `events in order: ${JSON.stringify(seen)}`,
    );
  });

  test('on the wire: the cached event is the frame right after subscription_succeeded; only the last one is kept', async (t) => {
    const name = uniq('cache-wire-');
    const lib = httpClient(server, main);
    await lib.trigger(name, 'first', { n: 1 });
    await lib.trigger(name, 'second', { n: 2 });

    const c = await rawConnect(server, main.key, { t });
    c.subscribe(name);
    const [ok, cached] = await rawFramesOf(c, name, 2);
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded', JSON.stringify(ok));
    assert.equal(cached.event, 'second', JSON.stringify(cached));
    assert.deepEqual(JSON.parse(cached.data), { n: 2 });
    await expectNothing((fail) => {
      const check = () => {
        const extra = c.take((f) => f.channel === name);
        if (extra.length) fail(extra);
      };
      const timer = setInterval(check, 50);
      return () => {
        clearInterval(timer);
        check();
      };
    }, 300);
  });

  test('a subscriber that is already there gets live events, not a replay; each new subscriber gets the cache', async (t) => {
    const name = uniq('cache-live-');
    const lib = httpClient(server, main);
    const first = pusherClient(server, main, {}, t);
    const { channel: c1 } = await subscribe(first, name);
    const seen1 = record(c1);
    const live = nextEvent(c1, 'tick');
    await lib.trigger(name, 'tick', { n: 7 });
    assert.deepEqual((await live).data, { n: 7 });

    for (let i = 0; i < 2; i++) {
      const late = pusherClient(server, main, {}, t);
      const ch = late.subscribe(name);
      const got = nextEvent(ch, 'tick');
      await subscribe(late, name);
      assert.deepEqual((await got).data, { n: 7 });
    }
    assert.deepEqual(
      seen1.filter(([n]) => n === 'tick'),
      [['tick', { n: 7 }]],
      'the first subscriber saw the event once',
    );
  });

  test('pusher:cache_miss when the channel has no cached event (pusher-js and raw)', async (t) => {
    const name = uniq('cache-empty-');
    const client = pusherClient(server, main, {}, t);
    const ch = client.subscribe(name);
    const seen = record(ch);
    const miss = nextEvent(ch, 'pusher:cache_miss');
    await subscribe(client, name);
    await miss;
    assert.deepEqual(
      seen.map(([n]) => n),
      ['pusher:subscription_succeeded', 'pusher:cache_miss'],
    );

    const c = await rawConnect(server, main.key, { t });
    c.subscribe(name);
    const [ok, f] = await rawFramesOf(c, name, 2);
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
    assert.equal(f.event, 'pusher:cache_miss', JSON.stringify(f));
  });

  test('a channel that is not a cache channel sends neither a cached event nor cache_miss', async (t) => {
    const name = uniq('plain-');
    await httpClient(server, main).trigger(name, 'old', { n: 1 });
    const c = await rawConnect(server, main.key, { t });
    await c.subscribeOK(name);
    await expectNothing((fail) => {
      const timer = setInterval(() => {
        const extra = c.take((f) => f.channel === name || f.event === 'pusher:cache_miss');
        if (extra.length) fail(extra);
      }, 50);
      return () => clearInterval(timer);
    }, 300);
  });

  test('private-cache-: the last event and cache_miss', async (t) => {
    const name = uniq('private-cache-acct-');
    const client = pusherClient(server, main, {}, t);
    const ch = client.subscribe(name);
    const miss = nextEvent(ch, 'pusher:cache_miss');
    await subscribe(client, name);
    await miss;

    await httpClient(server, main).trigger(name, 'balance', { v: 10 });
    const late = pusherClient(server, main, {}, t);
    const ch2 = late.subscribe(name);
    const got = nextEvent(ch2, 'balance');
    await subscribe(late, name);
    assert.deepEqual((await got).data, { v: 10 });
  });

  test('presence-cache-: the last event follows the roster', async (t) => {
    const name = uniq('presence-cache-room-');
    await httpClient(server, main).trigger(name, 'topic', { text: 'cats' });
    const client = pusherClient(server, main, { userId: 'pc-user' }, t);
    const ch = client.subscribe(name);
    const seen = record(ch);
    const got = nextEvent(ch, 'topic');
    await subscribe(client, name);
    assert.deepEqual((await got).data, { text: 'cats' });
    assert.equal(ch.members.count, 1);
    assert.deepEqual(
      seen.map(([n]) => n),
      ['pusher:subscription_succeeded', 'topic'],
    );

    // raw: the cached frame comes right after the roster
    const c = await rawConnect(server, main.key, { t });
    const channelData = { user_id: 'pc-raw', user_info: {} };
    c.subscribe(name, channelAuth(main, c.socketId, name, channelData));
    const [ok, cached] = await rawFramesOf(c, name, 2);
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
    assert.equal(cached.event, 'topic');
  });

  test('presence-cache-: cache_miss when there is none', async (t) => {
    const name = uniq('presence-cache-empty-');
    const client = pusherClient(server, main, { userId: 'pc-miss' }, t);
    const ch = client.subscribe(name);
    const miss = nextEvent(ch, 'pusher:cache_miss');
    await subscribe(client, name);
    await miss;
  });

  test('private-encrypted-cache-: pusher-js decrypts the cached event; cache_miss passes through', async (t) => {
    const encryptionMasterKeyBase64 = crypto.randomBytes(32).toString('base64');
    const name = uniq('private-encrypted-cache-vault-');
    const client0 = pusherClient(server, main, { encryptionMasterKeyBase64 }, t);
    const ch0 = client0.subscribe(name);
    const miss = nextEvent(ch0, 'pusher:cache_miss');
    await subscribe(client0, name);
    await miss;

    await httpClient(server, main, { encryptionMasterKeyBase64 }).trigger(name, 'opened', { code: 42 });
    const client = pusherClient(server, main, { encryptionMasterKeyBase64 }, t);
    const ch = client.subscribe(name);
    const got = nextEvent(ch, 'opened');
    await subscribe(client, name);
    assert.deepEqual((await got).data, { code: 42 });
  });

  test('cache_ttl (2s): the event is kept within the TTL and expires after it', async (t) => {
    const name = uniq('cache-ttl-');
    const triggeredAt = Date.now();
    await httpClient(server, shortTTL).trigger(name, 'price', { p: 3 });

    const early = await rawConnect(server, shortTTL.key, { t });
    early.subscribe(name);
    const [, cached] = await rawFramesOf(early, name, 2);
    assert.equal(cached.event, 'price', `within the TTL (${Date.now() - triggeredAt} ms after the trigger)`);

    // Nothing to await: the TTL is time passing. Wait until it has passed, with some margin.
    await delay(Math.max(0, triggeredAt + 2300 - Date.now()));
    const late = await rawConnect(server, shortTTL.key, { t });
    late.subscribe(name);
    const [ok, f] = await rawFramesOf(late, name, 2);
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
    assert.equal(f.event, 'pusher:cache_miss', `${Date.now() - triggeredAt} ms after the trigger: ${JSON.stringify(f)}`);
  });
});

describe('laravel-echo on a cache channel', () => {
  test('channel("cache-...").listen() gets the cached event; private("cache-...") too', async (t) => {
    const lib = httpClient(server, main);
    const pub = uniq('cache-echo-');
    const priv = uniq('cache-echo-priv-');
    await lib.trigger(pub, 'App\\Events\\Updated', { v: 1 });
    await lib.trigger(`private-${priv}`, 'saved', { v: 2 });

    const { echo, client } = echoClient(server, main, {}, t);
    t.after(() => echo.disconnect());
    const got = [];
    const both = withTimeout(
      new Promise((resolve) => {
        const push = (what) => (data) => {
          got.push([what, data]);
          if (got.length === 2) resolve();
        };
        echo.channel(pub).listen('Updated', push('public'));
        echo.private(priv).listen('.saved', push('private'));
      }),
      undefined,
      'both cached events through Echo',
    );
    await both;
    await subscribe(client, pub);
    assert.deepEqual(
      got.sort(),
      [
        ['private', { v: 2 }],
        ['public', { v: 1 }],
      ],
    );
  });
});
