// Presence channels: the roster in subscription_succeeded, member_added / member_removed, one user
// on several sockets counted once, and the member-count and member-size limits.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  app,
  channelAuth,
  collectEvents,
  expectNothing,
  heraldConfig,
  httpClient,
  libResult,
  nextEvent,
  pusherClient,
  rawConnect,
  subscribe,
  uniq,
  useHerald,
} from '../harness.mjs';

const main = app();
const small = app({ id: 'small-id', key: 'small-key', secret: 'small-secret', limits: { max_presence_members: 2 } });
const server = useHerald(heraldConfig({ apps: [main, small] }));

/** Raw subscribe to a presence channel as `user_id` with `user_info`; returns the outcome frame. */
async function rawJoin(t, appCfg, channel, user_id, user_info = {}) {
  const c = await rawConnect(server, appCfg.key, { t });
  const channelData = { user_id, user_info };
  c.subscribe(channel, channelAuth(appCfg, c.socketId, channel, channelData));
  const f = await c.next(
    (f) =>
      (f.channel === channel && ['pusher_internal:subscription_succeeded', 'pusher:subscription_error'].includes(f.event)) ||
      f.event === 'pusher:error',
  );
  return { c, f };
}

describe('presence roster', () => {
  test('subscription_succeeded carries {presence: {ids, hash, count}} as a JSON string', async (t) => {
    const name = uniq('presence-roster-');
    const { f } = await rawJoin(t, main, name, 'alice', { name: 'Alice', tags: ['x'] });
    assert.equal(f.event, 'pusher_internal:subscription_succeeded', JSON.stringify(f));
    assert.equal(typeof f.data, 'string');
    const data = JSON.parse(f.data);
    assert.deepEqual(data, { presence: { ids: ['alice'], hash: { alice: { name: 'Alice', tags: ['x'] } }, count: 1 } });

    const { f: f2 } = await rawJoin(t, main, name, 'bob', { name: 'Bob' });
    const roster = JSON.parse(f2.data).presence;
    assert.equal(roster.count, 2);
    assert.deepEqual([...roster.ids].sort(), ['alice', 'bob']);
    assert.deepEqual(roster.hash, { alice: { name: 'Alice', tags: ['x'] }, bob: { name: 'Bob' } });
  });

  test('pusher-js members, member_added and member_removed', async (t) => {
    const name = uniq('presence-room-');
    const alice = pusherClient(server, main, { userId: 'alice', userInfo: { name: 'Alice' } }, t);
    const { channel: ca } = await subscribe(alice, name);
    assert.equal(ca.members.count, 1);
    assert.deepEqual(ca.members.me, { id: 'alice', info: { name: 'Alice' } });

    const added = nextEvent(ca, 'pusher:member_added');
    const bob = pusherClient(server, main, { userId: 'bob', userInfo: { name: 'Bob' } }, t);
    const { channel: cb } = await subscribe(bob, name);
    assert.deepEqual((await added).data, { id: 'bob', info: { name: 'Bob' } });
    assert.equal(ca.members.count, 2);
    assert.equal(cb.members.count, 2);
    assert.deepEqual(cb.members.get('alice'), { id: 'alice', info: { name: 'Alice' } });

    const removed = nextEvent(ca, 'pusher:member_removed');
    bob.disconnect();
    assert.deepEqual((await removed).data, { id: 'bob', info: { name: 'Bob' } });
    assert.equal(ca.members.count, 1);
  });

  test('member_added on the wire is {user_id, user_info}; member_removed is {user_id}', async (t) => {
    const name = uniq('presence-wire-');
    const { c: watcher } = await rawJoin(t, main, name, 'watcher');
    const { c: joiner } = await rawJoin(t, main, name, 'joiner', { role: 'guest' });
    const added = await watcher.next('pusher_internal:member_added');
    assert.equal(added.channel, name);
    assert.deepEqual(JSON.parse(added.data), { user_id: 'joiner', user_info: { role: 'guest' } });
    joiner.send({ event: 'pusher:unsubscribe', data: { channel: name } });
    const removed = await watcher.next('pusher_internal:member_removed');
    assert.deepEqual(JSON.parse(removed.data), { user_id: 'joiner' });
  });

  test('one user on two sockets is one member', async (t) => {
    const name = uniq('presence-multi-');
    const { c: watcher } = await rawJoin(t, main, name, 'watcher');
    const { c: s1, f: f1 } = await rawJoin(t, main, name, 'same-user', { n: 1 });
    assert.equal(f1.event, 'pusher_internal:subscription_succeeded');
    await watcher.next('pusher_internal:member_added');

    const { c: s2, f: f2 } = await rawJoin(t, main, name, 'same-user', { n: 1 });
    assert.equal(f2.event, 'pusher_internal:subscription_succeeded');
    assert.equal(JSON.parse(f2.data).presence.count, 2, 'watcher + same-user');

    const users = await libResult(httpClient(server, main).get({ path: `/channels/${name}/users` }));
    assert.equal(users.status, 200);
    assert.deepEqual(users.json.users.map((u) => u.id).sort(), ['same-user', 'watcher']);

    // A second socket of a present user is not a new member...
    // ...and the first of its two sockets leaving does not remove it.
    s1.close();
    await s1.closed;
    await expectNothing((fail) => {
      const timer = setInterval(() => {
        const got = watcher.take((f) => f.event.startsWith('pusher_internal:member_'));
        if (got.length) fail(got);
      }, 20);
      return () => clearInterval(timer);
    }, 500);

    s2.close();
    const removed = await watcher.next('pusher_internal:member_removed');
    assert.deepEqual(JSON.parse(removed.data), { user_id: 'same-user' });
  });

  test('pusher-js: a user joining twice gives one member_added and keeps count', async (t) => {
    const name = uniq('presence-twice-');
    const watcher = pusherClient(server, main, { userId: 'w' }, t);
    const { channel: cw } = await subscribe(watcher, name);
    const adds = collectEvents(cw, 'pusher:member_added');
    const first = nextEvent(cw, 'pusher:member_added');
    const u1 = pusherClient(server, main, { userId: 'dup', userInfo: { v: 1 } }, t);
    await subscribe(u1, name);
    await first;
    const u2 = pusherClient(server, main, { userId: 'dup', userInfo: { v: 1 } }, t);
    const { channel: c2 } = await subscribe(u2, name);
    assert.equal(c2.members.count, 2);
    await expectNothing((fail) => {
      const timer = setInterval(() => adds.length > 1 && fail('second member_added'), 20);
      return () => clearInterval(timer);
    }, 400);
    adds.stop();
    assert.equal(adds.length, 1);
    assert.equal(cw.members.count, 2);
  });
});

