// A herald cluster whose topology changes: a member killed with SIGKILL (its presence members
// removed once, by the grains, never by every survivor; its grains re-activated elsewhere), a
// member joining (grains move and rebuild while events keep flowing), and a member leaving with
// SIGTERM (its clients told to reconnect with 4200). Each test starts its own cluster.
//
// The figures the tests measure (failure detection, member removal, the delivery pause while
// grains move) are printed as `# cluster figure: ...` lines.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import {
  app,
  connectedClient as clientOn,
  triggerThrough as trigger,
  apiRequest,
  appPath,
  channelAuth,
  collectEvents,
  connected,
  eventually,
  expectNothing,
  httpClient,
  libResult,
  nextEvent,
  openRaw,
  pusherClient,
  rawConnect,
  startCluster,
  startWebhookReceiver,
  subscribe,
  uniq,
} from '../harness.mjs';

/** Prints a measured figure where the test output keeps it. */
function figure(t, text) {
  t.diagnostic(`cluster figure: ${text}`);
  process.stderr.write(`# cluster figure: ${text}\n`);
}

async function usersOf(node, appCfg, channel) {
  const res = await apiRequest(node, appCfg, { path: `/channels/${channel}/users` });
  assert.equal(res.status, 200, `/users through ${node.name}: ${res.text}`);
  return res.json.users.map((u) => u.id).sort();
}

