// Test harness for the herald black-box suite: starts the built server binary with a config of
// the test's choosing, and builds the clients users run against it (pusher-js, the `pusher` HTTP
// library, laravel-echo) plus a raw WebSocket client and a hand-signing HTTP client for the cases
// the libraries refuse to produce (malformed frames, bad signatures, stale timestamps).
//
// Waiting rule: everything that can be awaited is awaited with a timeout (`withTimeout`,
// `nextEvent`, `RawClient.next`, ...). The only fixed waits are in `expectNothing`, which bounds
// how long the suite watches for something that must NOT happen.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import Pusher from 'pusher-js';
import PusherServer from 'pusher';
import Echo from 'laravel-echo';
import WebSocket from 'ws';

export { Pusher, PusherServer, Echo, WebSocket };

// Default per-operation timeout. Generous for a 2-core CI machine, small enough that a hang fails
// the test long before node's own test timeout.
export const TIMEOUT_MS = 5000;

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

export const DEFAULT_LIMITS = Object.freeze({
  max_connections: 0,
  max_client_events_per_second: 10,
  max_presence_members: 100,
  max_presence_member_size: 1024,
  max_event_data_size: 10240,
  max_event_name_length: 200,
  max_channel_name_length: 164,
  max_channels_per_event: 100,
  max_batch_events: 10,
});

/** An app entry for the server config; `limits` is merged over DEFAULT_LIMITS. */
export function app(overrides = {}) {
  const { limits = {}, ...rest } = overrides;
  return {
    id: 'app-id',
    key: 'app-key',
    secret: 'app-secret',
    enabled: true,
    client_events: true,
    user_authentication: false,
    user_authentication_timeout: '30s',
    ...rest,
    limits: { ...DEFAULT_LIMITS, ...limits },
  };
}

/** A whole server config; every server listens on a free loopback port. */
export function heraldConfig({ apps = [app()], activity_timeout = '120s', ...rest } = {}) {
  return { listen: '127.0.0.1:0', activity_timeout, apps, ...rest };
}

// ---------------------------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------------------------

const LISTENING = /herald listening on (\S+)/;
const START_TIMEOUT_MS = 15000;
const STOP_GRACE_MS = 5000;
const MAX_LOG_LINES = 4000;

const liveChildren = new Set();

// Last resort: whatever happens to the test process, no server outlives it.
process.on('exit', () => {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

function heraldBin() {
  const bin = process.env.HERALD_BIN;
  if (!bin) {
    throw new Error(
      'HERALD_BIN is not set: build the server (go build -o bin/herald ./cmd/herald) and set ' +
        'HERALD_BIN to its absolute path, or run `go tool task e2e:test` from the repo root',
    );
  }
  return bin;
}

/**
 * Spawns herald with a config file. Every output line goes to `record(stream, line)`; `exited`
 * resolves with {code, signal} (or {error}) when the process ends, `address` with HOST:PORT when
 * it prints `herald listening on`. The process is killed if the test process exits first.
 */
function spawnHerald(file, record) {
  // Without the harness's own HERALD_* variables (HERALD_BIN, ...): herald refuses any it does not read.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HERALD_')));
  const child = spawn(heraldBin(), ['--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env });
  liveChildren.add(child);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      liveChildren.delete(child);
      record('harness', `exited code=${code} signal=${signal}`);
      resolve({ code, signal });
    });
    child.on('error', (err) => {
      liveChildren.delete(child);
      record('spawn', String(err));
      resolve({ code: null, signal: null, error: err });
    });
  });
  const address = new Promise((resolve) => {
    for (const [name, stream] of [
      ['stdout', child.stdout],
      ['stderr', child.stderr],
    ]) {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, '');
          buf = buf.slice(nl + 1);
          record(name, line);
          const m = name === 'stdout' && LISTENING.exec(line);
          if (m) resolve(m[1]);
        }
      });
    }
  });
  return { child, exited, address };
}

/**
 * Starts herald with `config` (written as YAML: JSON is valid YAML) and resolves once it prints
 * `herald listening on HOST:PORT`. If `t` (a test context) is given, the server is stopped when
 * that test ends and its output is printed if the test failed.
 */
