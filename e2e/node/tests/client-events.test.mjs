// Client events (client-*): relayed to the other subscribers of private and presence channels,
// never echoed, carrying user_id on presence channels; refused on public channels, on apps with
// client events off, from unsubscribed sockets, and over the per-connection rate limit (4301).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  app,
  channelAuth,
  expectNothing,
  heraldConfig,
  nextEvent,
  pusherClient,
  rawConnect,
  subscribe,
  uniq,
  useHerald,
} from '../harness.mjs';

const main = app();
const quiet = app({ id: 'quiet-id', key: 'quiet-key', secret: 'quiet-secret', client_events: false });
const server = useHerald(heraldConfig({ apps: [main, quiet] }));

async function joined(t, appCfg, channel, userId) {
  const c = await rawConnect(server, appCfg.key, { t });
  const channelData = channel.startsWith('presence-') ? { user_id: userId, user_info: {} } : undefined;
  const auth = channel.startsWith('private-') || channel.startsWith('presence-') ? channelAuth(appCfg, c.socketId, channel, channelData) : {};
  await c.subscribeOK(channel, auth);
  return c;
}

function errorData(frame) {
  return typeof frame.data === 'string' ? JSON.parse(frame.data) : frame.data;
}

/** Asserts that `clients` receive no `event` during a short window. */
function noneReceive(clients, event, ms = 300) {
  return expectNothing((fail) => {
    const timer = setInterval(() => {
      for (const c of clients) if (c.take(event).length) fail(`${event} was delivered`);
    }, 20);
    return () => clearInterval(timer);
  }, ms);
}

describe('client events delivered', () => {
  test('private channel: to the others, not back to the sender', async (t) => {
    const name = uniq('private-chat-');
    const [a, b, c] = [await joined(t, main, name), await joined(t, main, name), await joined(t, main, name)];
    a.send({ event: 'client-typing', channel: name, data: { who: 'a' } });
    for (const r of [b, c]) {
      const f = await r.next('client-typing');
      assert.equal(f.channel, name);
      const data = typeof f.data === 'string' ? JSON.parse(f.data) : f.data;
      assert.deepEqual(data, { who: 'a' });
      assert.equal(f.user_id, undefined, 'private channels carry no user_id');
    }
    await noneReceive([a], 'client-typing');
  });

  test('presence channel: the frame carries the sender user_id', async (t) => {
    const name = uniq('presence-chat-');
    const a = await joined(t, main, name, 'user-a');
    const b = await joined(t, main, name, 'user-b');
    a.send({ event: 'client-wave', channel: name, data: { hi: true } });
    const f = await b.next('client-wave');
    assert.equal(f.user_id, 'user-a');
    await noneReceive([a], 'client-wave');
  });

  test('pusher-js channel.trigger reaches another pusher-js client with user_id metadata', async (t) => {
    const name = uniq('presence-pjs-');
    const sender = pusherClient(server, main, { userId: 'sender' }, t);
    const receiver = pusherClient(server, main, { userId: 'receiver' }, t);
    const { channel: cs } = await subscribe(sender, name);
    const { channel: cr } = await subscribe(receiver, name);
    const got = nextEvent(cr, 'client-ping');
    assert.equal(cs.trigger('client-ping', { n: 1 }), true);
    const { data, metadata } = await got;
    assert.deepEqual(data, { n: 1 });
    assert.equal(metadata.user_id, 'sender');
  });
});

describe('client events refused', () => {
  // Pusher answers refused client events with pusher:error whose code is null (only the rate
  // limit has a code, 4301); herald does the same, so these assert the null and the message.
  test('on a public channel: pusher:error (code null, as Pusher), nothing delivered', async (t) => {
    const name = uniq('public-chat-');
    const a = await joined(t, main, name);
    const b = await joined(t, main, name);
    a.send({ event: 'client-typing', channel: name, data: {} });
    const err = await a.next('pusher:error');
    assert.equal(errorData(err).code, null, JSON.stringify(err));
    assert.match(errorData(err).message, /private and presence channels/);
    await noneReceive([b], 'client-typing');
  });

  test('when the app has client_events off: pusher:error (code null, as Pusher), nothing delivered', async (t) => {
    const name = uniq('private-off-');
    const a = await joined(t, quiet, name);
    const b = await joined(t, quiet, name);
    a.send({ event: 'client-typing', channel: name, data: {} });
    const err = await a.next('pusher:error');
    assert.equal(errorData(err).code, null, JSON.stringify(err));
    assert.match(errorData(err).message, /enable this feature/);
    await noneReceive([b], 'client-typing');
  });

  test('from a socket not subscribed to the channel: nothing delivered', async (t) => {
    const name = uniq('private-members-');
    const b = await joined(t, main, name);
    const outsider = await rawConnect(server, main.key, { t });
    outsider.send({ event: 'client-sneak', channel: name, data: {} });
    await noneReceive([b], 'client-sneak', 400);
    // The outsider may get a pusher:error but stays connected.
    outsider.send({ event: 'pusher:ping', data: {} });
    await outsider.next('pusher:pong');
  });

  test('over max_client_events_per_second: pusher:error 4301, at most 10 delivered', async (t) => {
    const name = uniq('private-flood-');
    const a = await joined(t, main, name);
    const b = await joined(t, main, name);
    for (let i = 0; i < 20; i++) a.send({ event: 'client-flood', channel: name, data: { i } });
    const err = await a.next('pusher:error');
    assert.equal(errorData(err).code, 4301, JSON.stringify(err));
    // The connection survives the rejection; a ping round trip also lets delivery settle.
    a.send({ event: 'pusher:ping', data: {} });
    await a.next('pusher:pong');
    await b.next('client-flood');
    await noneReceive([], 'client-flood', 300);
    const delivered = 1 + b.take('client-flood').length;
    assert.ok(delivered <= 10, `${delivered} client events delivered in one burst, limit is 10`);
  });
});
