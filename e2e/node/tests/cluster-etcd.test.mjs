// A herald cluster with the etcd provider (etcd 3.4, started by the test on a free 127.0.0.1
// port): cross-node delivery, presence across nodes, and the members of a node killed with
// SIGKILL removed once. Skips only when there is no `etcd` binary (`go tool task e2e:etcd`
// installs it).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';

import {
  app,
  triggerThrough as trigger,
  apiRequest,
  collectEvents,
  connected,
  eventually,
  httpClient,
  libResult,
  nextEvent,
  pusherClient,
  startCluster,
  startEtcd,
  subscribe,
  uniq,
} from '../harness.mjs';

function hasEtcd() {
  try {
    return execFileSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
}
const skip = hasEtcd() ? false : 'no etcd binary on the PATH: install it with `go tool task e2e:etcd` (apt-get install etcd-server)';

describe('cluster with the etcd provider', { skip }, () => {
  test('cross-node delivery, presence across nodes, and kill -9 member removal', async (t) => {
    const etcd = await startEtcd(t);
    const main = app();
    const cluster = await startCluster(3, { provider: 'etcd', etcd: { endpoints: [etcd.endpoint], prefix: `/${uniq('herald-e2e-')}` }, apps: [main] }, t);
    const [A, B, C] = cluster.nodes;

    // Delivery: a trigger through each node reaches one client on each node exactly once.
    const name = uniq('etcd-');
    const clients = [];
    for (const node of [A, B, C]) {
      const c = pusherClient(node, main, {}, t);
      await connected(c);
      const { channel } = await subscribe(c, name);
      clients.push({ node, c, got: collectEvents(channel, 'seq') });
    }
    const N = 15;
    for (let s = 0; s < N; s++) await trigger([A, B, C][s % 3], main, name, 'seq', { s });
    await eventually(() => clients.every((x) => x.got.length >= N), 8000, `${N} events on every client`);
    const markers = clients.map((x) => nextEvent(x.c.channel(name), 'marker'));
    await trigger(A, main, name, 'marker', {});
    await Promise.all(markers);
    for (const x of clients) {
      assert.deepEqual(
        x.got.map((e) => e.data.s).sort((a, b) => a - b),
        Array.from({ length: N }, (_, k) => k),
        `client on ${x.node.name}: every event exactly once`,
      );
    }

    // Presence over 12 channels (some grains on the node that dies): a on A, b on B, c on C.
    const rooms = Array.from({ length: 12 }, () => uniq('presence-etcd-'));
    const users = [];
    for (const [k, node] of [A, B, C].entries()) {
      const c = pusherClient(node, main, { userId: `user${k}` }, t);
      await connected(c);
      await Promise.all(rooms.map((r) => subscribe(c, r)));
      users.push(c);
    }
    await eventually(() => rooms.every((r) => users.every((c) => c.channel(r).members.count === 3)), 5000, 'three members everywhere');
    for (const node of [A, B, C]) {
      const res = await apiRequest(node, main, { path: `/channels/${rooms[0]}/users` });
      assert.deepEqual(res.json?.users?.map((u) => u.id).sort(), ['user0', 'user1', 'user2'], `/users through ${node.name}: ${res.text}`);
    }
    const removed = users.slice(0, 2).map((c) => rooms.map((r) => collectEvents(c.channel(r), 'pusher:member_removed')));

    const killedAt = Date.now();
    await C.kill('SIGKILL');
    users[2].disconnect();
    await eventually(() => removed.every((perRoom) => perRoom.every((r) => r.length >= 1)), 30000, 'member_removed for user2 on every room of every survivor', 50);
    const took = Date.now() - killedAt;
    const detected = Math.max(...[A, B].map((n) => n.topology.find((u) => u.at >= killedAt && u.members === 2)?.at - killedAt));
    t.diagnostic(`cluster figure: etcd kill -9: 2-member topology after ${detected} ms, every member_removed after ${took} ms`);
    process.stderr.write(`# cluster figure: etcd kill -9: 2-member topology after ${detected} ms, every member_removed after ${took} ms\n`);

    const after = [0, 1].flatMap((k) => rooms.map((r) => nextEvent(users[k].channel(r), 'after', 8000)));
    await trigger(B, main, rooms, 'after', {});
    await Promise.all(after);
    for (const [k, perRoom] of removed.entries()) {
      perRoom.forEach((r, i) => assert.deepEqual(r.map((e) => e.data.id), ['user2'], `user${k} on ${rooms[i]}: member_removed once`));
    }
    for (const node of [A, B]) {
      for (const r of rooms) {
        const res = await apiRequest(node, main, { path: `/channels/${r}/users` });
        assert.deepEqual(res.json?.users?.map((u) => u.id).sort(), ['user0', 'user1'], `/users of ${r} through ${node.name}: ${res.text}`);
      }
    }
  });
});
