// Signed-in users: watchlists (pusher_internal:watchlist_events), server-to-user events on every
// socket of a user, and terminate_connections (close 4009) for every socket of a user only.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  app,
  connected,
  expectNothing,
  heraldConfig,
  hmac,
  httpClient,
  libResult,
  nextEvent,
  nextMessage,
  pusherClient,
  rawConnect,
  uniq,
  useHerald,
  withTimeout,
} from '../harness.mjs';

const main = app();
const server = useHerald(heraldConfig({ apps: [main] }));

function userAuth(appCfg, socketId, userData) {
  const user_data = JSON.stringify(userData);
  return { auth: `${appCfg.key}:${hmac(appCfg.secret, `${socketId}::user::${user_data}`)}`, user_data };
}

/** A raw socket signed in as `userData`; waits for signin_success. */
async function rawSignedIn(t, userData) {
  const c = await rawConnect(server, main.key, { t });
  c.send({ event: 'pusher:signin', data: userAuth(main, c.socketId, userData) });
  const f = await c.next((f) => f.event === 'pusher:signin_success' || f.event === 'pusher:error');
  assert.equal(f.event, 'pusher:signin_success', JSON.stringify(f));
  return c;
}

/** A pusher-js client signed in as `userData`, with its #server-to-user channel subscribed. */
async function jsSignedIn(t, userData) {
  const client = pusherClient(server, main, { userData }, t);
  await connected(client);
  const ok = nextMessage(client, 'pusher:signin_success');
  client.signin();
  await ok;
  await withTimeout(client.user.signinDonePromise, undefined, 'pusher-js signin to complete');
  const ch = client.user.serverToUserChannel;
  await withTimeout(
    new Promise((resolve) => {
      if (ch.subscribed) resolve();
      else ch.bind('pusher:subscription_succeeded', resolve);
    }),
    undefined,
    `the ${ch.name} subscription`,
  );
  return client;
}

function watchlistData(f) {
  return typeof f.data === 'string' ? JSON.parse(f.data) : f.data;
}

const isWatchlist = (f) => f.event === 'pusher_internal:watchlist_events';

describe('watchlists', () => {
  test('pusher-js user.watchlist gets online when a watched user signs in and offline when it leaves', async (t) => {
    const a = uniq('wa-');
    const other = uniq('wo-');
    const watcher = await jsSignedIn(t, { id: uniq('watcher-'), watchlist: [a, uniq('never-')] });
    const onlines = [];
    watcher.user.watchlist.bind('online', (e) => onlines.push(e));

    const online = nextEvent(watcher.user.watchlist, 'online');
    // A user that is not on the watchlist signs in first: no event for it.
    const o = await rawSignedIn(t, { id: other });
    const target = await rawSignedIn(t, { id: a });
    assert.deepEqual((await online).data, { name: 'online', user_ids: [a] });

    const offline = nextEvent(watcher.user.watchlist, 'offline');
    target.close();
    assert.deepEqual((await offline).data, { name: 'offline', user_ids: [a] });
    o.close();
    assert.ok(
      onlines.every((e) => !e.user_ids.includes(other)),
      `no event for a user not on the watchlist: ${JSON.stringify(onlines)}`,
    );
  });

  test('on the wire: {"events":[{"name":"online","user_ids":[...]}]} without a channel; online on the first socket, offline after the last', async (t) => {
    const a = uniq('wa-');
    const w = await rawSignedIn(t, { id: uniq('watcher-'), watchlist: [a] });

    const s1 = await rawSignedIn(t, { id: a });
    const on = await w.next(isWatchlist);
    assert.equal(on.channel, undefined, JSON.stringify(on));
    assert.deepEqual(watchlistData(on), { events: [{ name: 'online', user_ids: [a] }] });

    // A second socket of the same user is not a second "online"; closing one of two is not "offline".
    const s2 = await rawSignedIn(t, { id: a });
    s1.close();
    await s1.closed;
    await expectNothing((fail) => {
      const timer = setInterval(() => {
        const got = w.take(isWatchlist);
        if (got.length) fail(got);
      }, 50);
      return () => clearInterval(timer);
    }, 400);

    s2.close();
    const off = await w.next(isWatchlist);
    assert.deepEqual(watchlistData(off), { events: [{ name: 'offline', user_ids: [a] }] });
  });

  test('a watched user already online when the watcher signs in is reported online', async (t) => {
    const a = uniq('wa-');
    const b = uniq('wb-');
    await rawSignedIn(t, { id: a });
    await rawSignedIn(t, { id: b });
    const w = await rawSignedIn(t, { id: uniq('watcher-'), watchlist: [a, b, uniq('absent-')] });
    const online = new Set();
    await withTimeout(
      (async () => {
        while (online.size < 2) {
          const f = await w.next(isWatchlist);
          for (const e of watchlistData(f).events) {
            assert.equal(e.name, 'online', JSON.stringify(f));
            for (const id of e.user_ids) online.add(id);
          }
        }
      })(),
      undefined,
      'online events for the two users already signed in',
    );
    assert.deepEqual([...online].sort(), [a, b].sort());
  });

  test('a watchlist of 100 ids is accepted; 101 gets pusher:error and no signin_success', async (t) => {
    const ids = (n) => Array.from({ length: n }, (_, i) => `wl-${i}`);
    await rawSignedIn(t, { id: uniq('hundred-'), watchlist: ids(100) });

    const c = await rawConnect(server, main.key, { t });
    c.send({ event: 'pusher:signin', data: userAuth(main, c.socketId, { id: uniq('too-many-'), watchlist: ids(101) }) });
    const f = await c.next((f) => f.event === 'pusher:signin_success' || f.event === 'pusher:error');
    assert.equal(f.event, 'pusher:error', JSON.stringify(f));
    // The connection stays usable.
    c.send({ event: 'pusher:ping', data: {} });
    await c.next('pusher:pong');
  });

  test('pusher-js signin() with 101 watchlist ids gets pusher:error', async (t) => {
    const client = pusherClient(server, main, { userData: { id: uniq('js-too-many-'), watchlist: Array.from({ length: 101 }, (_, i) => `x${i}`) } }, t);
    await connected(client);
    const err = nextMessage(client, 'pusher:error');
    const ok = [];
    client.connection.bind('message', (m) => m.event === 'pusher:signin_success' && ok.push(m));
    client.signin();
    await err;
    assert.deepEqual(ok, []);
  });
});

