// Connecting: connection_established, ping/pong, the close codes for bad connection requests,
// the activity timeout, and surviving malformed frames.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  app,
  appPath,
  expectNothing,
  heraldConfig,
  openRaw,
  pusherClient,
  connected,
  rawConnect,
  startHerald,
  useHerald,
  WebSocket,
  withTimeout,
  TIMEOUT_MS,
  uniq,
} from '../harness.mjs';

const main = app();
const disabled = app({ id: 'disabled-id', key: 'disabled-key', secret: 'disabled-secret', enabled: false });
const limited = app({ id: 'limited-id', key: 'limited-key', secret: 'limited-secret', limits: { max_connections: 1 } });
const server = useHerald(heraldConfig({ apps: [main, disabled, limited] }));

/** Opens `path` and returns the close {code, reason} (or {httpStatus} when not upgraded). */
async function closeOf(path) {
  const { client, httpStatus } = await openRaw(server.wsURL(path));
  if (!client) return { httpStatus };
  return client.closeCode();
}

describe('connection_established', () => {
  test('carries a socket_id and the configured activity_timeout as a JSON string', async (t) => {
    const c = await rawConnect(server, main.key, { t });
    assert.equal(typeof c.established.data, 'string', 'data must be a JSON-encoded string');
    const data = JSON.parse(c.established.data);
    assert.match(data.socket_id, /^\d+\.\d+$/);
    assert.equal(data.activity_timeout, 120);
  });

  test('socket ids are unique per connection', async (t) => {
    const a = await rawConnect(server, main.key, { t });
    const b = await rawConnect(server, main.key, { t });
    assert.notEqual(a.socketId, b.socketId);
  });

  test('pusher-js connects with the query string it sends by default', async (t) => {
    const client = pusherClient(server, main, {}, t);
    const socketId = await connected(client);
    assert.match(socketId, /^\d+\.\d+$/);
  });
});

test('pusher:ping is answered with pusher:pong', async (t) => {
  const c = await rawConnect(server, main.key, { t });
  c.send({ event: 'pusher:ping', data: {} });
  const pong = await c.next('pusher:pong');
  assert.equal(pong.event, 'pusher:pong');
});