export async function startHerald(config, t) {
  const dir = await mkdtemp(path.join(tmpdir(), 'herald-e2e-'));
  const file = path.join(dir, 'herald.yaml');
  // Several servers run at once: unless a test asks for a metrics address, take a free one.
  await writeFile(file, JSON.stringify({ metrics_listen: '127.0.0.1:0', ...config }, null, 2));

  const lines = [];
  const record = (stream, line) => {
    lines.push(`[${stream}] ${line}`);
    if (lines.length > MAX_LOG_LINES) lines.splice(0, lines.length - MAX_LOG_LINES);
  };
  const { child, exited, address } = spawnHerald(file, record);

  const logs = () => lines.join('\n');
  let stopping;
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const res = await Promise.race([exited, delay(STOP_GRACE_MS, null, { ref: false })]);
        if (res === null) {
          record('harness', `no exit ${STOP_GRACE_MS} ms after SIGTERM: sending SIGKILL`);
          child.kill('SIGKILL');
        }
      }
      const res = await exited;
      await rm(dir, { recursive: true, force: true });
      return res;
    })();
    return stopping;
  };

  if (t) {
    t.after(async () => {
      if (!t.passed) printLogs(`herald (started in "${t.name}")`, logs());
      await stop();
    });
  }

  const outcome = await Promise.race([
    address.then((addr) => ({ addr })),
    exited.then((res) => ({ exited: res })),
    // unref'd: the losing timer must not keep the test process alive after the file's tests.
    delay(START_TIMEOUT_MS, { timeout: true }, { ref: false }),
  ]);
  if (!outcome.addr) {
    await stop();
    const why = outcome.timeout
      ? `did not print "herald listening on" within ${START_TIMEOUT_MS} ms`
      : `exited before listening (${JSON.stringify(outcome.exited)})`;
    throw new Error(`herald ${why}\nconfig:\n${JSON.stringify(config, null, 2)}\noutput:\n${logs()}`);
  }

  const sep = outcome.addr.lastIndexOf(':');
  const host = outcome.addr.slice(0, sep);
  const port = Number(outcome.addr.slice(sep + 1));
  return {
    host,
    port,
    wsPort: port,
    httpPort: port,
    config,
    apps: config.apps,
    baseURL: `http://${host}:${port}`,
    wsURL: (p) => `ws://${host}:${port}${p}`,
    logs,
    stop,
    exited,
    pid: child.pid,
  };
}

