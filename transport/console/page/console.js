'use strict';
// herald's debug console: plain JavaScript, no build step. Every request carries the token as
// Authorization: Bearer; the live log is server-sent events read with fetch, since EventSource
// cannot send that header.
(() => {
  const $ = (id) => document.getElementById(id);
  const MAX_ROWS = 1000; // rows kept in the log; older ones go
  const TOKEN_KEY = 'herald-console-token';
  const APP_KEY = 'herald-console-app';

  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  let app = '';
  let stream = null; // the AbortController of the open stream
  let retry = null;
  let paused = false;
  let held = []; // events that arrived while paused
  let notShown = 0;
  let channelsTimer = null;

  class Unauthorized extends Error {}

  async function api(path, options = {}) {
    const headers = { ...(options.headers || {}), Authorization: 'Bearer ' + token };
    const res = await fetch('/console/api/' + path, { ...options, headers });
    if (res.status === 401) {
      signOut('The token was refused.');
      throw new Unauthorized();
    }
    return res;
  }

  // ---- sign in ----

  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    token = $('token').value.trim();
    $('login-error').textContent = '';
    try {
      await start();
    } catch (err) {
      if (!(err instanceof Unauthorized)) $('login-error').textContent = String(err.message || err);
    }
  });

  $('logout').addEventListener('click', () => signOut(''));

  function signOut(message) {
    token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    stopStream();
    clearInterval(channelsTimer);
    $('main').hidden = true;
    $('bar').hidden = true;
    $('login').hidden = false;
    $('token').value = '';
    $('login-error').textContent = message;
  }

  async function start() {
    const res = await api('apps');
    if (!res.ok) throw new Error('The server answered ' + res.status);
    const body = await res.json();
    sessionStorage.setItem(TOKEN_KEY, token);
    const select = $('app');
    select.replaceChildren();
    for (const a of body.apps) {
      const o = document.createElement('option');
      o.value = a.id;
      o.textContent = a.id + ' (key ' + a.key + ')' + (a.enabled ? '' : ' disabled');
      select.append(o);
    }
    const remembered = sessionStorage.getItem(APP_KEY);
    if (body.apps.some((a) => a.id === remembered)) select.value = remembered;
    $('node').textContent = body.node ? 'on ' + body.node : '';
    $('login').hidden = true;
    $('bar').hidden = false;
    $('main').hidden = false;
    pick(select.value);
    clearInterval(channelsTimer);
    channelsTimer = setInterval(() => { if (!document.hidden) loadChannels(); }, 5000);
  }

  $('app').addEventListener('change', (e) => pick(e.target.value));

  function pick(id) {
    app = id;
    sessionStorage.setItem(APP_KEY, id);
    clearLog();
    connect();
    loadChannels();
  }

  // ---- the live log ----

  function setStatus(text, cls) {
    const s = $('status');
    s.textContent = text;
    s.className = 'status ' + (cls || '');
  }

  function stopStream() {
    clearTimeout(retry);
    if (stream) stream.abort();
    stream = null;
  }

  async function connect() {
    stopStream();
    if (!app) return;
    const controller = new AbortController();
    stream = controller;
    setStatus('connecting');
    try {
      const res = await api('apps/' + encodeURIComponent(app) + '/stream', { signal: controller.signal });
      if (!res.ok) throw new Error('stream: ' + res.status);
      setStatus(paused ? 'paused' : 'live', paused ? 'paused' : 'live');
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let text = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        let end;
        while ((end = text.indexOf('\n\n')) >= 0) {
          message(text.slice(0, end));
          text = text.slice(end + 2);
        }
      }
      throw new Error('stream ended');
    } catch (err) {
      if (controller.signal.aborted || err instanceof Unauthorized) return;
      setStatus('disconnected, reconnecting', 'down');
      retry = setTimeout(connect, 2000);
    }
  }

  // message handles one server-sent event: "event: NAME" and "data: JSON" lines.
  function message(block) {
    let name = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) name = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    if (name !== 'batch') return;
    const batch = JSON.parse(data);
    if (batch.not_shown) addNotShown(batch.not_shown);
    for (const ev of batch.events) {
      ev.node = batch.node;
      if (paused) {
        if (held.length < MAX_ROWS) held.push(ev);
        else addNotShown(1);
      } else {
        show(ev);
      }
    }
  }

  function addNotShown(n) {
    notShown += n;
    const p = $('not-shown');
    p.hidden = notShown === 0;
    p.textContent = notShown + ' event' + (notShown === 1 ? '' : 's') +
      ' not shown: more happened than the console could take, they were dropped.';
  }

  const filters = ['f-channel', 'f-event', 'f-socket'].map($);
  for (const f of filters) f.addEventListener('input', applyFilters);

  function matches(ev) {
    const [ch, name, sock] = filters.map((f) => f.value.trim());
    return (!ch || (ev.channel || '').includes(ch)) &&
      (!name || (ev.event || '').includes(name)) &&
      (!sock || (ev.socket_id || '').includes(sock));
  }

  function applyFilters() {
    for (const row of $('rows').children) row.hidden = !matches(row.ev);
  }

  function show(ev) {
    const rows = $('rows');
    const tr = document.createElement('tr');
    tr.ev = ev;
    tr.className = 'row k-row-' + ev.kind;
    const t = new Date(ev.at);
    tr.append(
      cell(t.toLocaleTimeString([], { hour12: false }) + '.' + String(t.getMilliseconds()).padStart(3, '0')),
      cell(ev.node),
      cell(kindLabel(ev.kind)),
      details(ev),
    );
    tr.hidden = !matches(ev);
    rows.prepend(tr);
    while (rows.children.length > MAX_ROWS) rows.lastElementChild.remove();
    $('empty').hidden = true;
  }

  function cell(content) {
    const td = document.createElement('td');
    if (content instanceof Node) td.append(content);
    else td.textContent = content;
    return td;
  }

  const LABELS = {
    connection_opened: 'connection opened', connection_closed: 'connection closed',
    subscribed: 'subscribed', unsubscribed: 'unsubscribed', occupied: 'channel occupied',
    vacated: 'channel vacated', member_added: 'member added', member_removed: 'member removed',
    api_message: 'API message', client_event: 'client event', webhook: 'webhook sent', error: 'error',
  };

  function kindLabel(kind) {
    const s = document.createElement('span');
    s.className = 'kind k-' + kind;
    s.textContent = LABELS[kind] || kind;
    return s;
  }

  function details(ev) {
    const td = document.createElement('td');
    const add = (label, value) => {
      if (value === undefined || value === '' || value === null) return;
      const s = document.createElement('span');
      s.className = 'd';
      const b = document.createElement('b');
      b.textContent = label;
      s.append(b, String(value));
      td.append(s);
    };
    add('channel', ev.channel);
    if (ev.kind === 'webhook') add('types', ev.event);
    else add('event', ev.event);
    add('socket', ev.socket_id);
    add('user', ev.user_id);
    switch (ev.kind) {
      case 'connection_opened':
        add('origin', ev.origin || '(none)');
        break;
      case 'connection_closed':
        add('code', ev.code);
        add('reason', ev.message);
        break;
      case 'api_message':
      case 'client_event':
        add('size', ev.size + ' B');
        add('subscribers', ev.count);
        add('trace', ev.trace_id);
        break;
      case 'webhook':
        add('target', ev.target);
        add('status', ev.status || 'no answer');
        add('attempt', ev.attempt);
        add('events', ev.count);
        add('error', ev.message);
        break;
      case 'error':
        add('code', ev.code);
        add('message', ev.message);
        add('origin', ev.origin);
        break;
    }
    if (ev.kind === 'api_message' || ev.kind === 'client_event') {
      const data = document.createElement('code');
      data.className = 'data';
      data.textContent = (ev.data || '') + (ev.size > (ev.data || '').length ? ' …' : '');
      td.append(data);
    }
    return td;
  }

  $('pause').addEventListener('click', () => {
    paused = !paused;
    $('pause').textContent = paused ? 'Resume' : 'Pause';
    setStatus(paused ? 'paused' : 'live', paused ? 'paused' : 'live');
    if (!paused) {
      const waiting = held;
      held = [];
      for (const ev of waiting) show(ev);
    }
  });

  $('clear').addEventListener('click', clearLog);

  function clearLog() {
    $('rows').replaceChildren();
    held = [];
    notShown = 0;
    addNotShown(0);
    $('empty').hidden = false;
  }

  // ---- channels ----

  $('refresh').addEventListener('click', loadChannels);

  async function loadChannels() {
    if (!app) return;
    const note = $('channels-note');
    try {
      const res = await api('apps/' + encodeURIComponent(app) + '/channels');
      const body = await res.json();
      if (!res.ok) throw new Error(body.error || res.status);
      const rows = $('channel-rows');
      rows.replaceChildren();
      for (const ch of body.channels) {
        const tr = document.createElement('tr');
        tr.append(cell(ch.name), cell(String(ch.subscription_count)),
          cell(ch.users ? ch.users.join(', ') : ''));
        rows.append(tr);
      }
      note.textContent = body.total === 0 ? 'No occupied channels.' :
        body.total > body.channels.length ? 'The first ' + body.channels.length + ' of ' + body.total + ' channels.' : '';
    } catch (err) {
      if (!(err instanceof Unauthorized)) note.textContent = 'Channels: ' + (err.message || err);
    }
  }

  // ---- event creator ----

  $('send-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const result = $('send-result');
    let data;
    try {
      data = JSON.parse($('s-data').value);
    } catch (err) {
      result.className = 'error';
      result.textContent = 'Data is not JSON: ' + err.message;
      return;
    }
    try {
      const res = await api('apps/' + encodeURIComponent(app) + '/events', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ channel: $('s-channel').value.trim(), event: $('s-event').value.trim(), data }),
      });
      const body = await res.json();
      if (!res.ok) throw new Error(body.error || res.status);
      result.className = 'ok';
      result.textContent = 'Sent ' + $('s-event').value.trim() + ' to ' + $('s-channel').value.trim() + '.';
    } catch (err) {
      if (err instanceof Unauthorized) return;
      result.className = 'error';
      result.textContent = 'Not sent: ' + (err.message || err);
    }
  });

  if (token) start().catch(() => {});
})();
