// The HTTP API through the `pusher` library: trigger (one channel, many, socket_id exclusion,
// info), triggerBatch, and the channel queries.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  apiRequest,
  app,
  channelAuth,
  expectNothing,
  heraldConfig,
  httpClient,
  libResult,
  rawConnect,
  uniq,
  useHerald,
} from '../harness.mjs';

const main = app();
const server = useHerald(heraldConfig({ apps: [main] }));
const http = () => httpClient(server, main);

async function subscriber(t, channel, userId) {
  const c = await rawConnect(server, main.key, { t });
  let auth = {};
  if (channel.startsWith('presence-')) auth = channelAuth(main, c.socketId, channel, { user_id: userId, user_info: {} });
  else if (channel.startsWith('private-')) auth = channelAuth(main, c.socketId, channel);
  await c.subscribeOK(channel, auth);
  return c;
}

describe('trigger', () => {
  test('single channel: 200 and delivered', async (t) => {
    const name = uniq('one-');
    const c = await subscriber(t, name);
    const res = await libResult(http().trigger(name, 'ev', { x: 1 }));
    assert.equal(res.status, 200);
    assert.equal(typeof res.json, 'object');
    assert.deepEqual(JSON.parse((await c.next('ev')).data), { x: 1 });
  });

  test('several channels in one call: each subscriber gets it once', async (t) => {
    const names = [uniq('multi-a-'), uniq('multi-b-'), uniq('private-multi-c-')];
    const subs = await Promise.all(names.map((n) => subscriber(t, n)));
    const both = await rawConnect(server, main.key, { t });
    await both.subscribeOK(names[0]);
    await both.subscribeOK(names[1]);
    const res = await libResult(http().trigger(names, 'multi', 'payload'));
    assert.equal(res.status, 200);
    for (const [i, c] of subs.entries()) {
      const f = await c.next('multi');
      assert.equal(f.channel, names[i]);
      assert.equal(f.data, 'payload');
    }
    const a = await both.next((f) => f.event === 'multi' && f.channel === names[0]);
    const b = await both.next((f) => f.event === 'multi' && f.channel === names[1]);
    assert.ok(a && b);
  });

  test('100 channels in one call is accepted', async (t) => {
    const names = Array.from({ length: 100 }, (_, i) => `hundred-${i}-${uniq()}`);
    const c = await subscriber(t, names[99]);
    const res = await libResult(http().trigger(names, 'many', {}));
    assert.equal(res.status, 200);
    await c.next('many');
  });

  test('socket_id excludes that socket only', async (t) => {
    const name = uniq('exclude-');
    const sender = await subscriber(t, name);
    const other = await subscriber(t, name);
    const res = await libResult(http().trigger(name, 'echo', { n: 1 }, { socket_id: sender.socketId }));
    assert.equal(res.status, 200);
    await other.next('echo');
    await expectNothing((fail) => {
      const timer = setInterval(() => sender.take('echo').length && fail('excluded socket got the event'), 20);
      return () => clearInterval(timer);
    }, 300);
  });

  test('info=subscription_count returns the count per channel', async (t) => {
    const name = uniq('info-');
    await subscriber(t, name);
    await subscriber(t, name);
    const res = await libResult(http().trigger(name, 'ev', {}, { info: 'subscription_count' }));
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { channels: { [name]: { subscription_count: 2 } } });
  });

  test('info=user_count,subscription_count on a presence channel', async (t) => {
    const name = uniq('presence-info-');
    await subscriber(t, name, 'u1');
    await subscriber(t, name, 'u1');
    await subscriber(t, name, 'u2');
    const res = await libResult(http().trigger(name, 'ev', {}, { info: 'user_count,subscription_count' }));
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { channels: { [name]: { user_count: 2, subscription_count: 3 } } });
  });
});

describe('triggerBatch', () => {
  test('each event of a batch reaches its channel', async (t) => {
    const a = uniq('batch-a-');
    const b = uniq('batch-b-');
    const ca = await subscriber(t, a);
    const cb = await subscriber(t, b);
    const res = await libResult(
      http().triggerBatch([
        { channel: a, name: 'first', data: { n: 1 } },
        { channel: b, name: 'second', data: 'two' },
      ]),
    );
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse((await ca.next('first')).data), { n: 1 });
    assert.equal((await cb.next('second')).data, 'two');
  });

  test('a batch of 10 is accepted', async (t) => {
    const name = uniq('batch10-');
    const c = await subscriber(t, name);
    const batch = Array.from({ length: 10 }, (_, i) => ({ channel: name, name: `e${i}`, data: { i } }));
    const res = await libResult(http().triggerBatch(batch));
    assert.equal(res.status, 200);
    for (let i = 0; i < 10; i++) await c.next(`e${i}`);
  });

  test('socket_id in a batch item excludes that socket', async (t) => {
    const name = uniq('batch-ex-');
    const sender = await subscriber(t, name);
    const other = await subscriber(t, name);
    const res = await libResult(http().triggerBatch([{ channel: name, name: 'b', data: {}, socket_id: sender.socketId }]));
    assert.equal(res.status, 200);
    await other.next('b');
    await expectNothing((fail) => {
      const timer = setInterval(() => sender.take('b').length && fail('excluded socket got the event'), 20);
      return () => clearInterval(timer);
    }, 300);
  });
});

