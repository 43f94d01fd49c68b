// Webhooks, received by a local endpoint that validates every request with the `pusher` library:
// channel_occupied / channel_vacated (with the vacated delay), member_added / member_removed,
// client_event, cache_miss, subscription_count, per-target event_types, retries with back-off,
// batching (batch_window, batch_max_events), and never one event delivered twice.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  app,
  channelAuth,
  expectNothing,
  heraldConfig,
  httpClient,
  rawConnect,
  startHerald,
  startWebhookReceiver,
  uniq,
} from '../harness.mjs';

const ALL_TYPES = ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event', 'cache_miss', 'subscription_count'];
const DELAY_MS = 1000;
const BATCH_WINDOW_MS = 200;
const BATCH_MAX = 4;

const hooked = app({ subscription_count: true });
const split = app({ id: 'split-id', key: 'split-key', secret: 'split-secret' });
const retry = app({ id: 'retry-id', key: 'retry-key', secret: 'retry-secret' });

const server = {};
let all; // every event type, app `hooked`
let occupancy; // split: channel_occupied, channel_vacated
let members; // split: member_added, member_removed, client_event
let flaky; // retry: fails its first 2 answers

before(async () => {
  all = await startWebhookReceiver(hooked);
  occupancy = await startWebhookReceiver(split);
  members = await startWebhookReceiver(split);
  flaky = await startWebhookReceiver(retry, { failFirst: 2 });
  hooked.webhooks = [{ url: all.url, event_types: ALL_TYPES }];
  split.webhooks = [
    { url: occupancy.url, event_types: ['channel_occupied', 'channel_vacated'] },
    { url: members.url, event_types: ['member_added', 'member_removed', 'client_event'] },
  ];
  retry.webhooks = [{ url: flaky.url, event_types: ['channel_occupied', 'channel_vacated'] }];
  const config = heraldConfig({
    apps: [hooked, split, retry],
    webhooks: {
      batch_window: `${BATCH_WINDOW_MS}ms`,
      batch_max_events: BATCH_MAX,
      timeout: '2s',
      initial_backoff: '100ms',
      max_backoff: '1s',
      retry_for: '30s',
      queue_limit: 1000,
      delay: `${DELAY_MS}ms`,
    },
  });
  Object.assign(server, await startHerald(config));
});

after(async () => {
  await server.stop?.();
  for (const r of [all, occupancy, members, flaky]) await r?.close();
});

/** On failure, print the server's output (the file's server is not tied to one test). */
function dumpOnFailure(t) {
  t.after(() => {
    if (!t.passed && server.logs) process.stderr.write(`\n----- herald output -----\n${server.logs()}\n-----\n`);
  });
}

const named = (name, channel, extra = () => true) => (e) => e.name === name && e.channel === channel && extra(e);

/** Watches `receiver` for `ms` and fails if an event matching `pred` arrives in that time. */
function expectNoWebhook(receiver, pred, ms) {
  const before = receiver.events.length;
  return expectNothing((fail) => () => {
    const late = receiver.events.slice(before).filter(pred);
    if (late.length) fail(late);
  }, ms);
}

async function rawPresence(t, appCfg, channel, userId) {
  const c = await rawConnect(server, appCfg.key, { t });
  await c.subscribeOK(channel, channelAuth(appCfg, c.socketId, channel, { user_id: userId, user_info: {} }));
  return c;
}

function eventData(e) {
  return typeof e.data === 'string' ? JSON.parse(e.data) : e.data;
}

