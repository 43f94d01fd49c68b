// Reconnect storms in a presence room, on a 2-node cluster: users whose sockets move between the
// nodes as page reloads do, while observers on both nodes watch the raw frames.
//
// What Pusher allows and what herald must hold:
//   - a user whose new socket joined before the old one left was present throughout: nobody sees
//     member_removed or member_added for it, and no webhook is sent;
//   - a user whose old socket left first and whose new one joined at once (the usual reload) may
//     be seen leaving and coming back, but never added twice nor removed while absent, and
//     within the webhook delay no webhook is sent for it;
//   - each observer's view, each node's GET /users and the webhooks agree with the truth.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { apiRequest, app, channelAuth, eventually, rawConnect, startCluster, startWebhookReceiver, uniq } from '../harness.mjs';

const USERS = 10;
const ROUNDS = 4;

/** A raw socket on node joined to room as user. */
async function join(t, node, appCfg, room, user) {
  const c = await rawConnect(node, appCfg.key, { t });
  const channelData = { user_id: user, user_info: { name: user } };
  await c.subscribeOK(room, channelAuth(appCfg, c.socketId, room, channelData), 10000);
  return c;
}

/**
 * Replays an observer's frames on room from its roster (the one it joined with, or the view
 * replayed before its frames were cleared): the violations (an add of a present user, a removal
 * of an absent one), what it saw added and removed, and its final view.
 */
function replay(observer, room) {
  let view = new Set(observer.roster);
  const violations = [];
  const seen = { added: new Map(), removed: new Map() };
  for (const f of observer.raw.map((r) => JSON.parse(r)).filter((f) => f.channel === room)) {
    if (f.event === 'pusher_internal:subscription_succeeded') {
      view = new Set(JSON.parse(f.data).presence.ids); // the roster it joined with
      continue;
    }
    if (f.event !== 'pusher_internal:member_added' && f.event !== 'pusher_internal:member_removed') continue;
    const id = JSON.parse(f.data).user_id;
    if (f.event === 'pusher_internal:member_added') {
      if (view.has(id)) violations.push(`member_added for ${id}, present`);
      view.add(id);
      seen.added.set(id, (seen.added.get(id) ?? 0) + 1);
    } else {
      if (!view.has(id)) violations.push(`member_removed for ${id}, absent`);
      view.delete(id);
      seen.removed.set(id, (seen.removed.get(id) ?? 0) + 1);
    }
  }
  return { view: [...view].sort(), violations, seen };
}

describe('page reloads in a presence room across two nodes', () => {
  for (const order of ['new socket first', 'old socket first']) {
    test(`${USERS} users x ${ROUNDS} reloads, alternating nodes, ${order}`, async (t) => {
      const receiver = await startWebhookReceiver(app(), {}, t);
      const main = app({ webhooks: [{ url: receiver.url, event_types: ['member_added', 'member_removed'] }] });
      const cluster = await startCluster(2, { apps: [main], config: { webhooks: { delay: '1s', batch_window: '20ms' } } }, t);
      const nodes = cluster.nodes;
      const room = `presence-${uniq('reload')}`;

      const observers = [];
      for (const [i, node] of nodes.entries()) {
        const o = await join(t, node, main, room, `obs-${i}`);
        observers.push(o);
      }
      const users = [];
      for (let i = 0; i < USERS; i++) {
        users.push({ id: `u-${i}`, node: i % 2, socket: await join(t, nodes[i % 2], main, room, `u-${i}`) });
      }
      const truth = () => [...observers.map((_, i) => `obs-${i}`), ...users.filter((u) => u.socket).map((u) => u.id)].sort();
      await eventually(
        () => observers.every((o) => JSON.stringify(replay(o, room).view) === JSON.stringify(truth())),
        10000,
        'every observer sees every user before the storm',
      );
      await eventually(() => receiver.events.filter((e) => e.name === 'member_added').length === USERS + 2, 10000, 'the joins announced');
      // Each observer's roster is what it has seen so far: its frames from here on are the storm.
      for (const o of observers) {
        const r = replay(o, room);
        o.raw.length = 0;
        o.roster = r.view;
      }
      const addedBefore = receiver.events.length;

      for (let round = 0; round < ROUNDS; round++) {
        await Promise.all(
          users.map(async (u) => {
            const to = 1 - u.node;
            if (order === 'new socket first') {
              const fresh = await join(t, nodes[to], main, room, u.id);
              u.socket.close();
              u.socket = fresh;
            } else {
              u.socket.close();
              u.socket = await join(t, nodes[to], main, room, u.id);
            }
            u.node = to;
          }),
        );
      }
      // Three users leave for good.
      for (const u of users.slice(0, 3)) {
        u.socket.close();
        u.socket = undefined;
      }

      const want = truth();
      await eventually(
        async () => {
          for (const node of nodes) {
            const res = await apiRequest(node, main, { path: `/channels/${room}/users` });
            const ids = res.status === 200 ? JSON.stringify(res.json.users.map((u) => u.id).sort()) : `status ${res.status}`;
            if (ids !== JSON.stringify(want)) throw new Error(`${node.name} lists ${ids}, want ${JSON.stringify(want)}`);
          }
          for (const [i, o] of observers.entries()) {
            const view = JSON.stringify(replay(o, room).view);
            if (view !== JSON.stringify(want)) throw new Error(`obs-${i} sees ${view}, want ${JSON.stringify(want)}`);
          }
          return true;
        },
        10000,
        'every node and every observer agree with the truth',
      );
      for (const [i, o] of observers.entries()) {
        const { violations, seen } = replay(o, room);
        assert.deepEqual(violations, [], `obs-${i}: frames inconsistent with its own view`);
        for (const u of users.slice(3)) {
          if (order === 'new socket first') {
            assert.equal(seen.added.get(u.id) ?? 0, 0, `obs-${i}: member_added for ${u.id}, who never left`);
            assert.equal(seen.removed.get(u.id) ?? 0, 0, `obs-${i}: member_removed for ${u.id}, who never left`);
          }
        }
        for (const u of users) {
          // Each reload seen as a leave is seen as a return too; the three that left, once more.
          const net = (seen.removed.get(u.id) ?? 0) - (seen.added.get(u.id) ?? 0);
          assert.equal(net, users.indexOf(u) < 3 ? 1 : 0, `obs-${i}: ${u.id} removed ${seen.removed.get(u.id) ?? 0} and added ${seen.added.get(u.id) ?? 0} times`);
        }
      }

      // Webhooks: one member_removed per user that left, after the delay; nothing for a reload.
      await receiver.until(() => receiver.events.filter((e) => e.name === 'member_removed').length >= 3, 10000, 'member_removed for the 3 that left');
      await new Promise((r) => setTimeout(r, 1500)); // the delay once more: a late duplicate would arrive by then
      const storm = receiver.events.slice(addedBefore).map((e) => `${e.name} ${e.user_id}`).sort();
      assert.deepEqual(storm, ['member_removed u-0', 'member_removed u-1', 'member_removed u-2'], 'membership webhooks during and after the storm');
    });
  }
});
