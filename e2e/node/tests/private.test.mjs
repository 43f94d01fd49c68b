// Private channels: signed subscriptions work; bad or missing signatures get
// pusher:subscription_error {type: 'AuthError', error, status: 401} and leave the socket usable.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  app,
  channelAuth,
  heraldConfig,
  httpClient,
  nextEvent,
  pusherClient,
  rawConnect,
  subscribe,
  uniq,
  useHerald,
} from '../harness.mjs';

const main = app();
const other = app({ id: 'other-id', key: 'other-key', secret: 'other-secret' });
const server = useHerald(heraldConfig({ apps: [main, other] }));

/** Waits for the subscription outcome frame of `channel` on a raw client. */
function outcome(c, channel) {
  return c.next(
    (f) =>
      (f.channel === channel && ['pusher_internal:subscription_succeeded', 'pusher:subscription_error'].includes(f.event)) ||
      f.event === 'pusher:error',
  );
}

function assertAuthError(frame, channel) {
  assert.equal(frame.event, 'pusher:subscription_error', `expected subscription_error, got ${JSON.stringify(frame)}`);
  assert.equal(frame.channel, channel);
  assert.equal(typeof frame.data, 'object', `data should be an object on the wire: ${JSON.stringify(frame)}`);
  assert.equal(frame.data.type, 'AuthError');
  assert.equal(typeof frame.data.error, 'string');
  assert.equal(frame.data.status, 401);
}

describe('private channels', () => {
  test('pusher-js subscribes with a valid signature and receives events', async (t) => {
    const client = pusherClient(server, main, {}, t);
    const name = uniq('private-orders-');
    const { channel } = await subscribe(client, name);
    const got = nextEvent(channel, 'paid');
    await httpClient(server, main).trigger(name, 'paid', { amount: 10 });
    assert.deepEqual((await got).data, { amount: 10 });
  });

  test('raw subscribe with a valid signature succeeds', async (t) => {
    const c = await rawConnect(server, main.key, { t });
    const name = uniq('private-raw-');
    await c.subscribeOK(name, channelAuth(main, c.socketId, name));
  });

  test('pusher-js with a wrong secret gets AuthError 401 on the channel', async (t) => {
    const client = pusherClient(server, main, { secret: 'wrong-secret' }, t);
    const name = uniq('private-bad-');
    const err = await subscribe(client, name).then(
      () => assert.fail('subscription should have failed'),
      (e) => e,
    );
    assert.ok(err.data, String(err));
    assert.equal(err.data.type, 'AuthError');
    assert.equal(err.data.status, 401);
  });

  const badAuth = [
    ['a wrong signature', (c, name) => ({ auth: `${main.key}:${'0'.repeat(64)}` })],
    ['a signature made with a wrong secret', (c, name) => channelAuth(main, c.socketId, name, undefined, { secret: 'nope' })],
    ['a signature for another socket id', (c, name) => channelAuth(main, '1234.5678', name)],
    ['a signature for another channel', (c, name) => channelAuth(main, c.socketId, `${name}-other`)],
    ["another app's key and secret", (c, name) => channelAuth(other, c.socketId, name)],
    ['no auth field', () => ({})],
    ['an auth without a colon', () => ({ auth: 'garbage' })],
  ];
  for (const [why, makeAuth] of badAuth) {
    test(`${why} -> subscription_error AuthError 401, socket still usable`, async (t) => {
      const c = await rawConnect(server, main.key, { t });
      const name = uniq('private-x-');
      c.subscribe(name, makeAuth(c, name));
      assertAuthError(await outcome(c, name), name);

      // Not subscribed: an event on the channel does not arrive...
      const good = uniq('private-ok-');
      await c.subscribeOK(good, channelAuth(main, c.socketId, good));
      await httpClient(server, main).trigger([name, good], 'probe', {});
      await c.next((f) => f.event === 'probe' && f.channel === good);
      assert.deepEqual(c.take((f) => f.event === 'probe' && f.channel === name), []);
      // ...and the socket still works.
      c.send({ event: 'pusher:ping', data: {} });
      await c.next('pusher:pong');
    });
  }
});