/** The resident set size of process pid, in bytes (Linux: /proc/PID/status VmRSS). */
export async function rssOf(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

function printLogs(title, text) {
  process.stderr.write(`\n----- ${title} output -----\n${text || '(no output)'}\n----- end of ${title} output -----\n`);
}

/**
 * Starts one server for the whole file: before() starts it, after() stops it, and its output is
 * printed after any test of the file that fails. Returns a handle filled in by before().
 */
export function useHerald(config) {
  const server = {};
  before(async () => {
    Object.assign(server, await startHerald(config));
  });
  after(async () => {
    await server.stop?.();
  });
  afterEach((t) => {
    if (!t.passed && server.logs) printLogs(`herald (file server, failed test "${t.name}")`, server.logs());
  });
  return server;
}

// ---------------------------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------------------------

/** Rejects with a message naming `what` if `promise` does not settle within `ms`. */
export function withTimeout(promise, ms = TIMEOUT_MS, what = 'operation') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Watches for `ms` that nothing arrives: `start(fail)` installs a listener and calls `fail(desc)`
 * if the forbidden thing happens; it may return a cleanup function. Resolves when nothing did.
 */
export async function expectNothing(start, ms = 500) {
  let failure;
  const cleanup = start((desc) => {
    failure ??= desc;
  });
  try {
    await delay(ms);
  } finally {
    if (typeof cleanup === 'function') cleanup();
  }
  if (failure !== undefined) throw new Error(`expected nothing, got: ${typeof failure === 'string' ? failure : JSON.stringify(failure)}`);
}

/** Polls `fn` until it returns a truthy value (or stops throwing), or fails after `ms`. */
export async function eventually(fn, ms = TIMEOUT_MS, what = 'condition', every = 50) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = new Error(`${what}: returned ${JSON.stringify(v)}`);
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}: ${last?.message ?? last}`);
    }
    await delay(every);
  }
}

/**
 * The next `event` emitted by a pusher-js bindable (channel, connection, client, user). Resolves
 * with {data, metadata}.
 */
export function nextEvent(bindable, event, ms = TIMEOUT_MS) {
  let handler;
  const p = new Promise((resolve) => {
    handler = (data, metadata) => resolve({ data, metadata });
    bindable.bind(event, handler);
  });
  return withTimeout(p, ms, `"${event}"`).finally(() => bindable.unbind(event, handler));
}

/** Collects every `event` on a pusher-js bindable; `stop()` unbinds. */
export function collectEvents(bindable, event) {
  const got = [];
  const handler = (data, metadata) => got.push({ data, metadata });
  bindable.bind(event, handler);
  got.stop = () => bindable.unbind(event, handler);
  return got;
}

// ---------------------------------------------------------------------------------------------
// Clients: the `pusher` HTTP library
// ---------------------------------------------------------------------------------------------

/** A `pusher` (HTTP library) client for `appCfg` on `server`. */
export function httpClient(server, appCfg, extra = {}) {
  return new PusherServer({
    appId: appCfg.id,
    key: appCfg.key,
    secret: appCfg.secret,
    host: server.host,
    port: server.httpPort,
    useTLS: false,
    timeout: TIMEOUT_MS,
    ...extra,
  });
}

// Signs locally: the `pusher` library only signs, it never talks to a server here.
function signer(appCfg, { secret, encryptionMasterKeyBase64 } = {}) {
  return new PusherServer({
    appId: appCfg.id,
    key: appCfg.key,
    secret: secret ?? appCfg.secret,
    host: '127.0.0.1',
    useTLS: false,
    ...(encryptionMasterKeyBase64 ? { encryptionMasterKeyBase64 } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// Clients: pusher-js
// ---------------------------------------------------------------------------------------------

/**
 * A pusher-js client configured for herald. Channel authorization and user authentication are
 * signed locally with the `pusher` library.
 *
 * opts.user         presence channel_data ({user_id, user_info}) and sign-in user data default
 * opts.presence     presence channel_data, default {user_id: opts.userId ?? random, user_info: {}}
 * opts.userData     sign-in user data, default {id: presence user_id}
 * opts.secret       signing secret (pass a wrong one to test signature checks)
 * opts.encryptionMasterKeyBase64  for private-encrypted- channels
 * opts.pusherOptions   merged into the pusher-js options
 * t                 test context: the client is disconnected when the test ends
 */
export function pusherClient(server, appCfg, opts = {}, t) {
  const sign = signer(appCfg, opts);
  const userId = opts.userId ?? `user-${crypto.randomUUID().slice(0, 8)}`;
  const presence = opts.presence ?? { user_id: userId, user_info: opts.userInfo ?? { name: userId } };
  const userData = opts.userData ?? { id: presence.user_id };
  const client = new Pusher(appCfg.key, {
    wsHost: server.host,
    wsPort: server.wsPort,
    forceTLS: false,
    enabledTransports: ['ws'],
    cluster: '',
    disableStats: true,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        try {
          const data = channelName.startsWith('presence-') ? presence : undefined;
          callback(null, sign.authorizeChannel(socketId, channelName, data));
        } catch (err) {
          callback(err, null);
        }
      },
    },
    userAuthentication: {
      customHandler: ({ socketId }, callback) => {
        try {
          callback(null, sign.authenticateUser(socketId, userData));
        } catch (err) {
          callback(err, null);
        }
      },
    },
    ...opts.pusherOptions,
  });
  if (t) t.after(() => client.disconnect());
  return client;
}

/** Resolves once a pusher-js client is connected; rejects if it fails or becomes unavailable. */
export function connected(client, ms = TIMEOUT_MS) {
  if (client.connection.state === 'connected') return Promise.resolve(client.connection.socket_id);
  let handler;
  const p = new Promise((resolve, reject) => {
    handler = ({ current }) => {
      if (current === 'connected') resolve(client.connection.socket_id);
      else if (current === 'failed' || current === 'unavailable') reject(new Error(`pusher-js connection ${current}`));
    };
    client.connection.bind('state_change', handler);
  });
  return withTimeout(p, ms, 'pusher-js connection').finally(() => client.connection.unbind('state_change', handler));
}

/** The next raw protocol message named `event` that a pusher-js client receives. */
export function nextMessage(client, event, ms = TIMEOUT_MS) {
  let handler;
  const p = new Promise((resolve) => {
    handler = (msg) => {
      if (msg.event === event) resolve(msg);
    };
    client.connection.bind('message', handler);
  });
  return withTimeout(p, ms, `message "${event}"`).finally(() => client.connection.unbind('message', handler));
}

/**
 * Subscribes a pusher-js client and resolves with {channel, data} once the subscription
 * succeeded; rejects with the subscription_error data otherwise.
 */
export async function subscribe(client, name, ms = TIMEOUT_MS) {
  const channel = client.subscribe(name);
  if (channel.subscribed) return { channel, data: undefined };
  const handlers = {};
  const p = new Promise((resolve, reject) => {
    handlers.ok = (data) => resolve({ channel, data });
    handlers.err = (data) => {
      const e = new Error(`subscription_error on ${name}: ${JSON.stringify(data)}`);
      e.data = data;
      reject(e);
    };
    channel.bind('pusher:subscription_succeeded', handlers.ok);
    channel.bind('pusher:subscription_error', handlers.err);
  });
  return withTimeout(p, ms, `subscription to ${name}`).finally(() => {
    channel.unbind('pusher:subscription_succeeded', handlers.ok);
    channel.unbind('pusher:subscription_error', handlers.err);
  });
}

/** A laravel-echo instance (pusher broadcaster) over a pusher-js client made by pusherClient. */
export function echoClient(server, appCfg, opts = {}, t) {
  const client = pusherClient(server, appCfg, opts, t);
  const echo = new Echo({ broadcaster: 'pusher', key: appCfg.key, client });
  return { echo, client };
}

// ---------------------------------------------------------------------------------------------
// Clients: raw WebSocket
// ---------------------------------------------------------------------------------------------

/** The WebSocket path pusher-js uses. */
export function appPath(key, query = 'protocol=7&client=js&version=8.6.0&flash=false') {
  return `/app/${key}${query === null ? '' : `?${query}`}`;
}

/**
 * A raw WebSocket client that keeps every frame it receives, parsed, in order, and lets a test
 * take them one by one (`next`) or wait for the close code.
 */
export class RawClient {
  constructor(ws) {
    this.ws = ws;
    this.frames = [];
    this.raw = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        for (const w of this.waiters.splice(0)) w.onClose(this.closeInfo);
      });
    });
    ws.on('error', () => {}); // surfaced through `closed`
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? data : data.toString();
      this.raw.push(text);
      let frame;
      try {
        frame = JSON.parse(text);
      } catch {
        frame = { unparsable: String(text) };
      }
      this.frames.push(frame);
      this.pump();
    });
  }

  pump() {
    for (const w of [...this.waiters]) {
      const i = this.frames.findIndex(w.match);
      if (i >= 0) {
        const [f] = this.frames.splice(i, 1);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(f);
      }
    }
  }

  /**
   * The next received frame (in order) matching `match`: an event name, or a predicate. Frames
   * taken are removed from the buffer; frames that do not match are kept.
   */
  next(match, ms = TIMEOUT_MS) {
    const pred = typeof match === 'string' ? (f) => f.event === match : match ?? (() => true);
    const i = this.frames.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.frames.splice(i, 1)[0]);
    let waiter;
    const p = new Promise((resolve, reject) => {
      waiter = {
        match: pred,
        resolve,
        onClose: (info) =>
          reject(new Error(`socket closed (${info.code} ${info.reason}) while waiting for ${describe(match)}; unmatched frames: ${JSON.stringify(this.frames)}`)),
      };
      if (this.closeInfo) waiter.onClose(this.closeInfo);
      else this.waiters.push(waiter);
    });
    return withTimeout(p, ms, `frame ${describe(match)} (unmatched frames so far: ${JSON.stringify(this.frames)})`).finally(() => {
      const at = this.waiters.indexOf(waiter);
      if (at >= 0) this.waiters.splice(at, 1);
    });
  }

  /** Removes and returns every buffered frame matching `match`. */
  take(match) {
    const pred = typeof match === 'string' ? (f) => f.event === match : match ?? (() => true);
    const out = [];
    for (let i = 0; i < this.frames.length; ) {
      if (pred(this.frames[i])) out.push(...this.frames.splice(i, 1));
      else i++;
    }
    return out;
  }

  /** Sends an object as JSON, or a string / Buffer as is. */
  send(msg) {
    this.ws.send(typeof msg === 'string' || Buffer.isBuffer(msg) ? msg : JSON.stringify(msg));
  }

  /** Resolves with {code, reason} when the socket closes, or fails after `ms`. */
  closeCode(ms = TIMEOUT_MS) {
    return withTimeout(this.closed, ms, 'the socket to close');
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }

  // --- protocol conveniences ---

  async subscribe(channel, extra = {}) {
    this.send({ event: 'pusher:subscribe', data: { channel, ...extra } });
  }

  /** Subscribes and waits for subscription_succeeded on that channel; returns the frame. */
  async subscribeOK(channel, extra = {}, ms = TIMEOUT_MS) {
    this.subscribe(channel, extra);
    const f = await this.next(
      (f) =>
        f.channel === channel &&
        ['pusher_internal:subscription_succeeded', 'pusher:subscription_error', 'pusher:error'].includes(f.event),
      ms,
    );
    if (f.event !== 'pusher_internal:subscription_succeeded') {
      throw new Error(`subscribe ${channel} failed: ${JSON.stringify(f)}`);
    }
    return f;
  }
}

function describe(match) {
  return typeof match === 'string' ? `"${match}"` : match ? 'matching predicate' : 'any frame';
}

/**
 * Opens a raw WebSocket to `url`. Resolves with {client} once upgraded, or with
 * {httpStatus} if the server answered the upgrade with a plain HTTP response.
 */
export function openRaw(url, wsOptions = {}) {
  const ws = new WebSocket(url, { handshakeTimeout: TIMEOUT_MS, ...wsOptions });
  const client = new RawClient(ws);
  const p = new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ client }));
    ws.once('unexpected-response', (req, res) => {
      resolve({ httpStatus: res.statusCode });
      res.resume();
      req.destroy();
    });
    ws.once('error', (err) => reject(err));
  });
  return withTimeout(p, TIMEOUT_MS, `WebSocket upgrade of ${url}`);
}

/**
 * Opens a raw socket to app `key` and waits for pusher:connection_established. Returns the client
 * with `socketId`, `activityTimeout` and `established` (the frame) set.
 */
export async function rawConnect(server, key, { query, wsOptions, t } = {}) {
  const { client, httpStatus } = await openRaw(server.wsURL(appPath(key, query)), wsOptions);
  if (!client) throw new Error(`upgrade refused with HTTP ${httpStatus}`);
  if (t) t.after(() => client.close());
  const f = await client.next((f) => f.event === 'pusher:connection_established' || f.event === 'pusher:error');
  if (f.event !== 'pusher:connection_established') throw new Error(`no connection_established: ${JSON.stringify(f)}`);
  const data = JSON.parse(f.data);
  client.established = f;
  client.socketId = data.socket_id;
  client.activityTimeout = data.activity_timeout;
  return client;
}

/** Auth payload for a raw subscribe, signed with the app's secret (or `secret`). */
export function channelAuth(appCfg, socketId, channel, channelData, { secret, encryptionMasterKeyBase64 } = {}) {
  return signer(appCfg, { secret, encryptionMasterKeyBase64 }).authorizeChannel(socketId, channel, channelData);
}

// ---------------------------------------------------------------------------------------------
// Clients: hand-signed HTTP API requests
// ---------------------------------------------------------------------------------------------

export function md5(s) {
  return crypto.createHash('md5').update(s, 'utf8').digest('hex');
}

export function hmac(secret, s) {
  return crypto.createHmac('sha256', secret).update(s, 'utf8').digest('hex');
}

/**
 * A signed request to the HTTP API at /apps/{appId}{path}, built by hand so each part of the
 * signature can be broken on purpose.
 *
 * opts: method, path (after /apps/{id}), fullPath (overrides the whole path), query (extra
 * params), body (object -> JSON, string -> as is), appId, key, secret, timestamp (seconds),
 * bodyMd5 (override), signature (override), sign (false: no auth params at all).
 * Resolves with {status, text, json, headers}.
 */
export async function apiRequest(server, appCfg, opts = {}) {
  const method = (opts.method ?? (opts.body !== undefined ? 'POST' : 'GET')).toUpperCase();
  const fullPath = opts.fullPath ?? `/apps/${opts.appId ?? appCfg.id}${opts.path ?? ''}`;
  const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  const params = { ...(opts.query ?? {}) };
  if (opts.sign !== false) {
    params.auth_key = opts.key ?? appCfg.key;
    params.auth_timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
    params.auth_version = '1.0';
    if (body !== undefined) params.body_md5 = opts.bodyMd5 ?? md5(body);
  }
  let qs = Object.keys(params)
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
  if (opts.sign !== false) {
    const sig = opts.signature ?? hmac(opts.secret ?? appCfg.secret, [method, fullPath, qs].join('\n'));
    qs += `&auth_signature=${sig}`;
  }
  const res = await withTimeout(
    fetch(`${server.baseURL}${fullPath}${qs ? `?${qs}` : ''}`, {
      method,
      body,
      headers: body !== undefined ? { 'content-type': 'application/json' } : {},
    }),
    TIMEOUT_MS,
    `${method} ${fullPath}`,
  );
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

/** Runs a `pusher` library call and returns {status, json}, whether it succeeded or not. */
export async function libResult(promise) {
  try {
    const res = await promise;
    const text = await res.text();
    return { status: res.status, text, json: text ? JSON.parse(text) : undefined };
  } catch (err) {
    if (err && typeof err.status === 'number') {
      let json;
      try {
        json = JSON.parse(err.body);
      } catch {
        json = undefined;
      }
      return { status: err.status, text: err.body, json };
    }
    throw err;
  }
}

/** A random suffix so channel names never collide between tests sharing a server. */
export function uniq(prefix = '') {
  return `${prefix}${crypto.randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

// ---------------------------------------------------------------------------------------------
// Webhook receiver
// ---------------------------------------------------------------------------------------------

/**
 * A local webhook endpoint (node:http on 127.0.0.1:0) for `appCfg`'s webhooks. Every request is
 * checked with the `pusher` library (`webhook({headers, rawBody}).isValid()`, `getEvents()`) and
 * recorded with its arrival time; the first `failFirst` requests are answered 500 (as a target
 * that is down), every later one 200.
 *
 * Returns {url, requests, events, invalid, waitFor(pred, ms, what), eventsFor(channel), close()}:
 *   requests  every request: {at, status, valid, body, events}
 *   events    every event of the requests answered 200, each with `at` (arrival, ms) added
 *   invalid   requests whose signature, key or content type did not validate
 * If `t` is given, the receiver is closed when that test ends.
 */
export async function startWebhookReceiver(appCfg, { failFirst = 0 } = {}, t) {
  const http = await import('node:http');
  const verifier = signer(appCfg);
  const requests = [];
  const events = [];
  const invalid = [];
  const waiters = new Set();
  let failuresLeft = failFirst;

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const hook = verifier.webhook({ headers: req.headers, rawBody });
      const valid = req.method === 'POST' && hook.isValid();
      const status = failuresLeft > 0 ? 500 : 200;
      if (failuresLeft > 0) failuresLeft--;
      const got = valid ? hook.getEvents() : [];
      const entry = { at, status, valid, body: rawBody, headers: req.headers, events: got };
      requests.push(entry);
      if (!valid) invalid.push(entry);
      if (valid && status === 200) {
        for (const e of got) events.push({ ...e, at });
      }
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 200 ? 'ok' : 'failing on purpose');
      for (const w of [...waiters]) w();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();

  const receiver = {
    url: `http://127.0.0.1:${port}/pusher/webhook`,
    requests,
    events,
    invalid,
    /** Resolves with the first recorded event (delivered with 200) matching `pred`. */
    waitFor(pred, ms = TIMEOUT_MS, what = 'a webhook event') {
      const found = events.find(pred);
      if (found) return Promise.resolve(found);
      let check;
      const p = new Promise((resolve) => {
        check = () => {
          const e = events.find(pred);
          if (e) resolve(e);
        };
        waiters.add(check);
      });
      return withTimeout(p, ms, `${what} (events so far: ${JSON.stringify(events)})`).finally(() => waiters.delete(check));
    },
    /** Resolves once `pred` holds for the receiver (checked after every request). */
    until(pred, ms = TIMEOUT_MS, what = 'the webhook receiver') {
      if (pred()) return Promise.resolve();
      let check;
      const p = new Promise((resolve) => {
        check = () => {
          if (pred()) resolve();
        };
        waiters.add(check);
      });
      return withTimeout(p, ms, `${what} (requests so far: ${JSON.stringify(requests.map((r) => ({ status: r.status, body: r.body })))})`).finally(() =>
        waiters.delete(check),
      );
    },
    /** Every delivered event of `channel`. */
    eventsFor(channel) {
      return events.filter((e) => e.channel === channel);
    },
    close() {
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  if (t) t.after(() => receiver.close());
  return receiver;
}

// ---------------------------------------------------------------------------------------------
// Cluster: several herald processes as one proto.actor cluster
// ---------------------------------------------------------------------------------------------

// herald's INFO line per member that joined or left, with the member count after it (text or JSON).
const TOPOLOGY = /cluster member (?:joined|left)\b.*?\bmembers"?[=:](\d+)/;
const CLUSTER_JOIN_TIMEOUT_MS = 20000;

/**
 * `count` distinct free TCP ports on 127.0.0.1: each is bound to port 0 and closed (all are held
 * until the last is bound, so they differ).
 */
export async function freePorts(count) {
  const net = await import('node:net');
  const servers = [];
  try {
    for (let i = 0; i < count; i++) {
      const s = net.createServer();
      await new Promise((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', resolve);
      });
      servers.push(s);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(() => resolve()))));
  }
}

