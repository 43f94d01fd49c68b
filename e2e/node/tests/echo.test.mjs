// laravel-echo 2 with the pusher broadcaster, as a Laravel front end uses it.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';

import { app, echoClient, heraldConfig, httpClient, subscribe, uniq, useHerald, withTimeout } from '../harness.mjs';

const main = app();
const server = useHerald(heraldConfig({ apps: [main] }));

/** A promise and the callback that resolves it, for Echo's callback-style API. */
function callback(what) {
  let resolve;
  const p = new Promise((r) => (resolve = r));
  return { cb: (...args) => resolve(args), wait: () => withTimeout(p, undefined, what) };
}

function echo(t, opts) {
  const e = echoClient(server, main, opts, t);
  t.after(() => e.echo.disconnect());
  return e;
}

describe('laravel-echo', () => {
  test('channel().listen(".event") receives a triggered event', async (t) => {
    const { echo: e, client } = echo(t);
    const name = uniq('news-');
    const got = callback('.published');
    e.channel(name).listen('.published', got.cb);
    await subscribe(client, name);
    await httpClient(server, main).trigger(name, 'published', { title: 'Hello' });
    assert.deepEqual((await got.wait())[0], { title: 'Hello' });
  });

  test('listen() with a namespaced Laravel event name (backslashes in the event name)', async (t) => {
    const { echo: e, client } = echo(t);
    const name = uniq('orders-');
    const got = callback('OrderShipped');
    e.channel(name).listen('OrderShipped', got.cb);
    await subscribe(client, name);
    await httpClient(server, main).trigger(name, 'App\\Events\\OrderShipped', { order: 1 });
    assert.deepEqual((await got.wait())[0], { order: 1 });
  });

  test('private() subscribes with auth and receives events', async (t) => {
    const { echo: e, client } = echo(t);
    const name = uniq('account-');
    const got = callback('.updated');
    e.private(name).listen('.updated', got.cb);
    await subscribe(client, `private-${name}`);
    await httpClient(server, main).trigger(`private-${name}`, 'updated', { balance: 3 });
    assert.deepEqual((await got.wait())[0], { balance: 3 });
  });

  test('join(): here, joining and leaving', async (t) => {
    const room = uniq('room-');
    const a = echo(t, { userId: 'ann', userInfo: { name: 'Ann' } });
    const here = callback('here');
    const joining = callback('joining');
    const leaving = callback('leaving');
    a.echo.join(room).here(here.cb).joining(joining.cb).leaving(leaving.cb);
    assert.deepEqual((await here.wait())[0], [{ name: 'Ann' }]);

    const b = echo(t, { userId: 'ben', userInfo: { name: 'Ben' } });
    const hereB = callback('here (b)');
    b.echo.join(room).here(hereB.cb);
    const seenByB = (await hereB.wait())[0];
    assert.deepEqual(seenByB.map((u) => u.name).sort(), ['Ann', 'Ben']);
    assert.deepEqual((await joining.wait())[0], { name: 'Ben' });

    b.echo.leave(room);
    assert.deepEqual((await leaving.wait())[0], { name: 'Ben' });
  });

  test('whisper() / listenForWhisper() on a private channel', async (t) => {
    const name = uniq('chat-');
    const a = echo(t);
    const b = echo(t);
    const typing = callback('whisper');
    const ca = a.echo.private(name);
    b.echo.private(name).listenForWhisper('typing', typing.cb);
    await subscribe(a.client, `private-${name}`);
    await subscribe(b.client, `private-${name}`);
    ca.whisper('typing', { name: 'a' });
    assert.deepEqual((await typing.wait())[0], { name: 'a' });
  });

  test('whisper() on a presence channel', async (t) => {
    const room = uniq('lobby-');
    const a = echo(t, { userId: 'w1' });
    const b = echo(t, { userId: 'w2' });
    const got = callback('presence whisper');
    const ha = callback('here a');
    const hb = callback('here b');
    const ca = a.echo.join(room).here(ha.cb);
    b.echo.join(room).here(hb.cb).listenForWhisper('wave', got.cb);
    await ha.wait();
    await hb.wait();
    ca.whisper('wave', { from: 'w1' });
    assert.deepEqual((await got.wait())[0], { from: 'w1' });
  });

  test('encryptedPrivate() decrypts events from the pusher library', async (t) => {
    const encryptionMasterKeyBase64 = crypto.randomBytes(32).toString('base64');
    const { echo: e, client } = echo(t, { encryptionMasterKeyBase64 });
    const name = uniq('vault-');
    const got = callback('.opened');
    e.encryptedPrivate(name).listen('.opened', got.cb);
    await subscribe(client, `private-encrypted-${name}`);
    await httpClient(server, main, { encryptionMasterKeyBase64 }).trigger(`private-encrypted-${name}`, 'opened', { code: 1234 });
    assert.deepEqual((await got.wait())[0], { code: 1234 });
  });
});
