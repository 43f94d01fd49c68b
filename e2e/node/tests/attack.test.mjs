// What an outside attacker tried, against the real binary: sockets that start a message and
// never finish it (while pinging), and HTTP clients that send slowly. The server bounds each in
// time, refuses what it must, and gives the memory back once the attacker has gone.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import { app, appPath, eventually, heraldConfig, hmac, md5, rssOf, startHerald, WebSocket } from '../harness.mjs';

const main = app();
const ATTACKERS = 1000;

describe('attacks on the real binary', () => {
  test('1,000 unfinished messages kept alive with pings: closed 4201 after the timeouts, memory returned', async (t) => {
    const srv = await startHerald(heraldConfig({ apps: [main], activity_timeout: '2s', pong_timeout: '2s' }), t);
    // Let the process settle, then take its resident size as the baseline.
    await delay(1000);
    const before = await rssOf(srv.pid);

    const closes = [];
    const sockets = [];
    for (let i = 0; i < ATTACKERS; i++) {
      const ws = new WebSocket(srv.wsURL(appPath(main.key)), { autoPong: false });
      sockets.push(ws);
      closes.push(
        new Promise((resolve) => {
          ws.on('close', (code) => resolve(code));
          ws.on('error', () => {});
          ws.once('message', () => {
            // After connection_established: the first fragment of a message kept open (just
            // under max_message_size), then WebSocket pings only.
            ws.send(Buffer.alloc(30 * 1024, 'x'), { fin: false });
            const pinger = setInterval(() => ws.readyState === WebSocket.OPEN && ws.ping('still here'), 250);
            ws.on('close', () => clearInterval(pinger));
          });
        }),
      );
    }
    t.after(() => sockets.forEach((ws) => ws.terminate()));
    await delay(1500);
    const peak = await rssOf(srv.pid);

    // activity_timeout (2 s) + pong_timeout (2 s) + sweeps: every attacker is closed 4201, its
    // pings notwithstanding.
    const codes = await Promise.race([Promise.all(closes), delay(20000, 'timeout')]);
    assert.notEqual(codes, 'timeout', 'attackers still connected 20 s after the start');
    const wrong = codes.filter((c) => c !== 4201);
    assert.deepEqual(wrong, [], `close codes other than 4201: ${wrong.slice(0, 10)}`);

    // The memory comes back within a minute of the attacker's leaving.
    let after = 0;
    await eventually(
      async () => {
        after = await rssOf(srv.pid);
        return after <= before + Math.max(16 << 20, (peak - before) / 4);
      },
      60000,
      'RSS back near its start',
      1000,
    ).catch((err) => {
      throw new Error(`${err.message}: before ${before >> 20} MiB, peak ${peak >> 20} MiB, after ${after >> 20} MiB`);
    });
    t.diagnostic(`RSS: before ${before >> 20} MiB, with ${ATTACKERS} attackers ${peak >> 20} MiB, a while after they left ${after >> 20} MiB`);
  });

  test('a signed HTTP API request whose body never ends is cut off after read_timeout (408)', async (t) => {
    const srv = await startHerald(heraldConfig({ apps: [main], read_timeout: '1s' }), t);
    const net = await import('node:net');
    const body = JSON.stringify({ name: 'slow', channel: 'news', data: '{}' });
    const path = `/apps/${main.id}/events`;
    const params = { auth_key: main.key, auth_timestamp: String(Math.floor(Date.now() / 1000)), auth_version: '1.0', body_md5: md5(body) };
    let qs = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&');
    qs += `&auth_signature=${hmac(main.secret, ['POST', path, qs].join('\n'))}`;
    const started = Date.now();
    const answer = await new Promise((resolve, reject) => {
      const sock = net.connect(srv.port, srv.host, () => {
        // The headers and five bytes of the body, then nothing.
        sock.write(`POST ${path}?${qs} HTTP/1.1\r\nHost: ${srv.host}\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`);
      });
      let got = '';
      sock.on('data', (d) => (got += d));
      sock.on('close', () => resolve(got));
      sock.on('error', reject);
      setTimeout(() => sock.destroy(), 15000).unref();
    });
    assert.ok(Date.now() - started < 10000, 'the connection was held open');
    assert.match(answer, /^HTTP\/1\.1 408/, `answer: ${answer.slice(0, 100)}`);
  });
});
