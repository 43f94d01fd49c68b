// A 3-node herald cluster (automanaged provider, static seeds) in steady state: a trigger on any
// node reaches the subscribers of every node exactly once, socket_id exclusion across nodes,
// channel info and presence rosters exact across nodes, and the per-app limits (presence members,
// connections) counted over the whole cluster. Failover, joins and leaves are in
// cluster-failover.test.mjs; the etcd provider in cluster-etcd.test.mjs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  app,
  connectedClient,
  triggerThrough,
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
  subscribe,
  uniq,
  useCluster,
} from '../harness.mjs';

const main = app();
const small = app({ id: 'small-id', key: 'small-key', secret: 'small-secret', limits: { max_presence_members: 2 } });
const capped = app({ id: 'capped-id', key: 'capped-key', secret: 'capped-secret', limits: { max_connections: 4 } });
const cluster = useCluster(3, { apps: [main, small, capped] });

const node = (i) => cluster.nodes[i];

/** GET on the HTTP API of node i through the `pusher` library: {status, json}. */
function get(i, path, params = {}, appCfg = main) {
  return libResult(httpClient(node(i), appCfg).get({ path, params }));
}

/** Triggers `event` on `channel` through node i and waits for the 200. */
function trigger(i, channel, event, data, params) {
  return triggerThrough(node(i), main, channel, event, data, params);
}

/** A pusher-js client on node i, connected. */
function clientOn(t, i, opts = {}, appCfg = main) {
  return connectedClient(t, node(i), appCfg, opts);
}

describe('cluster delivery', () => {
  test('a trigger on any node reaches the subscribers of every node exactly once', async (t) => {
    const name = uniq('cl-deliver-');
    // Two clients per node, so both the per-node message and the local fan-out are counted.
    const clients = [];
    for (const i of [0, 1, 2, 0, 1, 2]) clients.push({ on: node(i).name, client: await clientOn(t, i) });
    const got = [];
    for (const c of clients) {
      const { channel } = await subscribe(c.client, name);
      got.push(collectEvents(channel, 'seq'));
    }

    const N = 60;
    for (let s = 0; s < N; s += 3) {
      // Three triggers at once, one through each node.
      await Promise.all([0, 1, 2].map((i) => trigger(i, name, 'seq', { s: s + i })));
    }
    await eventually(() => got.every((g) => g.length >= N), 10000, `${N} events on every client`);
    // Anything extra (a duplicate) would come before this marker, sent after all of them.
    const markers = clients.map((c) => nextEvent(c.client.channel(name), 'marker'));
    await trigger(0, name, 'marker', {});
    await Promise.all(markers);
    await expectNothing((fail) => {
      const extra = got.find((g) => g.length !== N);
      if (extra) fail(`a client got ${extra.length} events`);
    }, 200);
    const want = Array.from({ length: N }, (_, k) => k);
    clients.forEach((c, k) => {
      const seqs = got[k].map((e) => e.data.s).sort((a, b) => a - b);
      assert.deepEqual(seqs, want, `client on ${c.on}: each of the ${N} events exactly once`);
    });
  });

  test('one trigger to several channels whose grains live on different nodes', async (t) => {
    const names = Array.from({ length: 12 }, () => uniq('cl-multi-'));
    const clients = [await clientOn(t, 0), await clientOn(t, 1), await clientOn(t, 2)];
    const got = [];
    for (const c of clients) {
      for (const n of names) got.push(collectEvents((await subscribe(c, n)).channel, 'multi'));
    }
    await trigger(1, names, 'multi', { x: 1 });
    await eventually(() => got.every((g) => g.length === 1), 5000, 'the event on every channel of every client');
    const markers = clients.map((c) => nextEvent(c.channel(names.at(-1)), 'marker'));
    await trigger(1, names.at(-1), 'marker', {});
    await Promise.all(markers);
    assert.ok(
      got.every((g) => g.length === 1),
      `exactly once per channel and client: ${JSON.stringify(got.map((g) => g.length))}`,
    );
  });

  test('socket_id exclusion works when the excluded socket is on another node than the trigger', async (t) => {
    const name = uniq('cl-exclude-');
    const onB = await clientOn(t, 1);
    const onC = await clientOn(t, 2);
    const onB2 = await clientOn(t, 1);
    const cB = (await subscribe(onB, name)).channel;
    const cC = (await subscribe(onC, name)).channel;
    const cB2 = (await subscribe(onB2, name)).channel;
    const excluded = collectEvents(cB, 'only-others');
    const others = [nextEvent(cC, 'only-others'), nextEvent(cB2, 'only-others')];
    // Through node A, excluding a socket on node B.
    await trigger(0, name, 'only-others', { x: 1 }, { socket_id: onB.connection.socket_id });
    await Promise.all(others);
    // Same grain, same node stream: the marker arrives after anything sent before it.
    const marker = nextEvent(cB, 'marker');
    await trigger(0, name, 'marker', {});
    await marker;
    assert.deepEqual([...excluded], [], 'the excluded socket (on another node) got the event');
  });
});

