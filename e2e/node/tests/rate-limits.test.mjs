// Per-app HTTP API rate limits: max_backend_events_per_second (events triggered) and
// max_read_requests_per_second (GETs), each answered 429 with a JSON {"error": ...} body.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { apiRequest, app, eventually, heraldConfig, httpClient, libResult, uniq, useHerald } from '../harness.mjs';

const events = app({ id: 'ev-id', key: 'ev-key', secret: 'ev-secret', limits: { max_backend_events_per_second: 5 } });
const batches = app({ id: 'batch-id', key: 'batch-key', secret: 'batch-secret', limits: { max_backend_events_per_second: 5 } });
const reads = app({ id: 'rd-id', key: 'rd-key', secret: 'rd-secret', limits: { max_read_requests_per_second: 3 } });
const free = app({ id: 'free-id', key: 'free-key', secret: 'free-secret' });
const server = useHerald(heraldConfig({ apps: [events, batches, reads, free] }));

function assertRefused(res, what) {
  assert.equal(res.status, 429, `${what}: ${res.status} ${res.text}`);
  assert.equal(typeof res.json?.error, 'string', `${what}: JSON {"error": ...} body, got ${res.text}`);
}

describe('max_backend_events_per_second', () => {
  test('5 per second: the 6th trigger within the second gets 429; later ones pass again', async () => {
    const lib = httpClient(server, events);
    const channel = uniq('limited-');
    const started = Date.now();
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await libResult(lib.trigger(channel, 'e', { i })));
    const took = Date.now() - started;
    assert.ok(took < 1000, `six triggers took ${took} ms, the test needs them within one second`);
    assert.deepEqual(
      results.slice(0, 5).map((r) => r.status),
      [200, 200, 200, 200, 200],
    );
    assertRefused(results[5], '6th trigger');

    // Refused events are not counted forever: within about a second triggers pass again.
    await eventually(async () => (await libResult(lib.trigger(channel, 'e', { later: true }))).status === 200, 2500, 'a trigger to pass again');
  });

  test('batch_events counts each event: 3 + 3 in a second, the second batch is refused', async () => {
    const lib = httpClient(server, batches);
    const batch = (tag) => [1, 2, 3].map((i) => ({ channel: uniq(`b-${tag}-`), name: 'e', data: { i } }));
    const first = await libResult(lib.triggerBatch(batch('a')));
    assert.equal(first.status, 200, first.text);
    const second = await libResult(lib.triggerBatch(batch('b')));
    assertRefused(second, 'second batch');
  });

  test('a hand-signed POST /events over the limit gets 429 with a JSON error', async () => {
    const res = [];
    for (let i = 0; i < 6; i++) {
      res.push(await apiRequest(server, events, { path: '/events', body: { name: 'e', channels: [uniq('h-')], data: '{}' } }));
    }
    // The previous test may have left some of this second's budget used: some of the first five may
    // already be refused, but the 6th certainly is.
    assertRefused(res[5], '6th hand-signed POST');
  });

  test('an app without the limit is not limited', async () => {
    const lib = httpClient(server, free);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => libResult(lib.trigger(uniq('free-'), 'e', { i }))));
    assert.deepEqual([...new Set(results.map((r) => r.status))], [200]);
  });
});

describe('max_read_requests_per_second', () => {
  test('3 per second: the 4th GET gets 429; writes are not reads', async () => {
    const lib = httpClient(server, reads);
    // Writes do not use the read budget.
    for (let i = 0; i < 3; i++) assert.equal((await libResult(lib.trigger(uniq('w-'), 'e', {}))).status, 200);

    const started = Date.now();
    const results = [];
    results.push(await libResult(lib.get({ path: '/channels' })));
    results.push(await libResult(lib.get({ path: `/channels/${uniq('c-')}` })));
    results.push(await apiRequest(server, reads, { path: '/channels' }));
    results.push(await libResult(lib.get({ path: '/channels' })));
    const took = Date.now() - started;
    assert.ok(took < 1000, `four GETs took ${took} ms, the test needs them within one second`);
    assert.deepEqual(
      results.slice(0, 3).map((r) => r.status),
      [200, 200, 200],
      JSON.stringify(results.map((r) => r.text)),
    );
    assertRefused(results[3], '4th GET');

    await eventually(async () => (await libResult(lib.get({ path: '/channels' }))).status === 200, 2500, 'a GET to pass again');
  });
});