describe('presence limits', () => {
  test('with max_presence_members 2 the third distinct user gets subscription_error', async (t) => {
    const name = uniq('presence-full-');
    const a = await rawJoin(t, small, name, 'u1');
    assert.equal(a.f.event, 'pusher_internal:subscription_succeeded');
    const b = await rawJoin(t, small, name, 'u2');
    assert.equal(b.f.event, 'pusher_internal:subscription_succeeded');
    const c = await rawJoin(t, small, name, 'u3');
    assert.equal(c.f.event, 'pusher:subscription_error', JSON.stringify(c.f));
    assert.equal(c.f.channel, name);
    // u3 is not a member: the others saw no member_added for it.
    c.c.send({ event: 'pusher:ping', data: {} });
    await c.c.next('pusher:pong');
    assert.deepEqual(
      a.c.take((f) => f.event === 'pusher_internal:member_added' && JSON.parse(f.data).user_id === 'u3'),
      [],
    );
    // A member already present may open another socket: members are users, not sockets.
    const again = await rawJoin(t, small, name, 'u1');
    assert.equal(again.f.event, 'pusher_internal:subscription_succeeded', JSON.stringify(again.f));
  });

  test('a slot frees up when a member leaves', async (t) => {
    const name = uniq('presence-free-');
    const a = await rawJoin(t, small, name, 'u1');
    await rawJoin(t, small, name, 'u2');
    a.c.send({ event: 'pusher:unsubscribe', data: { channel: name } });
    a.c.send({ event: 'pusher:ping', data: {} });
    await a.c.next('pusher:pong');
    // The roster may drop u1 asynchronously; bounded retries instead of a sleep.
    for (let i = 0; ; i++) {
      const c = await rawJoin(t, small, name, 'u3');
      if (c.f.event === 'pusher_internal:subscription_succeeded') break;
      c.c.close();
      if (i >= 20) assert.fail(`u3 never admitted after u1 left: ${JSON.stringify(c.f)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  test('user_info over max_presence_member_size gets subscription_error', async (t) => {
    const name = uniq('presence-big-');
    const { c, f } = await rawJoin(t, main, name, 'big', { blob: 'x'.repeat(1100) });
    assert.equal(f.event, 'pusher:subscription_error', JSON.stringify(f));
    assert.equal(f.channel, name);
    c.send({ event: 'pusher:ping', data: {} });
    await c.next('pusher:pong');
  });

  test('user_info just under max_presence_member_size is accepted', async (t) => {
    const name = uniq('presence-fits-');
    // {"blob":"xxx..."} is 11 bytes of JSON around the string.
    const { f } = await rawJoin(t, main, name, 'fits', { blob: 'x'.repeat(1000) });
    assert.equal(f.event, 'pusher_internal:subscription_succeeded', JSON.stringify(f));
  });

  test('presence subscribe without channel_data is refused', async (t) => {
    const c = await rawConnect(server, main.key, { t });
    const name = uniq('presence-nodata-');
    c.subscribe(name, channelAuth(main, c.socketId, name));
    const f = await c.next((f) => f.channel === name || f.event === 'pusher:error');
    assert.notEqual(f.event, 'pusher_internal:subscription_succeeded', JSON.stringify(f));
  });
});