describe('channel_occupied and channel_vacated', () => {
  test('occupied on the first subscriber; vacated no sooner than the delay after the last leaves', async (t) => {
    dumpOnFailure(t);
    const name = uniq('occ-');
    const a = await rawConnect(server, hooked.key, { t });
    const b = await rawConnect(server, hooked.key, { t });
    await a.subscribeOK(name);
    const occ = await all.waitFor(named('channel_occupied', name), undefined, 'channel_occupied');
    assert.deepEqual(
      Object.keys(occ).filter((k) => k !== 'at').sort(),
      ['channel', 'name'],
    );
    await b.subscribeOK(name);
    a.close();
    await a.closed;
    await expectNoWebhook(all, named('channel_vacated', name), 300);

    const leftAt = Date.now();
    b.close();
    const vac = await all.waitFor(named('channel_vacated', name), DELAY_MS + 3000, 'channel_vacated');
    const waited = vac.at - leftAt;
    assert.ok(waited >= DELAY_MS, `channel_vacated ${waited} ms after the last subscriber left, delay is ${DELAY_MS} ms`);
    assert.ok(waited < DELAY_MS + 2000, `channel_vacated took ${waited} ms`);
    assert.equal(all.eventsFor(name).filter((e) => e.name === 'channel_occupied').length, 1);
    assert.deepEqual(all.invalid, []);
  });

  test('unsubscribe and resubscribe within the delay: no vacated, no second occupied', async (t) => {
    dumpOnFailure(t);
    const name = uniq('flap-');
    const c = await rawConnect(server, hooked.key, { t });
    await c.subscribeOK(name);
    await all.waitFor(named('channel_occupied', name));
    c.send({ event: 'pusher:unsubscribe', data: { channel: name } });
    // A ping round trip between the two, so this test is about the webhooks; an immediate
    // resubscribe is covered in resubscribe.test.mjs.
    c.send({ event: 'pusher:ping', data: {} });
    await c.next('pusher:pong');
    await c.subscribeOK(name);
    await expectNoWebhook(all, (e) => e.channel === name && ['channel_vacated', 'channel_occupied'].includes(e.name), DELAY_MS + BATCH_WINDOW_MS + 500);
    assert.equal(all.eventsFor(name).filter((e) => e.name === 'channel_occupied').length, 1);

    // Still tracked: leaving for good does send channel_vacated.
    c.close();
    await all.waitFor(named('channel_vacated', name), DELAY_MS + 3000);
  });

  test('with the default delay (3 s) channel_vacated comes no sooner than 3 s after the last leaves', async (t) => {
    const receiver = await startWebhookReceiver(hooked, {}, t);
    const appCfg = app({ webhooks: [{ url: receiver.url, event_types: ['channel_occupied', 'channel_vacated'] }] });
    const s = await startHerald(heraldConfig({ apps: [appCfg] }), t);
    const name = uniq('slow-');
    const c = await rawConnect(s, appCfg.key, { t });
    await c.subscribeOK(name);
    await receiver.waitFor(named('channel_occupied', name));
    const leftAt = Date.now();
    c.close();
    const vac = await receiver.waitFor(named('channel_vacated', name), 7000, 'channel_vacated');
    const waited = vac.at - leftAt;
    assert.ok(waited >= 3000, `channel_vacated ${waited} ms after the last subscriber left, default delay is 3 s`);
    assert.ok(waited < 5500, `channel_vacated took ${waited} ms`);
    assert.deepEqual(receiver.invalid, []);
  });
});

describe('member_added and member_removed', () => {
  test('member_added on the first socket of a user; member_removed after the delay when the last leaves', async (t) => {
    dumpOnFailure(t);
    const name = uniq('presence-hooks-');
    const s1 = await rawPresence(t, hooked, name, 'mia');
    const added = await all.waitFor(named('member_added', name, (e) => e.user_id === 'mia'));
    assert.deepEqual(
      Object.keys(added).filter((k) => k !== 'at').sort(),
      ['channel', 'name', 'user_id'],
    );
    const s2 = await rawPresence(t, hooked, name, 'mia');
    s1.close();
    await s1.closed;
    await expectNoWebhook(all, (e) => e.channel === name && e.user_id === 'mia' && e.name !== 'member_added', 300);
    assert.equal(all.eventsFor(name).filter((e) => e.name === 'member_added').length, 1, 'one member_added for two sockets');

    const leftAt = Date.now();
    s2.close();
    const removed = await all.waitFor(named('member_removed', name, (e) => e.user_id === 'mia'), DELAY_MS + 3000, 'member_removed');
    const waited = removed.at - leftAt;
    assert.ok(waited >= DELAY_MS, `member_removed ${waited} ms after the user's last socket left, delay is ${DELAY_MS} ms`);
    assert.ok(waited < DELAY_MS + 2000, `member_removed took ${waited} ms`);
  });

  test('a user that leaves and comes back within the delay: neither member_removed nor a second member_added', async (t) => {
    dumpOnFailure(t);
    const name = uniq('presence-back-');
    const stay = await rawPresence(t, hooked, name, 'anchor'); // keeps the channel occupied
    const first = await rawPresence(t, hooked, name, 'noah');
    await all.waitFor(named('member_added', name, (e) => e.user_id === 'noah'));
    first.close();
    await first.closed;
    await rawPresence(t, hooked, name, 'noah');
    await expectNoWebhook(all, (e) => e.channel === name && e.user_id === 'noah', DELAY_MS + BATCH_WINDOW_MS + 500);
    assert.deepEqual(
      all.eventsFor(name).filter((e) => e.user_id === 'noah').map((e) => e.name),
      ['member_added'],
    );
    assert.ok(stay.isOpen);
  });
});

