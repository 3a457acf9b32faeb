// The status page: reads /status/events (server-sent events, through fetch so that the admin
// token can go in a header) and draws what it says. No library, no other host: plain DOM and SVG.
'use strict';

/** The admin token lives in this variable only: never stored, gone with the tab. */
let token = '';
let retryMs = 1000;
let controller;

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
};

const CAUSES = {
  exit: 'the model server exited',
  crash: 'the model server crashed',
  zombie: 'the generation thread died: health checks passed but no completion would ever finish',
  metal_abort: 'the model server ran out of GPU memory (Metal abort)',
  bind_failure: 'the model server could not bind its port',
  load_failed: 'the model, which loaded before, could not be loaded',
  startup_timeout: 'the model server did not become ready in time',
  startup_stall: 'the model server stopped making progress while starting',
  frozen: 'the model server stopped answering',
  wedged: 'generation stopped making progress',
  liveness: 'the model server failed its liveness checks',
  breaker_open: 'requests kept failing, and a test request failed too',
  manual: 'restarted by hand',
};
const STATES = { ready: 'ready', starting: 'starting', degraded: 'degraded (breaker open)', backoff: 'waiting to restart', stopping: 'stopping', stopped: 'stopped', fatal: 'given up', closed: 'closed: passing requests', open: 'open: refusing requests', half_open: 'half-open: trying a request' };

function ago(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function setState(node, state) {
  node.dataset.state = state;
  node.textContent = STATES[state] ?? state;
}

function facts(dl, pairs) {
  dl.replaceChildren(...pairs.filter(([, v]) => v !== undefined && v !== null && v !== '').flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))]));
}