describe('cluster channel info', () => {
  test('GET /channels/{name}?info=subscription_count is exact through every node', async (t) => {
    const name = uniq('cl-count-');
    // Two subscribers on A, one on B, one on C.
    for (const i of [0, 0, 1, 2]) await subscribe(await clientOn(t, i), name);
    for (const i of [0, 1, 2]) {
      const res = await get(i, `/channels/${name}`, { info: 'subscription_count' });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.occupied, true, `through ${node(i).name}: ${res.text}`);
      assert.equal(res.json.subscription_count, 4, `through ${node(i).name}: ${res.text}`);
    }
  });

  test('presence user_count and /users are exact through every node', async (t) => {
    const name = uniq('presence-cl-info-');
    // u1 on A and on B (one member), u2 on C.
    await subscribe(await clientOn(t, 0, { userId: 'u1' }), name);
    await subscribe(await clientOn(t, 1, { userId: 'u1' }), name);
    await subscribe(await clientOn(t, 2, { userId: 'u2' }), name);
    for (const i of [0, 1, 2]) {
      const info = await get(i, `/channels/${name}`, { info: 'user_count' });
      assert.equal(info.status, 200, info.text);
      assert.equal(info.json.user_count, 2, `user_count through ${node(i).name}: ${info.text}`);
      const users = await get(i, `/channels/${name}/users`);
      assert.equal(users.status, 200, users.text);
      assert.deepEqual(
        users.json.users.map((u) => u.id).sort(),
        ['u1', 'u2'],
        `/users through ${node(i).name}: ${users.text}`,
      );
    }
  });

  test('GET /channels lists channels whose subscribers are all on other nodes', async (t) => {
    const prefix = uniq('cl-list-');
    const onB = `${prefix}-b`;
    const onC = `${prefix}-c`;
    const presence = `presence-${prefix}`;
    await subscribe(await clientOn(t, 1), onB);
    await subscribe(await clientOn(t, 2), onC);
    await subscribe(await clientOn(t, 2, { userId: 'p1' }), presence);
    await subscribe(await clientOn(t, 1, { userId: 'p2' }), presence);
    const res = await get(0, '/channels', { filter_by_prefix: prefix });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json.channels).sort(), [onB, onC].sort(), `through node1: ${res.text}`);
    const pres = await get(0, '/channels', { filter_by_prefix: `presence-${prefix}`, info: 'user_count' });
    assert.equal(pres.status, 200, pres.text);
    assert.deepEqual(pres.json.channels, { [presence]: { user_count: 2 } }, pres.text);
  });
});