describe('channel queries', () => {
  test('GET /channels lists occupied channels, filtered by prefix', async (t) => {
    const tag = uniq('q');
    const names = [`${tag}-a`, `${tag}-b`, `presence-${tag}`];
    for (const n of names) await subscriber(t, n, 'u');
    const all = await libResult(http().get({ path: '/channels' }));
    assert.equal(all.status, 200);
    for (const n of names) assert.ok(n in all.json.channels, `${n} missing from ${all.text}`);

    const filtered = await libResult(http().get({ path: '/channels', params: { filter_by_prefix: tag } }));
    assert.equal(filtered.status, 200);
    assert.deepEqual(Object.keys(filtered.json.channels).sort(), [`${tag}-a`, `${tag}-b`]);
  });

  test('GET /channels?filter_by_prefix=presence-&info=user_count', async (t) => {
    const name = `presence-${uniq('count-')}`;
    await subscriber(t, name, 'u1');
    await subscriber(t, name, 'u1');
    await subscriber(t, name, 'u2');
    const res = await libResult(http().get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } }));
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.channels[name], { user_count: 2 });
    for (const n of Object.keys(res.json.channels)) assert.ok(n.startsWith('presence-'), n);
  });

  test('GET /channels?info=user_count without a presence- filter is 400', async () => {
    const res = await libResult(http().get({ path: '/channels', params: { info: 'user_count' } }));
    assert.equal(res.status, 400);
    assert.equal(typeof res.json?.error, 'string', res.text);
  });

  test('GET /channels/{presence}?info=subscription_count,user_count', async (t) => {
    const name = `presence-${uniq('one-')}`;
    await subscriber(t, name, 'u1');
    await subscriber(t, name, 'u1');
    await subscriber(t, name, 'u2');
    const res = await libResult(http().get({ path: `/channels/${name}`, params: { info: 'subscription_count,user_count' } }));
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { occupied: true, subscription_count: 3, user_count: 2 });
  });

  test('GET /channels/{public}?info=subscription_count', async (t) => {
    const name = uniq('pub-one-');
    await subscriber(t, name);
    const res = await libResult(http().get({ path: `/channels/${name}`, params: { info: 'subscription_count' } }));
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { occupied: true, subscription_count: 1 });
  });

  test('GET /channels/{name} of an empty channel is {occupied: false}', async () => {
    const res = await libResult(http().get({ path: `/channels/${uniq('nobody-')}` }));
    assert.equal(res.status, 200);
    assert.equal(res.json.occupied, false);
  });

  test('a channel is no longer occupied after its last subscriber leaves', async (t) => {
    const name = uniq('vacate-');
    const c = await subscriber(t, name);
    c.close();
    await c.closed;
    // Vacating is asynchronous: poll within a bound.
    for (let i = 0; ; i++) {
      const res = await libResult(http().get({ path: `/channels/${name}` }));
      if (res.json?.occupied === false) break;
      if (i >= 40) assert.fail(`still occupied: ${res.text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  test('GET /channels/{presence}/users lists distinct user ids', async (t) => {
    const name = `presence-${uniq('users-')}`;
    await subscriber(t, name, 'ann');
    await subscriber(t, name, 'ann');
    await subscriber(t, name, 'bob');
    const res = await libResult(http().get({ path: `/channels/${name}/users` }));
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.json.users.sort((x, y) => x.id.localeCompare(y.id)),
      [{ id: 'ann' }, { id: 'bob' }],
    );
  });

  test('GET /channels/{non-presence}/users is 400', async (t) => {
    const name = uniq('private-nousers-');
    await subscriber(t, name);
    const res = await apiRequest(server, main, { path: `/channels/${name}/users` });
    assert.equal(res.status, 400);
    assert.equal(typeof res.json?.error, 'string', res.text);
  });
});