/**
 * One herald cluster member as a child process. Unlike startHerald it exposes the pid, can be
 * killed with any signal and restarted with the same ports, and follows the member count herald
 * logs (`cluster member joined ... members=N`, `cluster member left ... members=N`). It has the fields the client factories read
 * (host, wsPort, httpPort, baseURL, wsURL), so pusherClient(node, ...) and httpClient(node, ...) work.
 */
class ClusterNode {
  constructor(index, config, dir) {
    this.index = index;
    this.name = `node${index + 1}`;
    this.config = config;
    this.dir = dir;
    this.lines = [];
    this.topology = []; // {at, members}, every topology update this node logged, in order
    this.members = 0; // the last member count it logged
    this.watchers = new Set();
    this.child = undefined;
    this.host = '127.0.0.1';
    this.wsPort = 0;
  }

  get httpPort() {
    return this.wsPort;
  }
  get port() {
    return this.wsPort;
  }
  get baseURL() {
    return `http://${this.host}:${this.wsPort}`;
  }
  wsURL(p) {
    return `ws://${this.host}:${this.wsPort}${p}`;
  }
  get pid() {
    return this.child?.pid;
  }
  /** True while the process runs. */
  get alive() {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }
  logs() {
    return this.lines.join('\n');
  }

  record(stream, line) {
    this.lines.push(`[${stream}] ${line}`);
    if (this.lines.length > MAX_LOG_LINES) this.lines.splice(0, this.lines.length - MAX_LOG_LINES);
    const m = TOPOLOGY.exec(line);
    if (m) {
      this.members = Number(m[1]);
      this.topology.push({ at: Date.now(), members: this.members });
    }
    for (const w of [...this.watchers]) w(line);
  }