describe('client_event', () => {
  test('private channel: channel, event, data, socket_id and no user_id', async (t) => {
    dumpOnFailure(t);
    const name = uniq('private-talk-');
    const a = await rawConnect(server, hooked.key, { t });
    const b = await rawConnect(server, hooked.key, { t });
    await a.subscribeOK(name, channelAuth(hooked, a.socketId, name));
    await b.subscribeOK(name, channelAuth(hooked, b.socketId, name));
    a.send({ event: 'client-typing', channel: name, data: { x: 1 } });
    await b.next('client-typing');
    const e = await all.waitFor(named('client_event', name), undefined, 'client_event');
    assert.equal(e.event, 'client-typing');
    assert.deepEqual(eventData(e), { x: 1 });
    assert.equal(e.socket_id, a.socketId);
    assert.equal(e.user_id, undefined, JSON.stringify(e));
  });

  test('presence channel: user_id of the sender', async (t) => {
    dumpOnFailure(t);
    const name = uniq('presence-talk-');
    const a = await rawPresence(t, hooked, name, 'olga');
    const b = await rawPresence(t, hooked, name, 'pete');
    a.send({ event: 'client-wave', channel: name, data: { hi: true } });
    await b.next('client-wave');
    const e = await all.waitFor(named('client_event', name), undefined, 'client_event');
    assert.equal(e.event, 'client-wave');
    assert.deepEqual(eventData(e), { hi: true });
    assert.equal(e.socket_id, a.socketId);
    assert.equal(e.user_id, 'olga');
  });
});

describe('cache_miss and subscription_count webhooks', () => {
  test('cache_miss when a cache channel with nothing cached gets a subscriber; none once an event is cached', async (t) => {
    dumpOnFailure(t);
    const name = uniq('cache-hook-');
    const a = await rawConnect(server, hooked.key, { t });
    await a.subscribeOK(name);
    await a.next('pusher:cache_miss');
    const miss = await all.waitFor(named('cache_miss', name), undefined, 'cache_miss');
    assert.deepEqual(
      Object.keys(miss).filter((k) => k !== 'at').sort(),
      ['channel', 'name'],
    );

    await httpClient(server, hooked).trigger(name, 'snap', { v: 1 });
    await a.next('snap');
    const b = await rawConnect(server, hooked.key, { t });
    await b.subscribeOK(name);
    await b.next('snap');
    await expectNoWebhook(all, named('cache_miss', name), BATCH_WINDOW_MS + 300);
    assert.equal(all.eventsFor(name).filter((e) => e.name === 'cache_miss').length, 1);
  });

  test('subscription_count with the channel and the count', async (t) => {
    dumpOnFailure(t);
    const name = uniq('counted-');
    const a = await rawConnect(server, hooked.key, { t });
    const b = await rawConnect(server, hooked.key, { t });
    await a.subscribeOK(name);
    await b.subscribeOK(name);
    const e = await all.waitFor(named('subscription_count', name, (e) => e.subscription_count === 2), 4000, 'subscription_count 2');
    assert.equal(e.subscription_count, 2);
  });
});

describe('event_types per target', () => {
  test('two targets with different event_types each get only theirs', async (t) => {
    dumpOnFailure(t);
    const name = uniq('presence-split-');
    const x = await rawPresence(t, split, name, 'xena');
    const y = await rawPresence(t, split, name, 'yuri');
    x.send({ event: 'client-ping', channel: name, data: {} });
    await y.next('client-ping');
    x.close();
    y.close();
    await occupancy.waitFor(named('channel_vacated', name), DELAY_MS + 3000, 'channel_vacated at the occupancy target');
    await members.until(() => members.eventsFor(name).filter((e) => e.name === 'member_removed').length === 2, DELAY_MS + 3000, 'two member_removed');
    await members.waitFor(named('client_event', name));

    assert.deepEqual(occupancy.eventsFor(name).map((e) => e.name), ['channel_occupied', 'channel_vacated']);
    const got = members.eventsFor(name).map((e) => e.name);
    assert.deepEqual([...new Set(got)].sort(), ['client_event', 'member_added', 'member_removed'], JSON.stringify(got));
    assert.equal(got.filter((n) => n === 'member_added').length, 2);
    assert.deepEqual(occupancy.invalid, []);
    assert.deepEqual(members.invalid, []);
  });
});