describe('server-to-user events', () => {
  test('sendToUser reaches every socket of the user and no other user', async (t) => {
    const carol = uniq('carol-');
    const c1 = await jsSignedIn(t, { id: carol });
    const c2 = await jsSignedIn(t, { id: carol });
    const dave = await jsSignedIn(t, { id: uniq('dave-') });

    const got1 = nextEvent(c1.user, 'notice');
    const got2 = nextEvent(c2.user, 'notice');
    const res = await libResult(httpClient(server, main).sendToUser(carol, 'notice', { text: 'hi' }));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual((await got1).data, { text: 'hi' });
    assert.deepEqual((await got2).data, { text: 'hi' });
    await expectNothing((fail) => {
      const h = (data) => fail(`dave got ${JSON.stringify(data)}`);
      dave.user.bind('notice', h);
      return () => dave.user.unbind('notice', h);
    }, 300);
  });

  test('a socket cannot subscribe to another user\'s #server-to-user channel', async (t) => {
    const c = await rawSignedIn(t, { id: uniq('eve-') });
    c.subscribe(`#server-to-user-${uniq('victim-')}`);
    const f = await c.next((f) => ['pusher_internal:subscription_succeeded', 'pusher:subscription_error', 'pusher:error'].includes(f.event));
    assert.notEqual(f.event, 'pusher_internal:subscription_succeeded', JSON.stringify(f));
  });
});

describe('terminate_connections', () => {
  // Raw sockets only: a pusher-js client closed with 4009 leaves a 30 s close timer of its
  // bundled faye-websocket running (it closes the already closed socket again), which would hold
  // the test process for 30 s.
  test('closes every socket of the user with 4009 and leaves other users connected', async (t) => {
    const erin = uniq('erin-');
    const r1 = await rawSignedIn(t, { id: erin });
    const r2 = await rawSignedIn(t, { id: erin });
    const frank = await rawSignedIn(t, { id: uniq('frank-') });
    const unsigned = await rawConnect(server, main.key, { t });

    const res = await libResult(httpClient(server, main).terminateUserConnections(erin));
    assert.equal(res.status, 200, res.text);
    assert.equal((await r1.closeCode()).code, 4009);
    assert.equal((await r2.closeCode()).code, 4009);

    for (const c of [frank, unsigned]) {
      assert.ok(c.isOpen, 'another socket stayed open');
      c.send({ event: 'pusher:ping', data: {} });
      await c.next('pusher:pong');
    }
  });

  test('for a user with no sockets it answers 200 and closes nothing', async (t) => {
    const other = await rawSignedIn(t, { id: uniq('bystander-') });
    const res = await libResult(httpClient(server, main).terminateUserConnections(uniq('nobody-')));
    assert.equal(res.status, 200, res.text);
    other.send({ event: 'pusher:ping', data: {} });
    await other.next('pusher:pong');
  });
});