  /** Starts the process (again) and resolves once it prints `herald listening on`. */
  async start() {
    if (this.alive) throw new Error(`${this.name} is already running`);
    const file = path.join(this.dir, `${this.name}.yaml`);
    // Several nodes on one host: unless the config names a metrics address, take a free one.
    const config = { metrics_listen: '127.0.0.1:0', ...this.config, ...(this.wsPort ? { listen: `127.0.0.1:${this.wsPort}` } : {}) };
    await writeFile(file, JSON.stringify(config, null, 2));
    this.members = 0;
    this.record('harness', `starting ${this.name}`);
    const { child, exited, address } = spawnHerald(file, (stream, line) => this.record(stream, line));
    this.child = child;
    this.exited = exited;
    const outcome = await Promise.race([
      address.then((addr) => ({ addr })),
      this.exited.then((res) => ({ exited: res })),
      delay(START_TIMEOUT_MS, { timeout: true }, { ref: false }),
    ]);
    if (!outcome.addr) {
      await this.kill('SIGKILL');
      const why = outcome.timeout
        ? `did not print "herald listening on" within ${START_TIMEOUT_MS} ms`
        : `exited before listening (${JSON.stringify(outcome.exited)})`;
      throw new Error(`cluster ${this.name} ${why}\nconfig:\n${JSON.stringify(config, null, 2)}\noutput:\n${this.logs()}`);
    }
    this.wsPort = Number(outcome.addr.slice(outcome.addr.lastIndexOf(':') + 1));
    return this;
  }