function line(values, max, className) {
  if (values.length === 0) return '';
  const step = 240 / Math.max(1, values.length - 1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(58 - (v / (max || 1)) * 54).toFixed(1)}`).join(' ');
  return `<polyline class="${className}" points="${points}"/>`;
}

function chart(svg, series) {
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  // Our own numbers, drawn as markup: nothing from a client reaches this string.
  svg.innerHTML = series.map((s) => line(s.values, max, s.className)).join('');
}

const average = (values) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0);

function render(s) {
  $('connection').textContent = `live · ${new Date().toLocaleTimeString()}`;
  const server = s.modelServer;
  setState($('server-state'), server.state);
  $('server-detail').textContent = server.fatal
    ? server.fatal.message
    : server.coolingDownUntil
      ? `restart budget spent: cooling down, tried again at ${new Date(server.coolingDownUntil).toLocaleTimeString()}; or now, with "Restart the model server"`
      : server.detail;
  const restarts = Object.values(server.restarts ?? {}).reduce((a, b) => a + b, 0);
  facts($('server-facts'), [
    ['for', ago(server.since)],
    ['backend', server.backend],
    ['model', server.model ?? '(the backend’s default)'],
    ['time to ready', server.lastTimeToReadyMs != null ? `${(server.lastTimeToReadyMs / 1000).toFixed(1)} s` : undefined],
    ['restarts', restarts],
    ['pid', server.pid],
  ]);

  $('breaker-list').replaceChildren(
    ...Object.entries(s.breakers).map(([name, b]) => {
      const state = el('p', { class: 'state', id: `breaker-${name}` });
      setState(state, b.state);
      const list = el('ul', {}, ...b.transitions.slice().reverse().map((t) => el('li', {}, `${ago(new Date(t.timestamp).toISOString())} ago: ${t.fromState} → ${t.toState} (${t.reason.replaceAll('_', ' ')})`)));
      const rates = el('p', { class: 'muted' }, `${name === 'inference' ? 'model server calls' : 'tool-call parsing'}: ${b.successes} ok, ${b.failures} failed (${Math.round(b.failureRate * 100)} %), ${b.rejections} refused`);
      const card = el('div', { class: 'breaker' }, el('h3', {}, name), state, rates, list);
      if (s.admin && b.state !== 'closed') {
        const reset = el('button', { 'data-action': `/admin/breakers/${name}/reset` }, `Reset the ${name} breaker`);
        card.append(el('div', { class: 'actions' }, reset));
      }
      return card;
    }),
  );

  const seconds = s.traffic.seconds;
  chart($('chart-requests'), [
    { values: seconds.map((x) => x.ok), className: 'ok' },
    { values: seconds.map((x) => x.clientErrors + x.serverErrors), className: 'bad' },
  ]);
  chart($('chart-latency'), [
    { values: seconds.map((x) => x.p50 ?? 0), className: 'p50' },
    { values: seconds.map((x) => x.p95 ?? 0), className: 'p95' },
  ]);
  chart($('chart-tokens'), [{ values: seconds.map((x) => x.tokens), className: 'tokens' }]);
  const last = seconds.slice(-10);
  $('rps').textContent = `${average(last.map((x) => x.ok + x.clientErrors + x.serverErrors)).toFixed(1)}/s`;
  const p50 = last.map((x) => x.p50).filter((x) => x !== undefined);
  const p95 = last.map((x) => x.p95).filter((x) => x !== undefined);
  $('latency').textContent = p50.length ? `${Math.round(average(p50))} / ${Math.round(Math.max(...p95))} ms` : '—';
  $('tps').textContent = `${average(last.map((x) => x.tokens)).toFixed(1)}/s`;
  $('inflight').textContent = `${s.traffic.inflight} in flight · ${s.traffic.pools.inference.queueSize + s.traffic.pools.parse.queueSize} queued`;

  const items = s.restarts.slice().reverse().map((r) => {
    const item = el('li', {}, el('time', { datetime: r.at }, new Date(r.at).toLocaleTimeString()), `restarted: ${CAUSES[r.cause] ?? r.cause} (${r.detail})`);
    if (r.inFlight > 0) item.append(el('span', { class: 'muted' }, ` · ${r.inFlight} request(s) in flight`));
    if (r.logLines?.length) item.append(el('details', {}, el('summary', {}, 'its last log lines'), el('pre', {}, r.logLines.join('\n'))));
    return item;
  });
  $('restart-list').replaceChildren(...(items.length ? items : [el('li', { class: 'muted' }, 'none yet')]));

  renderModels(s);

  facts($('tool-facts'), [
    ['repaired from raw markup', s.toolParsing.repairedCalls],
    ['lost by the model server', s.toolParsing.lostCalls],
    ['parse breaker', STATES[s.toolParsing.breaker] ?? s.toolParsing.breaker],
  ]);
  for (const node of document.querySelectorAll('.admin-only')) node.hidden = !s.admin;
  $('token-form').hidden = s.admin;
}

const gigabytes = (bytes) => (bytes == null ? '—' : `${(bytes / 1024 ** 3).toFixed(bytes < 1024 ** 3 ? 2 : 1)} GB`);

/** With several models: a row each, with its own load or unload button for an admin. */
function renderModels(s) {
  $('models').hidden = !s.models;
  if (!s.models) return;
  const held = s.models.reduce((sum, m) => sum + (m.memoryBytes ?? 0), 0);
  $('memory-budget').textContent = s.memoryBudgetBytes ? `${gigabytes(held)} of ${gigabytes(s.memoryBudgetBytes)}` : '';
  $('model-rows').replaceChildren(
    ...s.models.map((m) => {
      const state = el('td', { class: 'state' });
      setState(state, m.state);
      // Unloaded is how a model nobody asks for rests: no alarm colour.
      if (m.state === 'stopped') Object.assign(state, { textContent: 'not loaded' }).dataset.state = 'unloaded';
      const restarts = Object.values(m.restarts ?? {}).reduce((a, b) => a + b, 0);
      const row = el('tr', { 'data-model': m.name }, el('td', {}, m.name + (m.pin ? ' (pinned)' : '')), state, el('td', {}, gigabytes(m.memoryBytes)), el('td', {}, m.lastUsedAt ? `${ago(m.lastUsedAt)} ago` : '—'), el('td', {}, String(m.inFlight)), el('td', {}, STATES[m.breaker] ?? m.breaker), el('td', {}, String(restarts)));
      if (s.admin) {
        const action = m.state === 'stopped' || m.state === 'fatal' ? 'load' : 'unload';
        row.append(el('td', {}, el('button', { 'data-action': `/admin/models/${encodeURIComponent(m.name)}/${action}` }, action === 'load' ? 'Load' : 'Unload')));
      }
      return row;
    }),
  );
}

async function connect() {
  controller?.abort();
  controller = new AbortController();
  try {
    const response = await fetch('/status/events', { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: controller.signal });
    if (response.status === 401) {
      $('connection').textContent = 'this instance wants its admin token';
      $('token-form').hidden = false;
      return;
    }
    if (!response.ok || !response.body) throw new Error(`status ${response.status}`);
    retryMs = 1000;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = frame.split('\n').find((l) => l.startsWith('data: '));
        if (data) render(JSON.parse(data.slice(6)));
      }
    }
    throw new Error('the stream ended');
  } catch (error) {
    if (error.name === 'AbortError') return;
    $('connection').textContent = `mlx-guard is not answering (${error.message}); trying again`;
    setState($('server-state'), 'unknown');
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  }
}

document.addEventListener('click', async (event) => {
  const action = event.target.closest?.('[data-action]')?.dataset.action;
  if (!action) return;
  event.target.disabled = true;
  const response = await fetch(action, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (!response.ok) $('connection').textContent = `${action}: ${response.status} ${(await response.json()).error?.message ?? ''}`;
  event.target.disabled = false;
});

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  token = $('token').value;
  $('token').value = '';
  connect();
});

connect();