describe('retries', () => {
  test('a target failing its first 2 answers gets the batch on the 3rd attempt, exactly once', async (t) => {
    dumpOnFailure(t);
    const name = uniq('retried-');
    const c = await rawConnect(server, retry.key, { t });
    await c.subscribeOK(name);
    const occ = await flaky.waitFor(named('channel_occupied', name), 5000, 'channel_occupied after two failures');
    const attempts = flaky.requests.filter((r) => r.body.includes(name));
    assert.deepEqual(
      attempts.map((r) => r.status),
      [500, 500, 200],
      `attempts: ${JSON.stringify(attempts.map(({ at, status, body }) => ({ at, status, body })))}`,
    );
    assert.ok(attempts.every((r) => r.valid), 'every attempt is signed');
    const eventsOf = (r) => JSON.stringify(JSON.parse(r.body).events);
    assert.equal(eventsOf(attempts[1]), eventsOf(attempts[0]), 'the retry carries the same events');
    assert.equal(eventsOf(attempts[2]), eventsOf(attempts[0]), 'the retry carries the same events');
    // initial_backoff 100ms, doubled per failure; herald takes up to 20% off as jitter.
    const gap1 = attempts[1].at - attempts[0].at;
    const gap2 = attempts[2].at - attempts[1].at;
    assert.ok(gap1 >= 75, `first retry ${gap1} ms after the first attempt (initial_backoff 100ms)`);
    assert.ok(gap2 >= 155, `second retry ${gap2} ms after the first retry (backoff doubled: 200ms)`);
    assert.equal(occ.at, attempts[2].at);

    c.close();
    await flaky.waitFor(named('channel_vacated', name), DELAY_MS + 3000, 'channel_vacated');
    await expectNoWebhook(flaky, (e) => e.channel === name, 600);
    const counts = {};
    for (const e of flaky.eventsFor(name)) counts[e.name] = (counts[e.name] ?? 0) + 1;
    assert.deepEqual(counts, { channel_occupied: 1, channel_vacated: 1 });
  });
});

describe('batching', () => {
  test(`events within batch_window arrive in one POST; no POST holds more than batch_max_events (${BATCH_MAX})`, async (t) => {
    dumpOnFailure(t);
    const three = [uniq('batch3-'), uniq('batch3-'), uniq('batch3-')];
    const c = await rawConnect(server, hooked.key, { t });
    for (const name of three) c.subscribe(name);
    await all.until(() => three.every((n) => all.events.some(named('channel_occupied', n))), undefined, 'three channel_occupied');
    const carrying = all.requests.filter((r) => r.status === 200 && three.some((n) => r.body.includes(n)));
    assert.equal(carrying.length, 1, `three subscribes at once: ${carrying.length} POSTs: ${JSON.stringify(carrying.map((r) => r.body))}`);

    const six = Array.from({ length: 6 }, () => uniq('batch6-'));
    const d = await rawConnect(server, hooked.key, { t });
    for (const name of six) d.subscribe(name);
    await all.until(() => six.every((n) => all.events.some(named('channel_occupied', n))), undefined, 'six channel_occupied');
    const posts = all.requests.filter((r) => r.status === 200 && six.some((n) => r.body.includes(n)));
    assert.ok(posts.length >= 2, `six events in ${posts.length} POST(s)`);
    for (const r of all.requests) {
      assert.ok(r.events.length <= BATCH_MAX, `a POST with ${r.events.length} events: ${r.body}`);
    }
    for (const n of six) assert.equal(all.events.filter(named('channel_occupied', n)).length, 1);
  });
});

describe('overall', () => {
  test('every request validated, and no event was delivered twice', () => {
    const key = (e) => JSON.stringify([e.name, e.channel, e.user_id, e.event, e.data, e.socket_id]);
    for (const [what, r] of Object.entries({ all, occupancy, members, flaky })) {
      assert.deepEqual(r.invalid, [], `${what}: invalid requests`);
      const seen = new Map();
      for (const e of r.events) {
        if (e.name === 'subscription_count') continue; // the same count may legitimately come again
        seen.set(key(e), (seen.get(key(e)) ?? 0) + 1);
      }
      const twice = [...seen].filter(([, n]) => n > 1);
      assert.deepEqual(twice, [], `${what}: events delivered more than once`);
    }
  });
});