  /**
   * Sends `signal` (default SIGKILL) and resolves with {code, signal} once the process exited
   * (SIGKILL follows if it has not exited STOP_GRACE_MS after another signal).
   */
  async kill(signal = 'SIGKILL') {
    if (!this.alive) return this.exited;
    this.record('harness', `sending ${signal} to ${this.name} (pid ${this.pid})`);
    this.child.kill(signal);
    if (signal !== 'SIGKILL') {
      const res = await Promise.race([this.exited, delay(STOP_GRACE_MS, null, { ref: false })]);
      if (res === null) {
        this.record('harness', `no exit ${STOP_GRACE_MS} ms after ${signal}: sending SIGKILL`);
        this.child.kill('SIGKILL');
      }
    }
    return this.exited;
  }

  /** Stops the process if it runs (SIGKILL by default) and starts it again on the same ports. */
  async restart(signal = 'SIGKILL') {
    await this.kill(signal);
    return this.start();
  }

  /** Resolves once the member count this node last logged is `members`. */
  waitMembers(members, ms = CLUSTER_JOIN_TIMEOUT_MS) {
    if (this.members === members) return Promise.resolve();
    let w;
    const p = new Promise((resolve) => {
      w = () => {
        if (this.members === members) resolve();
      };
      this.watchers.add(w);
    });
    return withTimeout(p, ms, `${this.name} to log a topology of ${members} members (last: ${this.members})`).finally(() =>
      this.watchers.delete(w),
    );
  }

