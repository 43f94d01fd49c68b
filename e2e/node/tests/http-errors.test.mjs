// HTTP API errors, with hand-signed requests: real statuses and a JSON {"error": "..."} body for
// bad signatures, stale timestamps, wrong body_md5, unknown or disabled apps, unknown paths,
// oversized or malformed events, and credentials of one app used against another.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { apiRequest, app, heraldConfig, httpClient, libResult, useHerald } from '../harness.mjs';

const appA = app();
const appB = app({ id: 'app-b', key: 'key-b', secret: 'secret-b' });
const off = app({ id: 'off-id', key: 'off-key', secret: 'off-secret', enabled: false });
const server = useHerald(heraldConfig({ apps: [appA, appB, off] }));

const now = () => Math.floor(Date.now() / 1000);
const event = (over = {}) => ({ name: 'ev', channels: ['ch'], data: '{}', ...over });

function assertError(res, status) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.equal(typeof res.json, 'object', `body should be JSON: ${JSON.stringify(res.text)}`);
  assert.equal(typeof res.json?.error, 'string', `body should have an "error" string: ${res.text}`);
}

describe('valid requests (baselines for the error cases)', () => {
  const ok = [
    ['POST /events', { path: '/events', body: event() }],
    ['POST /events with a timestamp 500 s old', { path: '/events', body: event(), timestamp: now() - 500 }],
    ['POST /events with data of exactly 10240 bytes', { path: '/events', body: event({ data: 'x'.repeat(10240) }) }],
    ['POST /events with a 200-character event name', { path: '/events', body: event({ name: 'e'.repeat(200) }) }],
    ['POST /events with the single "channel" field', { path: '/events', body: { name: 'ev', channel: 'ch', data: '{}' } }],
    ['POST /events to 100 channels', { path: '/events', body: event({ channels: Array.from({ length: 100 }, (_, i) => `c${i}`) }) }],
    ['POST /batch_events with 10 events', { path: '/batch_events', body: { batch: Array.from({ length: 10 }, () => ({ name: 'ev', channel: 'ch', data: '{}' })) } }],
    ['GET /channels', { path: '/channels' }],
    ['GET /channels/{name}', { path: '/channels/ch' }],
    ['app B with its own credentials', { path: '/events', body: event(), appCfg: appB }],
  ];
  for (const [name, { appCfg = appA, ...opts }] of ok) {
    test(`${name} -> 200`, async () => {
      const res = await apiRequest(server, appCfg, opts);
      assert.equal(res.status, 200, res.text);
    });
  }
});

describe('errors', () => {
  const cases = [
    // authentication
    [401, 'wrong signature', { path: '/events', body: event(), signature: 'f'.repeat(64) }],
    [401, 'signature made with a wrong secret', { path: '/events', body: event(), secret: 'not-the-secret' }],
    [401, 'GET with a wrong signature', { path: '/channels', signature: '0'.repeat(64) }],
    [401, 'auth_timestamp older than 600 s', { path: '/events', body: event(), timestamp: now() - 700 }],
    [401, 'auth_timestamp 700 s in the future', { path: '/events', body: event(), timestamp: now() + 700 }],
    [401, 'wrong body_md5', { path: '/events', body: event(), bodyMd5: '0'.repeat(32) }],
    [401, 'no auth parameters at all', { path: '/events', body: event(), sign: false }],
    [401, "app A's key and secret against app B's id", { path: '/events', body: event(), appId: appB.id }],
    [401, "app A's key and secret against app B's id (GET)", { path: '/channels', appId: appB.id }],
    [401, "app B's key with app A's secret", { path: '/events', body: event(), key: appB.key }],
    // apps and paths
    [404, 'unknown app id', { path: '/events', body: event(), appId: 'no-such-app' }],
    [403, 'disabled app', { path: '/events', body: event(), appCfg: off }],
    [403, 'disabled app (GET)', { path: '/channels', appCfg: off }],
    [404, 'unknown path under a known app', { path: '/nope' }],
    [404, 'unknown path under a known app (POST)', { path: '/nope', body: {} }],
    [404, 'unknown top-level path', { fullPath: '/nope', sign: false }],
    // event validation
    [413, 'event data over 10240 bytes', { path: '/events', body: event({ data: 'x'.repeat(10241) }) }],
    [413, 'event data of 20 KB', { path: '/events', body: event({ data: 'x'.repeat(20480) }) }],
    [400, 'event name over 200 characters', { path: '/events', body: event({ name: 'e'.repeat(201) }) }],
    [400, 'channel name with a space', { path: '/events', body: event({ channels: ['bad channel'] }) }],
    [400, 'channel name over 164 characters', { path: '/events', body: event({ channels: ['c'.repeat(165)] }) }],
    [400, '101 channels', { path: '/events', body: event({ channels: Array.from({ length: 101 }, (_, i) => `c${i}`) }) }],
    [400, 'no channels', { path: '/events', body: { name: 'ev', data: '{}' } }],
    [400, 'no event name', { path: '/events', body: { channels: ['ch'], data: '{}' } }],
    [400, 'invalid JSON body', { path: '/events', body: '{"name": "ev", "channels": [' }],
    [400, 'a JSON body that is not an object', { path: '/events', body: '[1,2,3]' }],
    [400, 'socket_id in the wrong format', { path: '/events', body: event({ socket_id: 'not-a-socket' }) }],
    [400, 'batch of 11 events', { path: '/batch_events', body: { batch: Array.from({ length: 11 }, () => ({ name: 'ev', channel: 'ch', data: '{}' })) } }],
    [400, 'batch with invalid JSON', { path: '/batch_events', body: '{"batch": [' }],
    [400, 'batch item with a bad channel name', { path: '/batch_events', body: { batch: [{ name: 'ev', channel: 'bad channel', data: '{}' }] } }],
    [413, 'batch item with data over 10240 bytes', { path: '/batch_events', body: { batch: [{ name: 'ev', channel: 'ch', data: 'x'.repeat(10241) }] } }],
    [400, 'GET /channels/{name over 164 characters}', { path: `/channels/${'c'.repeat(165)}` }],
  ];
  for (const [status, name, { appCfg = appA, ...opts }] of cases) {
    test(`${name} -> ${status}`, async () => {
      assertError(await apiRequest(server, appCfg, opts), status);
    });
  }

  test('the pusher library with a wrong secret gets 401', async () => {
    const res = await libResult(httpClient(server, { ...appA, secret: 'wrong' }).trigger('ch', 'ev', {}));
    assertError(res, 401);
  });

  test("the pusher library with app A's credentials against app B's id gets 401", async () => {
    const res = await libResult(httpClient(server, { ...appA, id: appB.id }).trigger('ch', 'ev', {}));
    assertError(res, 401);
  });

  test('the pusher library against a disabled app gets 403', async () => {
    const res = await libResult(httpClient(server, off).get({ path: '/channels' }));
    assertError(res, 403);
  });
});