describe('close codes', () => {
  const cases = [
    { name: 'unknown app key', path: appPath('no-such-key'), code: 4001 },
    { name: 'disabled app', path: appPath(disabled.key), code: 4003 },
    { name: 'missing protocol parameter', path: appPath(main.key, 'client=js&version=8.6.0'), code: 4008 },
    { name: 'no query string at all', path: appPath(main.key, null), code: 4008 },
    { name: 'non-numeric protocol', path: appPath(main.key, 'protocol=seven&client=js&version=8.6.0'), code: 4006 },
    { name: 'unsupported protocol version 3', path: appPath(main.key, 'protocol=3&client=js&version=8.6.0'), code: 4007 },
  ];
  for (const c of cases) {
    test(`${c.name} -> ${c.code}`, async () => {
      const res = await closeOf(c.path);
      assert.equal(res.httpStatus, undefined, `expected an upgrade, got HTTP ${res.httpStatus}`);
      assert.equal(res.code, c.code);
    });
  }

  // The Pusher docs give 4005 for a bad path; a server may also refuse the upgrade with HTTP 404.
  // If it upgrades, the only acceptable outcome is a close with 4005.
  test('bad path -> 4005 (or HTTP 404 before the upgrade)', async () => {
    for (const path of ['/foo', '/app/', '/apps/app-key?protocol=7']) {
      const res = await closeOf(path);
      if (res.httpStatus !== undefined) assert.equal(res.httpStatus, 404, `${path}: HTTP status`);
      else assert.equal(res.code, 4005, `${path}: close code`);
    }
  });

  test('over max_connections -> 4004, and the slot frees up when a socket leaves', async (t) => {
    const first = await rawConnect(server, limited.key, { t });
    const res = await closeOf(appPath(limited.key));
    assert.equal(res.code, 4004);
    first.close();
    await first.closeCode();
    // The count may be released asynchronously after the socket closes: retry a bounded number
    // of times instead of sleeping.
    let lastErr;
    for (let i = 0; i < 40; i++) {
      try {
        const again = await rawConnect(server, limited.key, { t });
        again.close();
        return;
      } catch (err) {
        lastErr = err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.fail(`could not reconnect after the only connection left: ${lastErr}`);
  });

  test('pusher-js does not reach "connected" with an unknown key', async (t) => {
    const client = pusherClient(server, { ...main, key: 'no-such-key' }, {}, t);
    const state = await withTimeout(
      new Promise((resolve) => {
        client.connection.bind('state_change', ({ current }) => {
          if (['connected', 'failed', 'unavailable', 'disconnected'].includes(current)) resolve(current);
        });
      }),
      TIMEOUT_MS,
      'pusher-js to give up',
    );
    assert.notEqual(state, 'connected');
  });
});

describe('malformed frames', () => {
  // The docs say nothing about how a server must treat frames that are not JSON. The contract here
  // is the guide's: bad input never crashes or hangs. The socket either stays usable (answers a
  // ping) or is closed with a Pusher 4xxx code, and the server keeps accepting connections.
  const garbage = ['not json', '{"event":', '[]', '42', '{"data":"no event"}', '{"event":123}', Buffer.from([0xff, 0xfe, 0x00])];
  for (const g of garbage) {
    test(`frame ${JSON.stringify(String(g))} does not break the server`, async (t) => {
      const c = await rawConnect(server, main.key, { t });
      c.send(g);
      c.send({ event: 'pusher:ping', data: {} });
      const outcome = await Promise.race([c.next('pusher:pong').then(() => 'pong'), c.closed.then((i) => i)]);
      if (outcome !== 'pong') {
        assert.ok(outcome.code >= 4000 && outcome.code <= 4999, `closed with ${outcome.code}, expected a 4xxx Pusher code`);
      }
      const fresh = await rawConnect(server, main.key, { t });
      fresh.send({ event: 'pusher:ping', data: {} });
      await fresh.next('pusher:pong');
    });
  }

  for (const data of [{}, { channel: 42 }, 'not an object', null]) {
    test(`pusher:subscribe with data ${JSON.stringify(data)} does not break the server`, async (t) => {
      const c = await rawConnect(server, main.key, { t });
      c.send({ event: 'pusher:subscribe', data });
      c.send({ event: 'pusher:ping', data: {} });
      const outcome = await Promise.race([c.next('pusher:pong').then(() => 'pong'), c.closed.then((i) => i)]);
      if (outcome !== 'pong') {
        assert.ok(outcome.code >= 4000 && outcome.code <= 4999, `closed with ${outcome.code}, expected a 4xxx Pusher code`);
      }
      assert.deepEqual(
        c.take('pusher_internal:subscription_succeeded'),
        [],
        'nothing may be subscribed by a malformed subscribe',
      );
      const fresh = await rawConnect(server, main.key, { t });
      await fresh.subscribeOK(uniq('after-malformed-'));
    });
  }
});

describe('activity timeout', () => {
  test('a client that never answers is closed with 4201', async (t) => {
    const srv = await startHerald(heraldConfig({ apps: [main], activity_timeout: '1s', pong_timeout: '1s' }), t);
    // autoPong false: the client does not answer WebSocket-level pings either.
    const c = await rawConnect(srv, main.key, { t, wsOptions: { autoPong: false } });
    assert.equal(c.activityTimeout, 1);
    // The server pings after activity_timeout of silence, then waits pong_timeout (default
    // 30 s, 1 s here) before closing.
    const { code } = await c.closeCode(10000);
    assert.equal(code, 4201);
  });

  test('a client that answers pusher:ping stays connected', async (t) => {
    const srv = await startHerald(heraldConfig({ apps: [main], activity_timeout: '1s', pong_timeout: '1s' }), t);
    const c = await rawConnect(srv, main.key, { t });
    c.ws.on('message', (d) => {
      try {
        if (JSON.parse(d.toString()).event === 'pusher:ping') c.send({ event: 'pusher:pong', data: {} });
      } catch {
        // not ours to judge here
      }
    });
    await expectNothing((fail) => {
      c.ws.on('close', (code) => fail(`closed with ${code}`));
    }, 3500);
    assert.equal(c.ws.readyState, WebSocket.OPEN);
  });
});