  /** Resolves with the first log line (from now on) matching `re`. */
  waitLog(re, ms = TIMEOUT_MS) {
    let w;
    const p = new Promise((resolve) => {
      w = (line) => {
        if (re.test(line)) resolve(line);
      };
      this.watchers.add(w);
    });
    return withTimeout(p, ms, `${this.name} to log ${re}`).finally(() => this.watchers.delete(w));
  }
}

/**
 * Starts `n` herald processes as one cluster and resolves once every one of them has joined: each
 * logged a topology of `n` members and answers `GET /apps/{id}/channels` (which asks every member)
 * with 200.
 *
 * opts.provider   'automanaged' (default: static seeds, every slot's health port) or 'etcd'
 * opts.etcd       {endpoints, prefix} for the etcd provider
 * opts.apps       the apps (default [app()])
 * opts.spare      extra slots, not started, whose ports are in every member's seed list, so that
 *                 cluster.start(i) can add a member later (default 0)
 * opts.config     extra top-level config keys for every node (webhooks, shutdown_grace, log, ...)
 * t               test context: every node is killed when the test ends and the logs of all are
 *                 printed if it failed. Without it, call cluster.stop().
 *
 * Returns {nodes (every slot), running(), start(i), waitMembers(count, ms), waitReady(ms), stop(),
 * logs()}; each node is {index, name, host, wsPort, httpPort, baseURL, wsURL, pid, alive, members,
 * topology, kill(signal), restart(), waitMembers(count), waitLog(re), logs()}.
 */
export async function startCluster(n, opts = {}, t) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startClusterOnce(n, opts, t, attempt < CLUSTER_PORT_ATTEMPTS);
    } catch (err) {
      if (!(err instanceof PortTaken)) throw err;
      process.stderr.write(`# [harness] ${err.message}; starting the cluster again on other ports\n`);
    }
  }
}

/**
 * A cluster port freePorts found free was taken by someone else before herald bound it (another
 * test file's process, or any connection's ephemeral port): startCluster tries other ports, up to
 * CLUSTER_PORT_ATTEMPTS times.
 */
class PortTaken extends Error {}
const CLUSTER_PORT_ATTEMPTS = 3;

