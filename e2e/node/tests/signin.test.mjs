// User authentication (pusher:signin): success, bad signatures, the sign-in deadline of apps that
// require it (close 4009), and server-to-user events for a signed-in user.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  app,
  connected,
  expectNothing,
  heraldConfig,
  hmac,
  httpClient,
  nextEvent,
  nextMessage,
  pusherClient,
  rawConnect,
  useHerald,
  withTimeout,
} from '../harness.mjs';

const main = app();
const strict = app({
  id: 'strict-id',
  key: 'strict-key',
  secret: 'strict-secret',
  user_authentication: true,
  user_authentication_timeout: '1s',
});
const server = useHerald(heraldConfig({ apps: [main, strict] }));

function userAuth(appCfg, socketId, userData, secret = appCfg.secret) {
  const user_data = JSON.stringify(userData);
  return { auth: `${appCfg.key}:${hmac(secret, `${socketId}::user::${user_data}`)}`, user_data };
}

describe('pusher:signin', () => {
  test('pusher-js signin() gets pusher:signin_success with the user data', async (t) => {
    const client = pusherClient(server, main, { userData: { id: 'alice', name: 'Alice' } }, t);
    await connected(client);
    const ok = nextMessage(client, 'pusher:signin_success');
    client.signin();
    const msg = await ok;
    assert.deepEqual(JSON.parse(msg.data.user_data), { id: 'alice', name: 'Alice' });
    await withTimeout(client.user.signinDonePromise, undefined, 'pusher-js signin to complete');
    assert.equal(client.user.user_data.id, 'alice');
  });

  test('raw signin with a valid signature gets signin_success', async (t) => {
    const c = await rawConnect(server, main.key, { t });
    c.send({ event: 'pusher:signin', data: userAuth(main, c.socketId, { id: 'raw-user' }) });
    const f = await c.next((f) => f.event === 'pusher:signin_success' || f.event === 'pusher:error');
    assert.equal(f.event, 'pusher:signin_success', JSON.stringify(f));
  });

  test('pusher-js signin() with a wrong secret gets pusher:error', async (t) => {
    const client = pusherClient(server, main, { userData: { id: 'mallory' }, secret: 'wrong' }, t);
    await connected(client);
    const err = nextMessage(client, 'pusher:error');
    client.signin();
    const msg = await err;
    assert.equal(msg.event, 'pusher:error');
  });

  const bad = [
    ['a wrong secret', (c) => userAuth(main, c.socketId, { id: 'u' }, 'wrong')],
    ['another socket id', (c) => userAuth(main, '1.2', { id: 'u' })],
    ['user data without an id', (c) => userAuth(main, c.socketId, { name: 'no id' })],
    ['user_data that is not JSON', (c) => ({ auth: `${main.key}:${hmac(main.secret, `${c.socketId}::user::nope`)}`, user_data: 'nope' })],
  ];
  for (const [why, make] of bad) {
    test(`raw signin with ${why} gets pusher:error, not signin_success`, async (t) => {
      const c = await rawConnect(server, main.key, { t });
      c.send({ event: 'pusher:signin', data: make(c) });
      const f = await c.next((f) => f.event === 'pusher:signin_success' || f.event === 'pusher:error');
      assert.equal(f.event, 'pusher:error', JSON.stringify(f));
    });
  }

  test('sendToUser reaches the signed-in pusher-js user', async (t) => {
    const client = pusherClient(server, main, { userData: { id: 'bob' } }, t);
    await connected(client);
    const ok = nextMessage(client, 'pusher:signin_success');
    client.signin();
    await ok;
    await withTimeout(client.user.signinDonePromise, undefined, 'pusher-js signin to complete');
    // After signin_success pusher-js subscribes to #server-to-user-bob; herald accepts that
    // subscription for the signed-in user only.
    assert.equal(client.user.serverToUserChannel?.name, '#server-to-user-bob');
    await withTimeout(
      new Promise((resolve) => {
        if (client.user.serverToUserChannel.subscribed) resolve();
        else client.user.serverToUserChannel.bind('pusher:subscription_succeeded', resolve);
      }),
      5000,
      'the #server-to-user-bob subscription to succeed',
    );
    const got = nextEvent(client.user, 'notice');
    await httpClient(server, main).sendToUser('bob', 'notice', { text: 'hi' });
    assert.deepEqual((await got).data, { text: 'hi' });
  });
});

describe('apps that require user authentication', () => {
  test('a socket that does not sign in within the timeout is closed with 4009', async (t) => {
    const c = await rawConnect(server, strict.key, { t });
    const { code } = await c.closeCode(6000);
    assert.equal(code, 4009);
  });

  test('a socket that signs in stays open past the timeout', async (t) => {
    const c = await rawConnect(server, strict.key, { t });
    c.send({ event: 'pusher:signin', data: userAuth(strict, c.socketId, { id: 'ok-user' }) });
    await c.next('pusher:signin_success');
    await expectNothing((fail) => {
      c.ws.on('close', (code) => fail(`closed with ${code}`));
    }, 1800);
    c.send({ event: 'pusher:ping', data: {} });
    await c.next('pusher:pong');
  });
});