describe('cluster presence', () => {
  test('one user on two nodes is one member: member_added once, member_removed after the last socket', async (t) => {
    const name = uniq('presence-cl-');
    const watchA = await clientOn(t, 0, { userId: 'watch-a' });
    const watchC = await clientOn(t, 2, { userId: 'watch-c' });
    const chA = (await subscribe(watchA, name)).channel;
    const chC = (await subscribe(watchC, name)).channel;
    const events = (ch) => ({ added: collectEvents(ch, 'pusher:member_added'), removed: collectEvents(ch, 'pusher:member_removed') });
    const seen = [events(chA), events(chC)];
    const marker = async () => {
      const got = [nextEvent(chA, 'marker'), nextEvent(chC, 'marker')];
      await trigger(1, name, 'marker', {});
      await Promise.all(got);
    };

    // The user's first socket anywhere (node B): member_added on both watchers.
    const first = await clientOn(t, 1, { userId: 'dup', userInfo: { n: 1 } });
    const addedA = nextEvent(chA, 'pusher:member_added');
    const addedC = nextEvent(chC, 'pusher:member_added');
    const { channel: firstCh } = await subscribe(first, name);
    assert.deepEqual((await addedA).data, { id: 'dup', info: { n: 1 } });
    assert.deepEqual((await addedC).data, { id: 'dup', info: { n: 1 } });
    assert.equal(firstCh.members.count, 3);

    // The same user on node C: no member_added anywhere, and it sees one member for itself.
    const second = await clientOn(t, 2, { userId: 'dup', userInfo: { n: 1 } });
    const { channel: secondCh } = await subscribe(second, name);
    assert.equal(secondCh.members.count, 3, 'the roster counts users, not sockets');
    await marker();
    for (const s of seen) assert.equal(s.added.filter((e) => e.data.id === 'dup').length, 1, 'member_added exactly once');

    // Its first socket leaves: still a member.
    first.disconnect();
    await eventually(async () => (await get(0, `/channels/${name}`, { info: 'subscription_count' })).json?.subscription_count === 3, 5000, 'the first socket gone');
    await marker();
    for (const s of seen) assert.deepEqual([...s.removed], [], 'no member_removed while the user has a socket anywhere');
    const users = await get(1, `/channels/${name}/users`);
    assert.deepEqual(users.json.users.map((u) => u.id).sort(), ['dup', 'watch-a', 'watch-c']);

    // Its last socket leaves: member_removed once on every node.
    const removedA = nextEvent(chA, 'pusher:member_removed');
    const removedC = nextEvent(chC, 'pusher:member_removed');
    second.disconnect();
    assert.equal((await removedA).data.id, 'dup');
    assert.equal((await removedC).data.id, 'dup');
    await marker();
    for (const s of seen) assert.equal(s.removed.length, 1, `member_removed exactly once: ${JSON.stringify(s.removed)}`);
    assert.equal(chA.members.count, 2);
    assert.equal(chC.members.count, 2);
  });

  test('max_presence_members counts the members of every node', async (t) => {
    const name = uniq('presence-cl-full-');
    await subscribe(await clientOn(t, 0, { userId: 'm1' }, small), name);
    await subscribe(await clientOn(t, 1, { userId: 'm2' }, small), name);
    // A third distinct user, on the third node: the channel is full cluster-wide.
    const third = await rawConnect(node(2), small.key, { t });
    third.subscribe(name, channelAuth(small, third.socketId, name, { user_id: 'm3', user_info: {} }));
    const f = await third.next((f) => f.channel === name || f.event === 'pusher:error');
    assert.equal(f.event, 'pusher:subscription_error', JSON.stringify(f));
    // A member already present may join from another node.
    const again = await clientOn(t, 2, { userId: 'm1' }, small);
    const { channel } = await subscribe(again, name);
    assert.equal(channel.members.count, 2);
  });
});

describe('cluster connections', () => {
  test('socket ids are unique across nodes', async (t) => {
    const sockets = await Promise.all(Array.from({ length: 60 }, (_, k) => rawConnect(node(k % 3), main.key, { t })));
    const ids = sockets.map((s) => s.socketId);
    for (const id of ids) assert.match(id, /^\d+\.\d+$/);
    assert.equal(new Set(ids).size, ids.length, `duplicate socket ids: ${ids.filter((id, k) => ids.indexOf(id) !== k)}`);
    for (const s of sockets) s.close();
  });

  test('max_connections counts the sockets of every node (gossiped each second)', async (t) => {
    // Two sockets on A and two on B: the app's limit of 4 is reached cluster-wide.
    const held = [];
    for (const i of [0, 0, 1, 1]) held.push(await rawConnect(node(i), capped.key, { t }));

    /** Connects to node i: 'open' if established (then closed again), or the close code. */
    const attempt = async (i) => {
      const { client, httpStatus } = await openRaw(node(i).wsURL(appPath(capped.key)));
      if (!client) return `http ${httpStatus}`;
      const f = await client.next((f) => f.event === 'pusher:connection_established' || f.event === 'pusher:error').catch((err) => ({ err }));
      if (f.event === 'pusher:connection_established') {
        client.close();
        return 'open';
      }
      return (await client.closeCode()).code;
    };
    // Node C has no socket of its own: it refuses once the others' counts reached it by gossip.
    const code = await eventually(
      async () => {
        const r = await attempt(2);
        return r === 'open' ? false : r;
      },
      6000,
      'node3 to refuse the 5th socket of the cluster',
      200,
    );
    assert.equal(code, 4004);
    // Each node learns the others' counts by its own gossip rounds: wait for each, bounded.
    for (const i of [0, 1]) {
      const c = await eventually(
        async () => {
          const r = await attempt(i);
          return r === 'open' ? false : r;
        },
        6000,
        `${node(i).name} to refuse the 5th socket of the cluster`,
        200,
      );
      assert.equal(c, 4004, `the 5th socket through ${node(i).name}`);
    }

    // One leaves on B: a socket fits again, anywhere.
    held.pop().close();
    await eventually(async () => (await attempt(2)) === 'open', 6000, 'node3 to accept a socket once one left', 200);
  });
});
