// Tracing end to end: a 2-node cluster exports spans over OTLP gRPC to a real Jaeger; one trigger
// on node A carries a traceparent the test chose, and Jaeger's query API must then hold that trace
// with the HTTP server span (child of the caller's span), the pusher.publish span under it and a
// pusher.fanout span from each node under the publish span, with ids and names as attributes and
// no secret or payload anywhere.
//
// Needs a running Jaeger all-in-one (OTLP gRPC on 127.0.0.1:4317) and its query API in
// HERALD_JAEGER_QUERY; skipped without it. `go tool task e2e:tracing` builds and starts Jaeger,
// runs this file and stops Jaeger.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import {
  app,
  connected,
  hmac,
  md5,
  nextEvent,
  pusherClient,
  startClusterEach,
  subscribe,
  uniq,
  withTimeout,
  TIMEOUT_MS,
} from '../harness.mjs';

const JAEGER = (process.env.HERALD_JAEGER_QUERY ?? '').replace(/\/+$/, '');
const OTLP_GRPC = process.env.HERALD_JAEGER_OTLP_GRPC || '127.0.0.1:4317';
const NODE_NAMES = ['nodeA', 'nodeB'];

// How long Jaeger may take to show the whole trace while the nodes run (they export in batches
// every second), and how long after the nodes were stopped (SIGTERM flushes what is left).
const TRACE_WAIT_MS = 15000;
const TRACE_WAIT_AFTER_STOP_MS = 5000;

/** A W3C id of `bytes` random bytes as lowercase hex, never all zeros nor with a zero high half. */
function randomHexId(bytes) {
  const b = crypto.randomBytes(bytes);
  // Jaeger prints a trace id whose high 64 bits are 0 in 16 digits; keep it 32 to compare as is.
  b[0] |= 0x10;
  return b.toString('hex');
}

/**
 * POST /apps/{id}/events, signed by hand (the `pusher` library cannot add a header), with extra
 * request headers. Returns {status, text, signature}.
 */
