// End-to-end encrypted channels (private-encrypted-): the server relays ciphertext it cannot read,
// and refuses client events on them.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';

import {
  app,
  channelAuth,
  expectNothing,
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
const server = useHerald(heraldConfig({ apps: [main] }));
const encryptionMasterKeyBase64 = crypto.randomBytes(32).toString('base64');

describe('private-encrypted channels', () => {
  test('an encrypted event round-trips from the pusher library to pusher-js', async (t) => {
    const client = pusherClient(server, main, { encryptionMasterKeyBase64 }, t);
    const name = uniq('private-encrypted-secrets-');
    const { channel } = await subscribe(client, name);
    const got = nextEvent(channel, 'secret');
    const payload = { message: 'for your eyes only', n: 7 };
    await httpClient(server, main, { encryptionMasterKeyBase64 }).trigger(name, 'secret', payload);
    assert.deepEqual((await got).data, payload);
  });

  test('the server relays ciphertext, never the plaintext', async (t) => {
    const c = await rawConnect(server, main.key, { t });
    const name = uniq('private-encrypted-wire-');
    await c.subscribeOK(name, channelAuth(main, c.socketId, name, undefined, { encryptionMasterKeyBase64 }));
    await httpClient(server, main, { encryptionMasterKeyBase64 }).trigger(name, 'secret', { word: 'swordfish' });
    const f = await c.next('secret');
    assert.equal(typeof f.data, 'string');
    assert.ok(!f.data.includes('swordfish'));
    const box = JSON.parse(f.data);
    assert.equal(typeof box.nonce, 'string');
    assert.equal(typeof box.ciphertext, 'string');
  });

  test('client events on an encrypted channel are refused with pusher:error', async (t) => {
    const name = uniq('private-encrypted-chat-');
    const a = await rawConnect(server, main.key, { t });
    const b = await rawConnect(server, main.key, { t });
    for (const c of [a, b]) {
      await c.subscribeOK(name, channelAuth(main, c.socketId, name, undefined, { encryptionMasterKeyBase64 }));
    }
    a.send({ event: 'client-typing', channel: name, data: { x: 1 } });
    const err = await a.next('pusher:error');
    const data = typeof err.data === 'string' ? JSON.parse(err.data) : err.data;
    assert.equal(data.code, null, JSON.stringify(err)); // as Pusher: refused client events carry code null
    assert.match(data.message, /private and presence channels/);
    await expectNothing((fail) => {
      const timer = setInterval(() => b.take('client-typing').length && fail('b received the client event'), 20);
      return () => clearInterval(timer);
    }, 300);
  });
});