async function startClusterOnce(n, opts, t, mayRetry) {
  const { provider = 'automanaged', apps = [app()], spare = 0, config: extra = {}, etcd } = opts;
  const slots = n + spare;
  const ports = await freePorts(slots * 2);
  const dir = await mkdtemp(path.join(tmpdir(), 'herald-cluster-'));
  const name = uniq('herald-e2e-');
  const seeds = Array.from({ length: slots }, (_, i) => `127.0.0.1:${ports[slots + i]}`);
  const nodes = Array.from({ length: slots }, (_, i) => {
    const cluster = { enabled: true, name, address: `127.0.0.1:${ports[i]}`, provider };
    if (provider === 'automanaged') cluster.automanaged = { port: ports[slots + i], seeds };
    if (provider === 'etcd') cluster.etcd = { endpoints: etcd?.endpoints ?? [], prefix: etcd?.prefix ?? `/${name}` };
    return new ClusterNode(i, heraldConfig({ apps, ...extra, cluster }), dir);
  });

  let stopping;
  const c = {
    nodes,
    apps,
    /** The nodes whose process runs. */
    running: () => nodes.filter((node) => node.alive),
    start: (i) => nodes[i].start(),
    /** Every running node logged a topology of `count` members. */
    waitMembers: (count, ms = CLUSTER_JOIN_TIMEOUT_MS) => Promise.all(c.running().map((node) => node.waitMembers(count, ms))),
    /** Every running node has `count` members and answers GET /channels with 200. */
    async waitReady(count = c.running().length, ms = CLUSTER_JOIN_TIMEOUT_MS) {
      const deadline = Date.now() + ms;
      await c.waitMembers(count, ms);
      await Promise.all(
        c.running().map((node) =>
          eventually(
            async () => (await apiRequest(node, apps[0], { path: '/channels' })).status === 200,
            Math.max(1000, deadline - Date.now()),
            `GET /channels on ${node.name} to answer 200`,
          ),
        ),
      );
    },
    logs: () => nodes.map((node) => `===== ${node.name} (ws ${node.wsPort}, ${node.config.cluster.address}) =====\n${node.logs()}`).join('\n'),
    /** Kills every node (SIGKILL: the test is over, nothing to leave gracefully) and cleans up. */
    stop() {
      stopping ??= (async () => {
        await Promise.all(nodes.map((node) => node.kill('SIGKILL')));
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  try {
    await Promise.all(nodes.slice(0, n).map((node) => node.start()));
    await c.waitReady(n);
  } catch (err) {
    const logs = c.logs();
    await c.stop();
    if (mayRetry && /bind: address already in use/.test(logs)) {
      throw new PortTaken(`a port of the cluster was taken before herald bound it (${err.message})`);
    }
    printLogs('herald cluster (failed to start)', logs);
    throw err;
  }
  if (t) {
    t.after(async () => {
      if (!t.passed) printLogs(`herald cluster (started in "${t.name}")`, c.logs());
      await c.stop();
    });
  }
  return c;
}

/**
 * One cluster for the whole file (as useHerald): before() starts it, after() stops it, and every
 * node's output is printed after any test of the file that fails.
 */
export function useCluster(n, opts = {}) {
  const handle = {};
  before(async () => {
    Object.assign(handle, await startCluster(n, opts));
  });
  after(async () => {
    await handle.stop?.();
  });
  afterEach((t) => {
    if (!t.passed && handle.logs) printLogs(`herald cluster (file cluster, failed test "${t.name}")`, handle.logs());
  });
  return handle;
}

/**
 * Starts etcd (the `etcd` binary on the PATH) on free 127.0.0.1 ports with a temporary data dir
 * and resolves once it answers /health. Returns {endpoint ('127.0.0.1:P'), pid, logs(), stop()};
 * with `t` it is stopped when the test ends. Resolves with null if there is no etcd binary.
 */
export async function startEtcd(t) {
  const { execFileSync } = await import('node:child_process');
  let bin;
  try {
    bin = execFileSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
  if (!bin) return null;
  const [client, peer] = await freePorts(2);
  const dir = await mkdtemp(path.join(tmpdir(), 'herald-etcd-'));
  const url = `http://127.0.0.1:${client}`;
  const child = spawn(
    bin,
    [
      '--name', 'herald-e2e',
      '--data-dir', path.join(dir, 'data'),
      '--listen-client-urls', url,
      '--advertise-client-urls', url,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `herald-e2e=http://127.0.0.1:${peer}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  liveChildren.add(child);
  const lines = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      lines.push(chunk);
      if (lines.length > MAX_LOG_LINES) lines.splice(0, lines.length - MAX_LOG_LINES);
    });
  }
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      liveChildren.delete(child);
      resolve({ code, signal });
    });
    child.on('error', (err) => {
      liveChildren.delete(child);
      resolve({ error: err });
    });
  });
  let stopping;
  const etcd = {
    endpoint: `127.0.0.1:${client}`,
    pid: child.pid,
    logs: () => lines.join(''),
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          if ((await Promise.race([exited, delay(STOP_GRACE_MS, null, { ref: false })])) === null) child.kill('SIGKILL');
        }
        await exited;
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  if (t) {
    t.after(async () => {
      if (!t.passed) printLogs('etcd', etcd.logs());
      await etcd.stop();
    });
  }
  try {
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`etcd exited ${child.exitCode}: ${etcd.logs()}`);
        const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
        return res.ok && (await res.json()).health === 'true';
      },
      15000,
      'etcd /health',
      100,
    );
  } catch (err) {
    await etcd.stop();
    throw err;
  }
  return etcd;
}

// ---------------------------------------------------------------------------------------------
// Cluster with keys that differ per node
// ---------------------------------------------------------------------------------------------

/**
 * startCluster, where `nodeConfig(i)` returns top-level config keys for node i only, merged over
 * the shared config one level deep: `{telemetry: {node_name: 'nodeA'}}` keeps the shared
 * telemetry keys (traces, ...) and sets node_name. Options and the returned handle are those of
 * startCluster (opts.spare adds unstarted slots after the n nodes, which get nodeConfig too).
 */
export async function startClusterEach(n, nodeConfig, opts = {}, t) {
  // Every slot is created unstarted (as spares), so each node's config can be set before it starts.
  const c = await startCluster(0, { ...opts, spare: n + (opts.spare ?? 0) }, t);
  try {
    for (const node of c.nodes) {
      const own = nodeConfig(node.index) ?? {};
      const merged = { ...node.config };
      for (const [key, value] of Object.entries(own)) {
        const shared = merged[key];
        const bothObjects = [shared, value].every((v) => v && typeof v === 'object' && !Array.isArray(v));
        merged[key] = bothObjects ? { ...shared, ...value } : value;
      }
      node.config = merged;
    }
    await Promise.all(c.nodes.slice(0, n).map((node) => node.start()));
    await c.waitReady(n);
  } catch (err) {
    if (!t) printLogs('herald cluster (failed to start)', c.logs());
    await c.stop();
    throw err;
  }
  return c;
}

/** Triggers `event` on `channels` through `node` with the `pusher` library and asserts the 200. */
export async function triggerThrough(node, appCfg, channels, event, data, params) {
  const res = await libResult(httpClient(node, appCfg).trigger(channels, event, data, params));
  if (res.status !== 200) throw new Error(`trigger through ${node.name ?? node.port}: ${res.status} ${res.text}`);
}

/** A pusher-js client on `node`, connected. */
export async function connectedClient(t, node, appCfg, opts = {}) {
  const c = pusherClient(node, appCfg, opts, t);
  await connected(c);
  return c;
}