describe('cluster failover', () => {
  test('kill -9 of a node: its members are removed once everywhere and its grains keep delivering', async (t) => {
    const receiver = await startWebhookReceiver(app(), {}, t);
    const main = app({ webhooks: [{ url: receiver.url, event_types: ['member_added', 'member_removed'] }] });
    const cluster = await startCluster(3, { apps: [main], config: { webhooks: { delay: '500ms', batch_window: '20ms' } } }, t);
    const [A, B, C] = cluster.nodes;

    // 20 presence channels, so that some of their grains live on the node that dies. Users:
    // a (on A), b (on B and on C), c1 and c2 (only on C). One more channel has only c1.
    const prefix = uniq('fo');
    const names = Array.from({ length: 20 }, (_, i) => `presence-${prefix}-${i}`);
    const cOnly = `presence-${prefix}-conly`;
    const who = [
      { node: A, user: 'a' },
      { node: B, user: 'b' },
      { node: C, user: 'b' },
      { node: C, user: 'c1' },
      { node: C, user: 'c2' },
    ];
    const clients = [];
    for (const w of who) {
      const client = await clientOn(t, w.node, main, { userId: w.user });
      await Promise.all(names.map((n) => subscribe(client, n)));
      clients.push({ ...w, client });
    }
    await subscribe(clients[3].client, cOnly);
    const survivors = clients.slice(0, 2);
    for (const s of survivors) {
      s.removed = names.map((n) => collectEvents(s.client.channel(n), 'pusher:member_removed'));
    }
    await eventually(() => survivors.every((s) => names.every((n) => s.client.channel(n).members.count === 4)), 5000, 'four members on every survivor before the kill');
    const listBefore = await apiRequest(A, main, { path: '/channels', query: { filter_by_prefix: `presence-${prefix}` } });
    assert.equal(listBefore.status, 200, listBefore.text);
    assert.equal(Object.keys(listBefore.json.channels).length, 21, listBefore.text);

    const killedAt = Date.now();
    await C.kill('SIGKILL');
    // Its clients would reconnect to it when it restarts below: they are gone for good.
    for (const c of clients.slice(2)) c.client.disconnect();

    // Meanwhile, GET /channels on a survivor: a 5xx while a member does not answer, never a
    // list that misses a channel with subscribers on the survivors; then, once the topology
    // settled, exactly the channels that still have subscribers.
    const listings = [];
    const wrongListings = []; // a 200 missing a channel of the survivors, or a status not 5xx
    const listing = eventually(
      async () => {
        const at = Date.now() - killedAt;
        const res = await apiRequest(A, main, { path: '/channels', query: { filter_by_prefix: `presence-${prefix}` } }).catch((err) => ({
          status: 'error',
          text: err.message,
        }));
        const channels = res.status === 200 ? Object.keys(res.json.channels).sort() : undefined;
        listings.push({ at, status: res.status, count: channels?.length });
        if (channels ? !names.every((n) => channels.includes(n)) : !(res.status === 'error' || res.status >= 500)) {
          wrongListings.push({ at, status: res.status, text: res.text });
        }
        return channels && channels.length === names.length;
      },
      20000,
      'GET /channels on a survivor to answer the settled list',
      100,
    );

    // Every survivor: one member_removed for c1 and for c2 on each of the 20 channels.
    const removedBy = {};
    await eventually(
      () => {
        for (const s of survivors) {
          const n = s.removed.reduce((k, r) => k + r.length, 0);
          if (n >= 2 * names.length && !removedBy[s.user]) removedBy[s.user] = Date.now() - killedAt;
        }
        return survivors.every((s) => removedBy[s.user] !== undefined);
      },
      15000,
      'member_removed for c1 and c2 on every channel of every survivor',
      20,
    );
    await listing;
    assert.deepEqual(wrongListings, [], 'GET /channels while a member is gone: a 5xx or the whole list, never a partial one');
    const detected = Math.max(...[A, B].map((n) => n.topology.find((u) => u.at >= killedAt && u.members === 2)?.at - killedAt));
    figure(t, `kill -9: survivors logged the 2-member topology after ${detected} ms`);
    figure(t, `kill -9: every member_removed on every survivor after ${Math.max(...Object.values(removedBy))} ms`);
    figure(
      t,
      `kill -9: GET /channels on a survivor: ${listings.filter((l) => l.status !== 200).length} refused, first full answer after ${listings.at(-1).at} ms ` +
        `(statuses: ${[...new Set(listings.map((l) => l.status))].join(', ')})`,
    );

    // The grains keep delivering, whichever node they lived on: one trigger to all 20 through
    // each survivor. Anything duplicated would arrive before these.
    for (const via of [A, B]) {
      const got = survivors.flatMap((s) => names.map((n) => nextEvent(s.client.channel(n), 'after-kill', 8000)));
      await trigger(via, main, names, 'after-kill', { via: via.name });
      await Promise.all(got);
    }
    for (const s of survivors) {
      names.forEach((n, i) => {
        const ids = s.removed[i].map((e) => e.data.id).sort();
        assert.deepEqual(ids, ['c1', 'c2'], `${s.user} on ${n}: member_removed once per user of the dead node (b is still on B)`);
        assert.equal(s.client.channel(n).members.count, 2, `${s.user} on ${n}: a and b left`);
      });
    }
    // No ghost member on any survivor.
    for (const node of [A, B]) {
      for (const n of names) assert.deepEqual(await usersOf(node, main, n), ['a', 'b'], `/users of ${n} through ${node.name}`);
    }

    // Webhooks: one member_removed per user of the dead node and channel, none for a or b.
    const removedHooks = () => receiver.events.filter((e) => e.name === 'member_removed' && names.includes(e.channel));
    await receiver.until(() => removedHooks().length >= 2 * names.length, 10000, '40 member_removed webhooks');
    await expectNothing((fail) => {
      const check = setInterval(() => {
        if (removedHooks().length > 2 * names.length) fail(`more than ${2 * names.length} member_removed webhooks`);
      }, 50);
      return () => clearInterval(check);
    }, 1500);
    const hooks = removedHooks()
      .map((e) => `${e.channel}/${e.user_id}`)
      .sort();
    const want = names.flatMap((n) => [`${n}/c1`, `${n}/c2`]).sort();
    assert.deepEqual(hooks, want, 'one member_removed webhook per user of the dead node and channel');
    assert.deepEqual(receiver.invalid, [], 'every webhook request is signed');
    figure(t, `kill -9: last member_removed webhook after ${Math.max(...removedHooks().map((e) => e.at)) - killedAt} ms`);

    // The killed node comes back on the same ports (a join: grains move back to it). It sees the
    // rosters, and every channel delivers through every node to clients of every node.
    await C.restart();
    await cluster.waitReady(3);
    const problems = [];
    const back = await clientOn(t, C, main, { userId: 'back' });
    const subs = await Promise.allSettled(names.map((n) => subscribe(back, n)));
    subs.forEach((r, i) => r.status === 'rejected' && problems.push(`subscribe on the restarted node3 to ${names[i]}: ${r.reason.message}`));
    const roster = Object.keys(back.channel(names[0]).members.members ?? {}).sort();
    if (roster.join() !== 'a,b,back') problems.push(`roster of ${names[0]} seen on the restarted node3: ${roster}`);
    const receivers = [{ label: 'node3 (restarted)', client: back }, ...survivors.map((s) => ({ label: s.node.name, client: s.client }))];
    for (const via of [A, B, C]) {
      const ev = `after-restart-${via.name}`;
      const waits = receivers.flatMap((r) => names.map((n) => nextEvent(r.client.channel(n), ev, 3000).then(() => null, () => `${r.label} ${n}`)));
      await trigger(via, main, names, ev, {});
      const missing = (await Promise.all(waits)).filter(Boolean);
      if (missing.length) problems.push(`a trigger through ${via.name} after node3 restarted never reached: ${missing.join(', ')}`);
    }
    assert.deepEqual(problems, [], 'after the killed node restarted and rejoined');
  });

  test('a node joins: grains move and rebuild while events keep flowing', async (t) => {
    const main = app();
    const cluster = await startCluster(3, { apps: [main], spare: 1 }, t);
    const [A, B, C, D] = cluster.nodes;
    const prefix = uniq('join');
    const names = Array.from({ length: 20 }, (_, i) => `${prefix}-${i}`);
    const rooms = Array.from({ length: 6 }, (_, i) => `presence-${prefix}-${i}`);

    // One client per node on all 20 channels and all 6 presence channels (users u0, u1, u2).
    const clients = [];
    for (const [k, node] of [A, B, C].entries()) {
      const client = await clientOn(t, node, main, { userId: `u${k}` });
      await Promise.all([...names, ...rooms].map((n) => subscribe(client, n)));
      const arrivals = names.map(() => []);
      names.forEach((n, i) => client.channel(n).bind('tick', (d) => arrivals[i].push({ seq: d.seq, at: Date.now() })));
      const memberEvents = [];
      for (const r of rooms) {
        for (const ev of ['pusher:member_added', 'pusher:member_removed']) {
          client.channel(r).bind(ev, (m) => memberEvents.push({ room: r, ev, id: m.id }));
        }
      }
      clients.push({ node, client, arrivals, memberEvents });
    }

    // A trigger to all 20 channels every 50 ms, through A, B and C in turn.
    const triggers = [];
    let seq = 0;
    let running = true;
    const loop = (async () => {
      while (running) {
        const s = seq++;
        const via = [A, B, C][s % 3];
        const sentAt = Date.now();
        triggers.push(
          libResult(httpClient(via, main).trigger(names, 'tick', { seq: s }))
            .then((r) => ({ seq: s, sentAt, status: r.status, text: r.text }))
            .catch((err) => ({ seq: s, sentAt, status: 'error', text: err.message })),
        );
        await delay(50);
      }
    })();

    await delay(1000);
    // Only what happens from here counts: the member_added each client got as the others
    // subscribed above is legitimate.
    for (const c of clients) c.memberEvents.length = 0;
    const joinAt = Date.now();
    await D.start();
    await cluster.waitReady(4);
    const settledAt = Date.now();
    await delay(2500);
    running = false;
    await loop;
    const results = await Promise.all(triggers);
    const last = seq - 1;
    // Bounded wait for the last event everywhere; what did not arrive is reported below.
    await eventually(() => clients.every((c) => c.arrivals.every((a) => a.some((x) => x.seq === last))), 5000).catch(() => {});

    // The gap: the longest time any client waited between two events of one channel.
    let maxGap = { ms: 0 };
    let lost = 0;
    const lostBy = {}; // "node channel" -> the seqs it never got
    const lostAfterSettle = [];
    const duplicates = [];
    const sentAt = new Map(results.map((r) => [r.seq, r.sentAt]));
    for (const c of clients) {
      c.arrivals.forEach((a, i) => {
        for (let k = 1; k < a.length; k++) {
          const gap = a[k].at - a[k - 1].at;
          if (gap > maxGap.ms) maxGap = { ms: gap, client: c.node.name, channel: names[i], atSinceJoin: a[k - 1].at - joinAt };
        }
        const seqs = a.map((x) => x.seq);
        const seen = new Set(seqs);
        if (seen.size !== seqs.length) duplicates.push(`${c.node.name} ${names[i]}`);
        for (let s = 0; s <= last; s++) {
          if (seen.has(s)) continue;
          lost++;
          (lostBy[`${c.node.name} ${names[i]}`] ??= []).push(s);
          if (sentAt.get(s) > settledAt + 1000) lostAfterSettle.push(`${c.node.name} ${names[i]} seq ${s}`);
        }
      });
    }
    figure(
      t,
      `join: a 4th node joined in ${settledAt - joinAt} ms; largest delivery gap ${maxGap.ms} ms (trigger every 50 ms; ` +
        `${maxGap.client} on ${maxGap.channel}, ${maxGap.atSinceJoin} ms after the join began); ` +
        `${last + 1} triggers x ${names.length} channels x 3 clients, ${lost} deliveries lost`,
    );
    if (lost) {
      const ranges = Object.entries(lostBy).map(([k, v]) => `${k}: ${v.length} lost, seq ${v[0]}..${v.at(-1)}`);
      figure(t, `join: lost deliveries (join began at seq ~${results.find((r) => r.sentAt >= joinAt)?.seq}, settled at seq ~${results.find((r) => r.sentAt >= settledAt)?.seq}): ${ranges.join('; ')}`);
    }
    // Each problem is recorded and the test goes on, so one run shows all of them.
    const problems = [];
    const failed = results.filter((r) => r.status !== 200);
    if (failed.length) problems.push(`triggers not answered 200 during the join: ${JSON.stringify(failed)}`);
    if (duplicates.length) problems.push(`events delivered twice on: ${duplicates.join(', ')}`);
    if (lostAfterSettle.length) {
      problems.push(`${lostAfterSettle.length} deliveries of events triggered > 1 s after the join settled were lost, e.g. ${lostAfterSettle.slice(0, 6).join(', ')}`);
    }
    if (maxGap.ms >= 10000) problems.push(`deliveries paused ${maxGap.ms} ms`);

    // Rebuilt grains: the rosters are whole through every node, no client saw a member come or go.
    for (const node of [A, B, C, D]) {
      for (const r of rooms) {
        const res = await apiRequest(node, main, { path: `/channels/${r}/users` });
        const users = res.json?.users?.map((u) => u.id).sort().join();
        if (users !== 'u0,u1,u2') problems.push(`/users of ${r} through ${node.name}: ${res.status} ${res.text}`);
      }
      const info = await apiRequest(node, main, { path: `/channels/${names[0]}`, query: { info: 'subscription_count' } });
      if (info.json?.subscription_count !== 3) problems.push(`subscription_count of ${names[0]} through ${node.name}: ${info.status} ${info.text}`);
    }
    for (const c of clients) if (c.memberEvents.length) problems.push(`member events on ${c.node.name} while grains moved: ${JSON.stringify(c.memberEvents)}`);
    // The new node serves: a client there gets events triggered through every node (each to all
    // 20 channels), and the clients of the other nodes get events triggered through it.
    const onD = await clientOn(t, D, main);
    const subs = await Promise.allSettled(names.map((n) => subscribe(onD, n)));
    subs.forEach((r, i) => r.status === 'rejected' && problems.push(`subscribe on node4 to ${names[i]}: ${r.reason.message}`));
    const receivers = [{ label: 'node4', client: onD }, ...clients.map((c) => ({ label: c.node.name, client: c.client }))];
    for (const via of [A, B, C, D]) {
      const ev = `hello-${via.name}`;
      const waits = receivers.flatMap((r) => names.map((n) => nextEvent(r.client.channel(n), ev, 3000).then(() => null, () => `${r.label} ${n}`)));
      await trigger(via, main, names, ev, {});
      const missing = (await Promise.all(waits)).filter(Boolean);
      if (missing.length) problems.push(`a trigger through ${via.name} after the join never reached: ${missing.join(', ')}`);
    }
    assert.deepEqual(problems, [], 'a node joining');
  });

  test('a node leaves with SIGTERM: its clients get 4200, it refuses new sockets, the others keep serving', async (t) => {
    const main = app();
    const cluster = await startCluster(3, { apps: [main] }, t);
    const [A, B, C] = cluster.nodes;
    // 12 channels and 6 presence channels, so that some grains live on the node that leaves.
    const prefix = uniq('leave');
    const names = Array.from({ length: 12 }, (_, i) => `${prefix}-${i}`);
    const rooms = Array.from({ length: 6 }, (_, i) => `presence-${prefix}-${i}`);
    const raws = [];
    for (const node of [A, B, C]) {
      const r = await rawConnect(node, main.key, { t });
      for (const n of names) await r.subscribeOK(n);
      raws.push(r);
    }
    const watcher = await clientOn(t, A, main, { userId: 'watcher' });
    const removed = [];
    for (const r of rooms) {
      const { channel } = await subscribe(watcher, r);
      channel.bind('pusher:member_removed', (m) => removed.push({ room: r, id: m.id }));
    }
    const leaver = await rawConnect(C, main.key, { t });
    for (const r of rooms) await leaver.subscribeOK(r, channelAuth(main, leaver.socketId, r, { user_id: 'leaver', user_info: {} }));
    await eventually(() => rooms.every((r) => watcher.channel(r).members.count === 2), 5000, 'the leaver in every roster of the watcher');

    // Each problem is recorded and the test goes on, so one run shows all of them.
    const problems = [];
    /** Waits (bounded) until raws[0] and raws[1] got `event` on every channel; records the rest. */
    const deliveredToSurvivors = async (event, what, ms = 5000) => {
      const missing = () => [0, 1].flatMap((k) => names.filter((n) => !raws[k].frames.some((f) => f.event === event && f.channel === n)).map((n) => `${[A, B][k].name} ${n}`));
      await eventually(() => missing().length === 0, ms).catch(() => problems.push(`${what}: "${event}" never reached ${missing().join(', ')}`));
    };

    // From the signal until the process exits, a trigger to all 12 channels every 50 ms through
    // node1 and node2 in turn: the survivors' subscribers must get every one.
    const termAt = Date.now();
    const exited = C.kill('SIGTERM').then((r) => ({ ...r, at: Date.now() }));
    let leaving = true;
    exited.then(() => (leaving = false));
    const sent = [];
    const during = (async () => {
      for (let seq = 0; leaving; seq++) {
        const via = [A, B][seq % 2];
        const at = Date.now() - termAt;
        const res = await libResult(httpClient(via, main).trigger(names, 'during', { seq })).catch((err) => ({ status: err.message }));
        sent.push({ seq, at, via: via.name, status: res.status });
        await delay(50);
      }
    })();
    assert.equal((await raws[2].closeCode()).code, 4200, 'a client of the leaving node');
    assert.equal((await leaver.closeCode()).code, 4200, 'a presence client of the leaving node');

    // While it shuts down: no new socket on it.
    const attempt = await openRaw(C.wsURL(appPath(main.key))).then(
      async ({ client, httpStatus }) => {
        if (!client) return `http ${httpStatus}`;
        const f = await client.next((f) => f.event === 'pusher:connection_established' || f.event === 'pusher:error').catch((err) => ({ err }));
        client.close();
        return f.event === 'pusher:connection_established' ? 'established' : `refused (${JSON.stringify(f)})`;
      },
      (err) => `refused (${err.code ?? err.message})`,
    );
    assert.notEqual(attempt, 'established', 'a new socket on the node that is shutting down');

    const res = await exited;
    await during;
    figure(t, `SIGTERM: the node exited ${res.at - termAt} ms after the signal (code ${res.code}, signal ${res.signal})`);
    assert.equal(res.code, 0, `exit status after SIGTERM: ${JSON.stringify(res)}`);
    for (const x of sent) if (x.status !== 200) problems.push(`trigger seq ${x.seq} through ${x.via} ${x.at} ms after SIGTERM answered ${x.status}`);
    const last = sent.at(-1).seq;
    const key = (f) => `${f.channel} ${JSON.parse(f.data).seq}`;
    await eventually(() => [0, 1].every((k) => raws[k].frames.some((f) => f.event === 'during' && key(f) === `${names[0]} ${last}`)), 5000).catch(() => {});
    for (const k of [0, 1]) {
      const got = new Set(raws[k].frames.filter((f) => f.event === 'during').map(key));
      const lost = sent.flatMap((x) => names.filter((n) => !got.has(`${n} ${x.seq}`)).map((n) => `${n} seq ${x.seq} (${x.via}, ${x.at} ms)`));
      const lostAt = sent.filter((x) => names.some((n) => !got.has(`${n} ${x.seq}`))).map((x) => x.at);
      if (lostAt.length) figure(t, `SIGTERM: ${[A, B][k].name} lost events of triggers sent ${lostAt[0]}..${lostAt.at(-1)} ms after the signal (${lostAt.length} of ${sent.length} triggers)`);
      if (lost.length) problems.push(`${[A, B][k].name} never got ${lost.length} of ${sent.length * names.length} events triggered during the shutdown: ${lost.slice(0, 8).join(', ')}`);
    }

    // The leaver's sockets closed: member_removed once per room.
    await eventually(() => rooms.every((r) => removed.some((m) => m.room === r)), 8000).catch(() =>
      problems.push(`no member_removed for the leaver within 8 s of SIGTERM on ${rooms.filter((r) => !removed.some((m) => m.room === r)).join(', ')}`),
    );
    // After it left.
    await cluster.waitReady(2);
    await trigger(A, main, names, 'after-a', {});
    await trigger(B, main, names, 'after-b', {});
    await deliveredToSurvivors('after-a', 'trigger through node1 after the node left');
    await deliveredToSurvivors('after-b', 'trigger through node2 after the node left');
    const marker = rooms.map((r) => nextEvent(watcher.channel(r), 'marker').catch(() => problems.push(`no marker on ${r} after the node left`)));
    await trigger(B, main, rooms, 'marker', {});
    await Promise.all(marker);
    for (const r of rooms) {
      const n = removed.filter((m) => m.room === r).length;
      if (n > 1) problems.push(`${n} member_removed on ${r}`);
      const users = await usersOf(B, main, r);
      if (users.join() !== 'watcher') problems.push(`/users of ${r} through node2 after the node left: ${users}`);
    }
    assert.deepEqual(problems, [], 'a graceful leave');
  });
});