async function triggerWithHeaders(node, appCfg, body, headers) {
  const fullPath = `/apps/${appCfg.id}/events`;
  const text = JSON.stringify(body);
  const params = {
    auth_key: appCfg.key,
    auth_timestamp: String(Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    body_md5: md5(text),
  };
  const qs = Object.keys(params)
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
  const signature = hmac(appCfg.secret, ['POST', fullPath, qs].join('\n'));
  const res = await withTimeout(
    fetch(`${node.baseURL}${fullPath}?${qs}&auth_signature=${signature}`, {
      method: 'POST',
      body: text,
      headers: { 'content-type': 'application/json', ...headers },
    }),
    TIMEOUT_MS,
    `POST ${fullPath} to ${node.name}`,
  );
  return { status: res.status, text: await res.text(), signature };
}

/** The trace from Jaeger's query API, or null while Jaeger does not have it (404 / empty). */
async function fetchTrace(traceId) {
  const res = await fetch(`${JAEGER}/api/traces/${traceId}`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  const text = await res.text();
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`GET ${JAEGER}/api/traces/${traceId}: HTTP ${res.status}: ${text}`);
  const body = JSON.parse(text);
  const traces = (body.data ?? []).filter((tr) => tr.traceID === traceId);
  if (traces.length === 0) return null;
  assert.equal(traces.length, 1, `Jaeger returned ${traces.length} traces for ${traceId}`);
  return traces[0];
}

const tagValue = (tags, key) => tags?.find((tag) => tag.key === key)?.value;

/** Jaeger's spans with what the checks need: tags as an object, the parent id, the node. */
function viewOf(trace) {
  return trace.spans.map((s) => {
    const process = trace.processes?.[s.processID] ?? {};
    const parents = (s.references ?? []).filter((r) => r.refType === 'CHILD_OF');
    return {
      spanID: s.spanID,
      op: s.operationName,
      parent: parents[0]?.spanID,
      parents: parents.map((r) => r.spanID),
      tags: Object.fromEntries((s.tags ?? []).map((tag) => [tag.key, tag.value])),
      service: process.serviceName,
      instance: tagValue(process.tags, 'service.instance.id'),
    };
  });
}

/** The trace as an indented tree (roots are spans whose parent is not in the trace). */
function spanTree(trace) {
  if (!trace) return '(Jaeger has no such trace)';
  const spans = viewOf(trace);
  const ids = new Set(spans.map((s) => s.spanID));
  const lines = [];
  const walk = (s, depth) => {
    const attrs = Object.entries(s.tags)
      .filter(([k]) => !k.startsWith('otel.') && k !== 'internal.span.format')
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ');
    lines.push(`${'  '.repeat(depth)}- ${s.op} [span ${s.spanID} parent ${s.parent ?? '-'} ${s.service}/${s.instance}] ${attrs}`);
    for (const child of spans.filter((c) => c.parent === s.spanID)) walk(child, depth + 1);
  };
  for (const root of spans.filter((s) => !s.parent || !ids.has(s.parent))) walk(root, 0);
  return lines.join('\n');
}

/**
 * What the trace still lacks or gets wrong, as a list of sentences (empty: all good).
 * want: {parentSpanId, appId, channel, event, forbidden: [strings no tag may contain]}.
 */
function problemsOf(trace, want) {
  if (!trace) return ['Jaeger has no spans of the trace yet'];
  const problems = [];
  const spans = viewOf(trace);

  const http = spans.filter((s) => s.op === 'POST /apps/{app}/events');
  if (http.length !== 1) {
    problems.push(`want 1 "POST /apps/{app}/events" span, got ${http.length}`);
  } else {
    const [h] = http;
    if (h.parent !== want.parentSpanId) problems.push(`HTTP span's parent is ${h.parent}, want the traceparent's ${want.parentSpanId}`);
    if (h.tags['span.kind'] !== 'server') problems.push(`HTTP span's kind is ${h.tags['span.kind']}, want server`);
    if (h.tags['pusher.app_id'] !== want.appId) problems.push(`HTTP span's pusher.app_id is ${h.tags['pusher.app_id']}`);
    if (h.tags['http.route'] !== '/apps/{app}/events') problems.push(`HTTP span's http.route is ${h.tags['http.route']}`);
    if (Number(h.tags['http.response.status_code']) !== 200) {
      problems.push(`HTTP span's http.response.status_code is ${h.tags['http.response.status_code']}`);
    }
    if (h.instance !== NODE_NAMES[0]) problems.push(`HTTP span is from ${h.instance}, want ${NODE_NAMES[0]} (the node triggered)`);
  }

  const publish = spans.filter((s) => s.op === 'pusher.publish');
  if (publish.length !== 1) {
    problems.push(`want 1 pusher.publish span, got ${publish.length}`);
  } else {
    const [p] = publish;
    if (http.length === 1 && p.parent !== http[0].spanID) problems.push(`pusher.publish's parent is ${p.parent}, want the HTTP span ${http[0].spanID}`);
    for (const [key, value] of [
      ['pusher.app_id', want.appId],
      ['pusher.channel', want.channel],
      ['pusher.event', want.event],
    ]) {
      if (p.tags[key] !== value) problems.push(`pusher.publish's ${key} is ${JSON.stringify(p.tags[key])}, want ${JSON.stringify(value)}`);
    }
  }

  const fanouts = spans.filter((s) => s.op === 'pusher.fanout');
  for (const name of NODE_NAMES) {
    const mine = fanouts.filter((s) => s.instance === name);
    if (mine.length !== 1) {
      problems.push(`want 1 pusher.fanout span from ${name}, got ${mine.length}`);
      continue;
    }
    const [f] = mine;
    if (publish.length === 1 && f.parent !== publish[0].spanID) {
      problems.push(`${name}'s pusher.fanout parent is ${f.parent}, want the publish span ${publish[0].spanID}`);
    }
    // herald.node names the node too: its node_name or its cluster (proto.actor) address.
    const ids = want.nodeIds[name];
    if (!ids.includes(f.tags['herald.node'])) {
      problems.push(`${name}'s pusher.fanout has herald.node ${JSON.stringify(f.tags['herald.node'])}, want one of ${JSON.stringify(ids)}`);
    }
    if (f.tags['pusher.app_id'] !== want.appId) problems.push(`${name}'s pusher.fanout has pusher.app_id ${JSON.stringify(f.tags['pusher.app_id'])}`);
    if (f.tags['pusher.channel'] !== want.channel) problems.push(`${name}'s pusher.fanout has pusher.channel ${JSON.stringify(f.tags['pusher.channel'])}`);
    if (Number(f.tags['messaging.batch.message_count']) !== 1) {
      problems.push(`${name}'s pusher.fanout has messaging.batch.message_count ${f.tags['messaging.batch.message_count']}, want 1 (one subscriber per node)`);
    }
  }
  const strays = fanouts.filter((s) => !NODE_NAMES.includes(s.instance));
  if (strays.length) problems.push(`pusher.fanout spans from unknown nodes: ${strays.map((s) => s.instance).join(', ')}`);

  // Nothing secret or private anywhere: span names, tags, logs, process tags.
  const everything = JSON.stringify(trace);
  for (const [what, value] of Object.entries(want.forbidden)) {
    if (everything.includes(value)) problems.push(`the trace contains the ${what} (${JSON.stringify(value)})`);
  }
  return problems;
}

test('a trigger with a traceparent: HTTP, publish and each node\'s fan-out spans in Jaeger, correctly parented', {
  skip: JAEGER ? false : 'HERALD_JAEGER_QUERY is not set (run `go tool task e2e:tracing`, which starts Jaeger)',
  timeout: 90000,
}, async (t) => {
  // Jaeger answers: a clear failure here beats a confusing one at the end.
  await withTimeout(
    fetch(`${JAEGER}/api/services`).then((res) => assert.equal(res.status, 200, `GET ${JAEGER}/api/services`)),
    TIMEOUT_MS,
    `Jaeger's query API at ${JAEGER}`,
  );

  const main = app({ id: uniq('trace-app-'), key: uniq('trace-key-'), secret: uniq('trace-secret-') });
  const cluster = await startClusterEach(
    2,
    (i) => ({ telemetry: { node_name: NODE_NAMES[i] } }),
    {
      apps: [main],
      config: {
        metrics_listen: '127.0.0.1:0',
        shutdown_grace: '2s',
        telemetry: { traces: { exporter: 'otlp-grpc', endpoint: OTLP_GRPC, sample_ratio: 1 } },
      },
    },
    t,
  );
  const [nodeA, nodeB] = cluster.nodes;
  // waitReady saw members=2 logged by both and GET /channels (which asks every member) answer 200.

  const channel = uniq('traced-');
  const event = uniq('traced-event-');
  const payloadMarker = uniq('payload-marker-');
  const clients = [nodeA, nodeB].map((node) => pusherClient(node, main, {}, t));
  await Promise.all(clients.map((c) => connected(c)));
  const channels = await Promise.all(clients.map(async (c) => (await subscribe(c, channel)).channel));
  const received = channels.map((ch) => nextEvent(ch, event));

  const traceId = randomHexId(16);
  const parentSpanId = randomHexId(8);
  const res = await triggerWithHeaders(
    nodeA,
    main,
    { name: event, channels: [channel], data: JSON.stringify({ marker: payloadMarker }) },
    { traceparent: `00-${traceId}-${parentSpanId}-01` },
  );
  assert.equal(res.status, 200, `trigger on ${nodeA.name}: ${res.text}`);
  for (const [i, got] of (await Promise.all(received)).entries()) {
    assert.deepEqual(got.data, { marker: payloadMarker }, `event on ${NODE_NAMES[i]}'s client`);
  }

  const want = {
    parentSpanId,
    appId: main.id,
    channel,
    event,
    nodeIds: Object.fromEntries(cluster.nodes.map((node, i) => [NODE_NAMES[i], [NODE_NAMES[i], node.config.cluster.address]])),
    forbidden: { 'app secret': main.secret, 'event payload': payloadMarker, 'request signature': res.signature },
  };
  const poll = async (ms) => {
    const deadline = Date.now() + ms;
    let trace;
    let problems;
    for (;;) {
      trace = await fetchTrace(traceId);
      problems = problemsOf(trace, want);
      if (problems.length === 0 || Date.now() >= deadline) return { trace, problems };
      await delay(250); // Jaeger shows spans once exported and stored: nothing to await
    }
  };

  let { trace, problems } = await poll(TRACE_WAIT_MS);
  if (problems.length) {
    // Not all there while the nodes run: stop them (SIGTERM flushes the exporter) and look again,
    // so a slow export is told apart from spans that are never made.
    t.diagnostic(`trace incomplete after ${TRACE_WAIT_MS} ms with the nodes running: ${problems.join('; ')}`);
    for (const c of clients) c.disconnect();
    await Promise.all(cluster.nodes.map((node) => node.kill('SIGTERM')));
    ({ trace, problems } = await poll(TRACE_WAIT_AFTER_STOP_MS));
    if (problems.length === 0) t.diagnostic('complete only after the nodes were stopped: spans were exported at shutdown');
  }
  assert.deepEqual(
    problems,
    [],
    `trace ${traceId} in Jaeger (${JAEGER}) is not as expected:\n  ${problems.join('\n  ')}\n` +
      `span tree:\n${spanTree(trace)}\nJaeger JSON:\n${JSON.stringify(trace, null, 1)?.slice(0, 20000)}`,
  );
  t.diagnostic(`span tree of trace ${traceId}:`);
  for (const line of spanTree(trace).split('\n')) t.diagnostic(line);
});
