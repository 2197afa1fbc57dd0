/* cxpulse live-operations page: plain JS, no framework, no build step.
 *
 * Polls the JSON endpoints every few seconds and follows /v1/alerts/stream (Server-Sent
 * Events read with fetch(), because EventSource cannot send an Authorization header),
 * falling back to polling /v1/alerts when the stream route is not there. Alerts can be
 * acknowledged and resolved; state changes arrive on the stream as `alert_state` events.
 *
 * Every piece of data goes into the page through textContent / attributes, never as
 * markup: API data (titles, ids, details) is untrusted.
 */
(() => {
  'use strict';

  const KEY_STORAGE = 'cxpulse.apiKey';
  const AGENT_STORAGE = 'cxpulse.agent';
  const POLL_MS = 5000;
  const ALERT_POLL_MS = 2000;
  const OPTIONAL_POLL_MS = 30000;
  const STREAM_REPROBE_MS = 60000;
  const SAFETY_POLL_MS = 30000;
  const HEARTBEAT_TIMEOUT_MS = 45000;
  const MAX_ALERTS = 200;
  const STREAM_PATH = '/v1/alerts/stream';
  const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
  const RISK_LEVELS = ['critical', 'high', 'medium', 'low'];
  const STATUSES = ['active', 'in_call', 'idle', 'offline'];
  const STATUS_LABEL = { active: 'Active', in_call: 'In call', idle: 'Idle', offline: 'Offline' };
  const KIND_LABEL = {
    coaching: 'Coaching', client_risk: 'Client risk', sla_breach: 'SLA breach',
    demand_hotspot: 'Demand hotspot', anomaly: 'Anomaly', kb_suggestion: 'KB suggestion',
    complaint_escalation: 'Complaint escalation',
  };
  const SVG_NS = 'http://www.w3.org/2000/svg';

  // ---- DOM helpers (text only; no markup from data) -----------------------------------

  function append(node, children) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) append(node, child);
      else if (child instanceof Node) node.appendChild(child);
      else node.appendChild(document.createTextNode(String(child)));
    }
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'text') node.textContent = String(value);
      else if (name === 'class') node.setAttribute('class', String(value));
      else if (name === 'data') {
        for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v);
      } else if (/^on/i.test(name) || name === 'style') {
        throw new Error(`refusing attribute ${name}`);
      } else node.setAttribute(name, String(value));
    }
    return node;
  }

  function el(tag, attrs, ...children) {
    return append(setAttrs(document.createElement(tag), attrs), children);
  }

  function svg(tag, attrs, ...children) {
    return append(setAttrs(document.createElementNS(SVG_NS, tag), attrs), children);
  }

  function card(id) {
    const root = document.getElementById(id);
    return {
      root,
      body: root.querySelector('[data-role="body"]'),
      meta: root.querySelector('[data-role="meta"]'),
    };
  }

  function show(id, state, ...nodes) {
    const c = card(id);
    c.root.dataset.state = state;
    c.body.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
    return c;
  }

  function placeholder(text, detail) {
    return el('div', { class: 'placeholder' }, el('p', { text }),
      detail ? el('p', { class: 'muted small', text: detail }) : null);
  }

  function oneOf(value, allowed, fallback) {
    return allowed.includes(value) ? value : fallback;
  }

  // ---- formatting -----------------------------------------------------------------------

  const pad2 = (n) => String(n).padStart(2, '0');

  function parseTime(iso) {
    const t = new Date(iso);
    return Number.isNaN(t.getTime()) ? null : t;
  }

  function fmtClock(iso) {
    const t = parseTime(iso);
    return t ? `${pad2(t.getUTCHours())}:${pad2(t.getUTCMinutes())}:${pad2(t.getUTCSeconds())}` : '—';
  }

  function fmtDay(t) {
    return `${t.getUTCFullYear()}-${pad2(t.getUTCMonth() + 1)}-${pad2(t.getUTCDate())}`;
  }

  function fmtStamp(iso) {
    const t = parseTime(iso);
    if (!t) return '—';
    const clock = fmtClock(iso);
    return fmtDay(t) === fmtDay(new Date()) ? clock : `${fmtDay(t)} ${clock}`;
  }

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${pad2(s % 60)}s`;
    return `${Math.floor(s / 3600)}h ${pad2(Math.floor((s % 3600) / 60))}m`;
  }

  const fmtNum = (x, digits = 0) =>
    x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);

  // ---- API access -----------------------------------------------------------------------

  class AuthError extends Error {}
  class HttpError extends Error {
    constructor(status, detail) {
      super(`HTTP ${status}${detail ? `: ${detail}` : ''}`);
      this.status = status;
    }
  }

  const getKey = () => {
    try { return localStorage.getItem(KEY_STORAGE) || ''; } catch (_) { return ''; }
  };

  function authHeaders(extra) {
    return Object.assign({ Authorization: `Bearer ${getKey()}` }, extra || {});
  }

  /** GET a JSON endpoint: {status, body}; 404 is a result, 401 an AuthError. */
  async function api(path, signal) {
    if (!getKey()) throw new AuthError('no API key');
    const resp = await fetch(path, {
      headers: authHeaders({ Accept: 'application/json' }),
      cache: 'no-store',
      signal,
    });
    let body = null;
    try { body = await resp.json(); } catch (_) { body = null; }
    if (resp.status === 401 || resp.status === 403) throw new AuthError('API key rejected');
    if (resp.status === 404) return { status: 404, body };
    if (!resp.ok) {
      const detail = body && typeof body.detail === 'string' ? body.detail : '';
      throw new HttpError(resp.status, detail);
    }
    return { status: resp.status, body };
  }

  // ---- session: every loop of one key, stopped together ---------------------------------

  let session = null;

  function newSession() {
    const s = {
      dead: false,
      ctrl: new AbortController(),
      timers: new Set(),
      lastEventId: '',
      pollingAlerts: false,
      streamConnects: 0,
      sleep(ms) {
        return new Promise((resolve) => {
          if (s.dead) { resolve(); return; }
          const t = setTimeout(() => { s.timers.delete(t); resolve(); }, ms);
          s.timers.add(t);
        });
      },
      stop() {
        s.dead = true;
        s.ctrl.abort();
        for (const t of s.timers) clearTimeout(t);
        s.timers.clear();
      },
    };
    return s;
  }

  function setConn(state, text) {
    const pill = document.getElementById('conn');
    pill.dataset.state = state;
    pill.textContent = text;
  }

  function failed(err) {
    if (err instanceof AuthError) { authFailed(err.message); return true; }
    return false;
  }

  /** Run fn now and every ms until the session stops; errors go to onError. */
  function every(s, ms, fn, onError) {
    (async () => {
      while (!s.dead) {
        try {
          await fn();
        } catch (err) {
          if (s.dead || err.name === 'AbortError') return;
          if (failed(err)) return;
          if (onError) onError(err);
        }
        await s.sleep(ms);
      }
    })();
  }

  const lastOk = { at: 0, errors: 0 };

  function markOk() {
    lastOk.at = Date.now();
    lastOk.errors = 0;
    setConn('ok', 'connected');
  }

  function markError(id, err) {
    lastOk.errors += 1;
    setConn('error', err instanceof HttpError ? err.message : 'API unreachable');
    const c = card(id);
    c.root.dataset.state = 'error';
    const note = c.body.querySelector('.card-error') || el('p', { class: 'card-error' });
    note.textContent = `Could not refresh: ${err.message || err}`;
    if (!note.isConnected) c.body.prepend(note);
  }

  // ---- live operations: queues, agents by status, CSAT ----------------------------------

  async function refreshOps(s) {
    const r = await api('/v1/ops/live', s.ctrl.signal);
    markOk();
    const asOf = document.getElementById('as-of');
    if (r.status === 404) {
      asOf.textContent = 'no snapshot yet';
      for (const id of ['queues', 'agents-status', 'csat', 'agent-board']) {
        show(id, 'empty', placeholder('No live-operations snapshot yet',
          'It appears once the flows have processed events for this tenant.'));
      }
      document.getElementById('board-summary').replaceChildren();
      return;
    }
    const live = r.body;
    asOf.textContent = `snapshot ${fmtStamp(live.as_of)} UTC`;
    renderQueues(live);
    renderStatuses(live.agents_by_status || {});
    renderCsat(live.csat_distribution || {});
    renderBoard(live);
  }

  function renderQueues(live) {
    const queues = Array.isArray(live.queues) ? live.queues : [];
    const total = queues.reduce((n, q) => n + (q.depth || 0), 0);
    const maxDepth = Math.max(1, ...queues.map((q) => q.depth || 0));
    const c = card('queues');
    c.meta.textContent = `${total} waiting`;
    const msgs = live.messages_last_hour || {};
    const msgTotal = Object.values(msgs).reduce((n, v) => n + (Number(v) || 0), 0);
    const msgLine = el('p', { class: 'muted small foot-line' },
      `Messages last hour: ${msgTotal}`,
      msgTotal ? ` (${Object.entries(msgs).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(' · ')})` : '');
    if (!queues.length) {
      show('queues', 'ready', placeholder('No queues'), msgLine);
      return;
    }
    const rows = queues.map((q) => {
      const bar = el('span', { class: 'bar' });
      bar.style.width = `${Math.round((100 * (q.depth || 0)) / maxDepth)}%`;
      const hot = (q.oldest_wait_s || 0) >= 300;
      return el('tr', { data: { queue: q.queue } },
        el('th', { scope: 'row', text: q.queue, title: q.queue }),
        el('td', { class: 'num' }, el('span', { class: 'depth' }, el('span', { class: 'bar-track' }, bar),
          el('span', { text: String(q.depth) }))),
        el('td', { class: hot ? 'num hot' : 'num', text: fmtDuration(q.oldest_wait_s) }),
        el('td', { class: 'num', text: fmtDuration(q.avg_wait_s) }),
        el('td', { class: 'num', text: String(q.active_sessions ?? 0) }));
    });
    show('queues', 'ready',
      el('table', { class: 'grid' },
        el('thead', null, el('tr', null,
          el('th', { text: 'Queue' }), el('th', { class: 'num', text: 'Waiting' }),
          el('th', { class: 'num', text: 'Oldest' }), el('th', { class: 'num', text: 'Avg wait' }),
          el('th', { class: 'num', text: 'Active', title: 'Sessions started and not yet ended' }))),
        el('tbody', null, rows)),
      msgLine);
  }

  function renderStatuses(byStatus) {
    const counts = STATUSES.map((st) => [st, Number(byStatus[st]) || 0]);
    const total = counts.reduce((n, [, v]) => n + v, 0);
    const online = total - (Number(byStatus.offline) || 0);
    const c = card('agents-status');
    c.meta.textContent = `${total} agents`;
    const stack = el('div', { class: 'stack', role: 'img', 'aria-label': 'Agents by status' });
    for (const [st, n] of counts) {
      if (!n) continue;
      const seg = el('span', { class: `seg st-${st}`, title: `${STATUS_LABEL[st]}: ${n}` });
      seg.style.flexGrow = String(n);
      stack.appendChild(seg);
    }
    show('agents-status', 'ready',
      el('div', { class: 'headline' }, el('span', { class: 'big', text: String(online) }),
        el('span', { class: 'muted', text: ' online' })),
      stack,
      el('ul', { class: 'legend' }, counts.map(([st, n]) =>
        el('li', { data: { status: st } }, el('span', { class: `swatch st-${st}` }),
          el('span', { text: STATUS_LABEL[st] }), el('b', { text: String(n) })))));
  }

  function renderCsat(dist) {
    const ratings = ['1', '2', '3', '4', '5'];
    const counts = ratings.map((r) => Number(dist[r]) || 0);
    const total = counts.reduce((a, b) => a + b, 0);
    const mean = total ? counts.reduce((a, n, i) => a + n * (i + 1), 0) / total : null;
    const happy = total ? (100 * (counts[3] + counts[4])) / total : null;
    const c = card('csat');
    c.meta.textContent = `last 24 h · ${total} surveys`;
    const W = 300; const H = 150; const top = 18; const bottom = 22;
    const maxN = Math.max(1, ...counts);
    const slot = W / 5;
    const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
      'aria-label': 'CSAT ratings 1 to 5' });
    counts.forEach((n, i) => {
      const h = ((H - top - bottom) * n) / maxN;
      const x = i * slot + slot * 0.2;
      chart.appendChild(svg('rect', { x, y: H - bottom - h, width: slot * 0.6, height: Math.max(h, n ? 2 : 0),
        rx: 3, class: `csat-${i + 1}` }, svg('title', { text: `${n} × rating ${i + 1}` })));
      chart.appendChild(svg('text', { x: x + slot * 0.3, y: H - bottom - h - 5, class: 'lbl',
        'text-anchor': 'middle', text: String(n) }));
      chart.appendChild(svg('text', { x: x + slot * 0.3, y: H - 6, class: 'axis',
        'text-anchor': 'middle', text: `${i + 1}★` }));
    });
    chart.appendChild(svg('line', { x1: 0, x2: W, y1: H - bottom, y2: H - bottom, class: 'baseline' }));
    show('csat', 'ready',
      el('div', { class: 'headline' },
        el('span', { class: 'big', text: mean === null ? '—' : mean.toFixed(2) }),
        el('span', { class: 'muted', text: ' mean' }),
        happy === null ? null : el('span', { class: 'muted', text: ` · ${happy.toFixed(0)}% rated 4–5` })),
      chart);
  }

  // ---- live agent board: every agent's status and activity, sortable and filterable -------

  const BOARD_COLUMNS = [
    { key: 'agent_id', label: 'Agent', type: 'text' },
    { key: 'status', label: 'Status', type: 'status' },
    { key: 'since', label: 'In status', type: 'time' },
    { key: 'last_event_at', label: 'Last event', type: 'time' },
    { key: 'active_sessions', label: 'Active sessions', type: 'num' },
    { key: 'sessions_today', label: 'Sessions today', type: 'num' },
    { key: 'open_tickets', label: 'Open tickets', type: 'num' },
  ];
  const STATUS_ORDER = { active: 0, in_call: 1, idle: 2, offline: 3 };
  const COMPLAINT_SEVERITIES = ['critical', 'high', 'medium', 'low'];
  let boardAgents = [];
  let boardAsOf = null;
  const boardSort = { key: 'agent_id', dir: 1 };

  function boardValue(a, col) {
    const v = a[col.key];
    if (col.type === 'num') return Number(v) || 0;
    if (col.type === 'time') {
      const t = v ? parseTime(v) : null;
      return t ? t.getTime() : -Infinity;
    }
    if (col.type === 'status') return Object.hasOwn(STATUS_ORDER, v) ? STATUS_ORDER[v] : 9;
    return String(v ?? '');
  }

  function boardOrder(col, dir) {
    return (a, b) => {
      const x = boardValue(a, col);
      const y = boardValue(b, col);
      const c = x < y ? -1 : (x > y ? 1 : 0);
      return c * dir || String(a.agent_id).localeCompare(String(b.agent_id));
    };
  }

  function sortBoard(key) {
    const col = BOARD_COLUMNS.find((c) => c.key === key);
    if (!col) return;
    if (boardSort.key === key) boardSort.dir = -boardSort.dir;
    else { boardSort.key = key; boardSort.dir = col.type === 'text' || col.type === 'status' ? 1 : -1; }
    drawBoard();
  }

  function renderBoard(live) {
    boardAgents = Array.isArray(live.agents) ? live.agents : [];
    boardAsOf = parseTime(live.as_of);
    const open = live.open_complaints || {};
    const total = COMPLAINT_SEVERITIES.reduce((n, sev) => n + (Number(open[sev]) || 0), 0);
    const summary = document.getElementById('board-summary');
    summary.dataset.openComplaints = String(total);
    const peak = live.messages_peak_hour;
    const start = peak ? parseTime(peak.hour) : null;
    summary.replaceChildren(
      el('span', { class: 'muted', text: `Open complaints: ${total}` }),
      el('span', null, COMPLAINT_SEVERITIES.filter((sev) => Number(open[sev])).map((sev) =>
        el('span', { class: `chip sev-${sev}`, data: { severity: sev } }, el('b', { text: String(open[sev]) }), ` ${sev}`))),
      el('span', { class: 'muted', data: { role: 'peak' },
        text: start
          ? `Busiest hour today: ${pad2(start.getUTCHours())}:00–${pad2((start.getUTCHours() + 1) % 24)}:00 UTC, ${peak.count} messages`
          : 'No messages today' }));
    drawBoard();
  }

  function drawBoard() {
    const filter = document.getElementById('board-status').value;
    const shown = boardAgents.filter((a) => !filter || (filter === 'unknown' ? !a.status : a.status === filter));
    const col = BOARD_COLUMNS.find((c) => c.key === boardSort.key) || BOARD_COLUMNS[0];
    shown.sort(boardOrder(col, boardSort.dir));
    const c = card('agent-board');
    c.meta.textContent = filter ? `${shown.length} of ${boardAgents.length} agents` : `${boardAgents.length} agents`;
    if (!boardAgents.length) {
      show('agent-board', 'empty', placeholder('No agent seen yet',
        'Agents appear with their first status change, session or ticket.'));
      return;
    }
    const head = el('tr', null, BOARD_COLUMNS.map((cl) => {
      const sorted = cl.key === boardSort.key;
      const button = el('button', { type: 'button', text: cl.label, title: `Sort by ${cl.label.toLowerCase()}` });
      button.addEventListener('click', () => sortBoard(cl.key));
      return el('th', { scope: 'col', class: cl.type === 'num' ? 'num' : null, data: { sort: cl.key },
        'aria-sort': sorted ? (boardSort.dir > 0 ? 'ascending' : 'descending') : 'none' }, button);
    }));
    const rows = shown.map((a) => {
      const since = a.since ? parseTime(a.since) : null;
      const inStatus = since && boardAsOf ? (boardAsOf.getTime() - since.getTime()) / 1000 : null;
      return el('tr', { data: { agent: a.agent_id, status: a.status || 'unknown' } },
        el('th', { scope: 'row', text: a.agent_id, title: a.agent_id }),
        el('td', null, el('span', { class: `status-dot st-${oneOf(a.status, STATUSES, 'none')}` }),
          a.status ? (STATUS_LABEL[a.status] || a.status) : '—'),
        el('td', { text: since ? fmtDuration(inStatus) : '—', title: since ? `since ${fmtStamp(a.since)} UTC` : null }),
        el('td', { text: fmtStamp(a.last_event_at) }),
        el('td', { class: 'num', text: String(a.active_sessions) }),
        el('td', { class: 'num', text: String(a.sessions_today) }),
        el('td', { class: 'num', text: String(a.open_tickets) }));
    });
    show('agent-board', 'ready', el('table', { class: 'grid' },
      el('thead', null, head), el('tbody', null, rows)));
  }

  // ---- agents table and performance chart -----------------------------------------------

  let agents = [];
  let selectedAgent = '';

  function chooseAgent(id) {
    selectedAgent = id;
    try { localStorage.setItem(AGENT_STORAGE, id); } catch (_) { /* private mode */ }
    const select = document.getElementById('agent-select');
    if (select.value !== id) select.value = id;
    for (const row of document.querySelectorAll('#agents tbody tr')) {
      row.classList.toggle('selected', row.dataset.agent === id);
    }
    if (session) refreshPerformance(session).catch((err) => {
      if (!failed(err) && err.name !== 'AbortError') markError('performance', err);
    });
  }

  async function refreshAgents(s) {
    const r = await api('/v1/agents', s.ctrl.signal);
    markOk();
    agents = (r.body && Array.isArray(r.body.items)) ? r.body.items : [];
    syncAgentSelect();
    renderAgentsTable();
    await refreshPerformance(s);
  }

  function renderAgentsTable() {
    const c = card('agents');
    c.meta.textContent = agents.length ? `${agents.length} agents · latest day` : '';
    if (!agents.length) {
      show('agents', 'empty', placeholder('No agent activity yet'));
      return;
    }
    const rows = agents.map((a) => {
      const low = a.low_csat_count_30d || 0;
      const row = el('tr', { data: { agent: a.agent_id }, class: a.agent_id === selectedAgent ? 'selected' : null,
        tabindex: 0, title: 'Show this agent in the performance chart' },
        el('th', { scope: 'row', text: a.agent_id, title: a.agent_id }),
        el('td', { class: 'num', text: String(a.tickets_assigned_today) }),
        el('td', { class: 'num', text: String(a.tickets_resolved_today) }),
        el('td', { class: 'num', text: fmtDuration(a.avg_handle_time_s_today) }),
        el('td', { class: 'num', text: fmtDuration(a.avg_first_response_s_today) }),
        el('td', { class: 'num' }, fmtNum(a.csat_avg_30d, 2),
          el('span', { class: 'muted small', text: ` (${a.csat_count_30d})` })),
        el('td', { class: low ? 'num hot' : 'num', text: String(low) }));
      row.addEventListener('click', () => chooseAgent(a.agent_id));
      row.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') chooseAgent(a.agent_id); });
      return row;
    });
    show('agents', 'ready', el('table', { class: 'grid' },
      el('thead', null, el('tr', null,
        el('th', { text: 'Agent' }), el('th', { class: 'num', text: 'Assigned' }),
        el('th', { class: 'num', text: 'Resolved' }), el('th', { class: 'num', text: 'Avg handle' }),
        el('th', { class: 'num', text: 'First resp.' }), el('th', { class: 'num', text: 'CSAT 30 d' }),
        el('th', { class: 'num', text: 'Low CSAT' }))),
      el('tbody', null, rows)));
  }

  function syncAgentSelect() {
    const select = document.getElementById('agent-select');
    const ids = agents.map((a) => a.agent_id);
    const current = Array.from(select.options).map((o) => o.value);
    if (ids.join('\u0000') !== current.join('\u0000')) {
      select.replaceChildren(...ids.map((id) => el('option', { value: id, text: id })));
    }
    if (!ids.includes(selectedAgent)) {
      let saved = '';
      try { saved = localStorage.getItem(AGENT_STORAGE) || ''; } catch (_) { saved = ''; }
      const busiest = agents.slice().sort((a, b) =>
        (b.tickets_resolved_today - a.tickets_resolved_today) || a.agent_id.localeCompare(b.agent_id))[0];
      selectedAgent = ids.includes(saved) ? saved : (busiest ? busiest.agent_id : '');
    }
    select.value = selectedAgent;
  }

  const HOUR = 3600 * 1000;

  async function refreshPerformance(s) {
    const agent = agents.find((a) => a.agent_id === selectedAgent);
    if (!agent) {
      show('performance', 'empty', placeholder('No agent to show yet'));
      return;
    }
    // The last 24 hours, or the agent's latest active day when that is in the past
    // (a replayed history reads as it did then).
    const lastEnd = parseTime(agent.last_window_end);
    const end = new Date(Math.min(Date.now(), lastEnd ? lastEnd.getTime() : Date.now()));
    const lastSlot = Math.floor((end.getTime() - 1) / HOUR) * HOUR;
    const firstSlot = lastSlot - 23 * HOUR;
    const params = new URLSearchParams({
      window: '1h',
      start: new Date(firstSlot).toISOString(),
      end: new Date(lastSlot + HOUR).toISOString(),
    });
    const path = `/v1/agents/${encodeURIComponent(agent.agent_id)}/performance?${params}`;
    const r = await api(path, s.ctrl.signal);
    if (agent.agent_id !== selectedAgent) return; // the user picked another meanwhile
    if (r.status === 404) {
      show('performance', 'empty', placeholder('No windows for this agent'));
      return;
    }
    const items = (r.body && Array.isArray(r.body.items)) ? r.body.items : [];
    renderPerformance(agent.agent_id, items, firstSlot);
  }

  function niceMax(n) {
    if (n <= 4) return Math.max(1, n);
    const step = 10 ** Math.floor(Math.log10(n));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= n) return m * step;
    return n;
  }

  function renderPerformance(agentId, items, firstSlot) {
    const slots = Array.from({ length: 24 }, (_, i) => firstSlot + i * HOUR);
    const bySlot = new Map();
    for (const it of items) {
      const t = parseTime(it.window_start);
      if (t) bySlot.set(t.getTime(), it);
    }
    const W = 760; const H = 250;
    const m = { l: 40, r: 40, t: 14, b: 30 };
    const pw = W - m.l - m.r; const ph = H - m.t - m.b;
    const sw = pw / slots.length;
    const resolved = slots.map((t) => (bySlot.get(t) || {}).tickets_resolved || 0);
    const maxR = niceMax(Math.max(...resolved, 1));
    const yR = (v) => m.t + ph - (ph * v) / maxR;
    const yC = (v) => m.t + ph - (ph * (v - 1)) / 4;

    const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart perf', role: 'img',
      'aria-label': `Tickets resolved and CSAT per hour for ${agentId}` });
    // grid + left axis (tickets) + right axis (CSAT 1-5)
    for (const f of [0, 0.5, 1]) {
      const y = m.t + ph - ph * f;
      chart.appendChild(svg('line', { x1: m.l, x2: W - m.r, y1: y, y2: y, class: f ? 'gridline' : 'baseline' }));
      if (Number.isInteger(maxR * f)) {
        chart.appendChild(svg('text', { x: m.l - 6, y: y + 4, 'text-anchor': 'end', class: 'axis res',
          text: String(maxR * f) }));
      }
      chart.appendChild(svg('text', { x: W - m.r + 6, y: y + 4, class: 'axis csat',
        text: String(1 + 4 * f) }));
    }
    slots.forEach((t, i) => {
      const it = bySlot.get(t);
      const x = m.l + i * sw;
      if (i % 3 === 0) {
        const d = new Date(t);
        chart.appendChild(svg('text', { x: x + sw / 2, y: H - 10, 'text-anchor': 'middle', class: 'axis',
          text: `${pad2(d.getUTCHours())}:00` }));
      }
      if (!it || !it.tickets_resolved) return;
      const y = yR(it.tickets_resolved);
      chart.appendChild(svg('rect', { x: x + sw * 0.18, y, width: sw * 0.64, height: m.t + ph - y, rx: 2,
        class: it.is_final ? 'bar-res' : 'bar-res provisional' },
      svg('title', { text: `${fmtClock(it.window_start).slice(0, 5)}–${fmtClock(it.window_end).slice(0, 5)} UTC: `
        + `${it.tickets_resolved} resolved, ${it.tickets_assigned} assigned`
        + `${it.is_final ? '' : ' (window still open)'}` })));
    });
    // CSAT line, broken where an hour has no survey
    let run = [];
    const flush = () => {
      if (run.length > 1) chart.appendChild(svg('polyline', { points: run.join(' '), class: 'line-csat' }));
      run = [];
    };
    slots.forEach((t, i) => {
      const it = bySlot.get(t);
      if (!it || it.csat_avg === null || it.csat_avg === undefined) { flush(); return; }
      const x = m.l + i * sw + sw / 2; const y = yC(it.csat_avg);
      run.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    });
    flush();
    slots.forEach((t, i) => {
      const it = bySlot.get(t);
      if (!it || it.csat_avg === null || it.csat_avg === undefined) return;
      chart.appendChild(svg('circle', { cx: m.l + i * sw + sw / 2, cy: yC(it.csat_avg), r: 4,
        class: it.low_csat_count ? 'dot-csat low' : 'dot-csat' },
      svg('title', { text: `${fmtClock(it.window_start).slice(0, 5)} UTC: CSAT ${fmtNum(it.csat_avg, 2)} `
        + `from ${it.csat_count} survey(s), ${it.low_csat_count} low` })));
    });

    const totals = items.reduce((acc, it) => {
      acc.res += it.tickets_resolved || 0;
      acc.asg += it.tickets_assigned || 0;
      acc.n += it.csat_count || 0;
      if (it.csat_avg !== null && it.csat_avg !== undefined) acc.sum += it.csat_avg * (it.csat_count || 0);
      acc.low += it.low_csat_count || 0;
      return acc;
    }, { res: 0, asg: 0, n: 0, sum: 0, low: 0 });
    const stat = (label, value, cls) => el('div', { class: `stat ${cls || ''}` },
      el('span', { class: 'big', text: value }), el('span', { class: 'muted small', text: label }));
    show('performance', items.length ? 'ready' : 'empty',
      el('div', { class: 'perf-head' },
        el('div', { class: 'stats' },
          stat('resolved', String(totals.res)),
          stat('assigned', String(totals.asg)),
          stat('CSAT', totals.n ? (totals.sum / totals.n).toFixed(2) : '—'),
          stat('low CSAT', String(totals.low), totals.low ? 'hot' : '')),
        el('ul', { class: 'legend inline' },
          el('li', null, el('span', { class: 'swatch bar-res' }), 'tickets resolved / h'),
          el('li', null, el('span', { class: 'swatch line-csat' }), 'CSAT (1–5)'),
          el('li', null, el('span', { class: 'swatch bar-res provisional' }), 'hour still open'))),
      chart,
      items.length ? null : el('p', { class: 'muted small', text: 'No activity in these 24 hours.' }));
    card('performance').root.dataset.agent = agentId;
  }

  // ---- at-risk clients ------------------------------------------------------------------

  async function refreshRisk(s) {
    const r = await api('/v1/clients/risk?limit=10', s.ctrl.signal);
    markOk();
    const items = (r.body && Array.isArray(r.body.items)) ? r.body.items : [];
    if (!items.length) {
      show('risk', 'empty', placeholder('No client risk scores yet'));
      return;
    }
    const rows = items.map((c) => {
      const level = oneOf(c.risk_level, RISK_LEVELS, 'low');
      const p = Number(c.churn_probability) || 0;
      const bar = el('span', { class: `bar lvl-${level}` });
      bar.style.width = `${Math.round(p * 100)}%`;
      const factors = (Array.isArray(c.factors) ? c.factors : []).slice(0, 4).map((f) =>
        el('span', { class: 'chip', title: `${f.name}: +${fmtNum(f.contribution, 3)} logit points` },
          String(f.name).replace(/_/g, ' '), el('b', { text: ` +${fmtNum(f.contribution, 2)}` })));
      return el('tr', { data: { client: c.client_id, level } },
        el('th', { scope: 'row', text: c.client_id, title: c.client_id }),
        el('td', null, el('span', { class: `badge lvl-${level}`, text: level })),
        el('td', { class: 'prob' }, el('span', { class: 'bar-track' }, bar),
          el('span', { class: 'num', text: `${(p * 100).toFixed(0)}%` })),
        el('td', { class: 'factors' }, factors.length ? factors : el('span', { class: 'muted', text: '—' })),
        el('td', { class: 'num muted small', text: fmtStamp(c.scored_at) }));
    });
    show('risk', 'ready', el('table', { class: 'grid' },
      el('thead', null, el('tr', null,
        el('th', { text: 'Client' }), el('th', { text: 'Level' }), el('th', { text: 'Churn risk' }),
        el('th', { text: 'Main factors' }), el('th', { class: 'num', text: 'Scored' }))),
      el('tbody', null, rows)));
  }

  // ---- demand forecast --------------------------------------------------------------------

  const SEGMENT_STORAGE = 'cxpulse.segment';
  const FORECAST_HOURS = 48;
  let segments = [];

  function segmentKey(sg) { return `${sg.segment_type}:${sg.segment}`; }

  function chosenSegment() {
    let saved = '';
    try { saved = localStorage.getItem(SEGMENT_STORAGE) || ''; } catch (_) { saved = ''; }
    return segments.find((sg) => segmentKey(sg) === saved) || segments[0];
  }

  function segmentPicker(current) {
    const select = el('select', { 'aria-label': 'Segment', id: 'segment-select' },
      segments.map((sg) => el('option', { value: segmentKey(sg),
        text: `${sg.segment_type.replace('_', ' ')}: ${sg.segment}` })));
    select.value = segmentKey(current);
    select.addEventListener('change', () => {
      try { localStorage.setItem(SEGMENT_STORAGE, select.value); } catch (_) { /* private mode */ }
      if (session) refreshForecast(session).catch((e) => { if (!failed(e)) markError('forecast', e); });
    });
    return el('label', { class: 'picker' }, el('span', { class: 'muted', text: 'Segment' }), select);
  }

  async function refreshForecast(s) {
    const r = await api('/v1/demand/segments', s.ctrl.signal);
    segments = (r.body && Array.isArray(r.body.items)) ? r.body.items : [];
    const c = card('forecast');
    if (!segments.length) {
      c.meta.textContent = '';
      show('forecast', 'empty', placeholder('No forecast yet', 'Forecasts start with the first closed hour of demand.'));
      return;
    }
    const sg = chosenSegment();
    const params = new URLSearchParams({ segment_type: sg.segment_type, segment: sg.segment,
      horizon_h: String(FORECAST_HOURS) });
    const f = await api(`/v1/demand/forecast?${params}`, s.ctrl.signal);
    if (f.status === 404 || !f.body || !Array.isArray(f.body.items)) {
      show('forecast', 'empty', segmentPicker(sg), placeholder('No forecast for this segment yet'));
      return;
    }
    renderForecast(sg, f.body);
  }

  function renderForecast(sg, fc) {
    const items = fc.items;
    const W = 520; const H = 220;
    const m = { l: 36, r: 10, t: 10, b: 26 };
    const pw = W - m.l - m.r; const ph = H - m.t - m.b;
    const maxV = niceMax(Math.max(1, ...items.map((it) => Number(it.upper_95) || 0)));
    const x = (i) => m.l + (pw * i) / Math.max(1, items.length - 1);
    const y = (v) => m.t + ph - (ph * Math.min(v, maxV)) / maxV;
    const band = (lo, hi) => {
      const top = items.map((it, i) => `${x(i).toFixed(1)},${y(Number(it[hi]) || 0).toFixed(1)}`);
      const bottom = items.map((it, i) => `${x(i).toFixed(1)},${y(Number(it[lo]) || 0).toFixed(1)}`).reverse();
      return top.concat(bottom).join(' ');
    };
    const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart forecast', role: 'img',
      'aria-label': `Forecast of ${segmentKey(sg)} for the next ${items.length} hours` });
    for (const f of [0, 0.5, 1]) {
      const yy = m.t + ph - ph * f;
      chart.appendChild(svg('line', { x1: m.l, x2: W - m.r, y1: yy, y2: yy, class: f ? 'gridline' : 'baseline' }));
      chart.appendChild(svg('text', { x: m.l - 6, y: yy + 4, 'text-anchor': 'end', class: 'axis',
        text: fmtNum(maxV * f, maxV * f < 10 && !Number.isInteger(maxV * f) ? 1 : 0) }));
    }
    chart.appendChild(svg('polygon', { points: band('lower_95', 'upper_95'), class: 'band-95' }));
    chart.appendChild(svg('polygon', { points: band('lower_80', 'upper_80'), class: 'band-80' }));
    chart.appendChild(svg('polyline', { class: 'line-forecast',
      points: items.map((it, i) => `${x(i).toFixed(1)},${y(Number(it.predicted) || 0).toFixed(1)}`).join(' ') }));
    items.forEach((it, i) => {
      const t = parseTime(it.target_start);
      if (t && t.getUTCHours() % 6 === 0) {
        chart.appendChild(svg('text', { x: x(i), y: H - 8, 'text-anchor': 'middle', class: 'axis',
          text: t.getUTCHours() === 0 ? fmtDay(t) : `${pad2(t.getUTCHours())}:00` }));
      }
      chart.appendChild(svg('circle', { cx: x(i), cy: y(Number(it.predicted) || 0), r: 2.5, class: 'dot-forecast' },
        svg('title', { text: `${fmtStamp(it.target_start)}: ${fmtNum(it.predicted, 1)} expected `
          + `(80 %: ${fmtNum(it.lower_80, 1)}–${fmtNum(it.upper_80, 1)}, 95 %: `
          + `${fmtNum(it.lower_95, 1)}–${fmtNum(it.upper_95, 1)})` })));
    });
    const bt = fc.backtest;
    const quality = bt
      ? `backtest: WAPE ${fmtNum(bt.wape, 2)} · MASE ${fmtNum(bt.mase, 2)} · 80 % coverage ${fmtNum((bt.coverage_80 || 0) * 100, 0)} %`
      : 'no backtest yet';
    card('forecast').meta.textContent = String(fc.model || '').replace(/_/g, ' ');
    show('forecast', 'ready',
      el('div', { class: 'perf-head' }, segmentPicker(sg),
        el('ul', { class: 'legend inline' },
          el('li', null, el('span', { class: 'swatch line-forecast' }), 'expected / h'),
          el('li', null, el('span', { class: 'swatch band-80' }), '80 %'),
          el('li', null, el('span', { class: 'swatch band-95' }), '95 %'))),
      chart,
      el('p', { class: 'muted small', text: `${quality} · made at ${fmtStamp(fc.generated_at)}` }));
    card('forecast').root.dataset.segment = segmentKey(sg);
  }

  // ---- KB suggestions -------------------------------------------------------------------

  async function judge(id, verdict) {
    const resp = await fetch(`/v1/kb/suggestions/${encodeURIComponent(id)}/${verdict}`, {
      method: 'POST', headers: authHeaders({ Accept: 'application/json' }), cache: 'no-store' });
    if (resp.status === 401 || resp.status === 403) throw new AuthError('API key rejected');
    if (!resp.ok) throw new HttpError(resp.status, '');
  }

  async function refreshKb(s) {
    const r = await api('/v1/kb/suggestions?status=open&limit=8', s.ctrl.signal);
    const body = r.body || {};
    const items = Array.isArray(body.items) ? body.items : [];
    const fb = body.feedback || {};
    const judged = (fb.accepted || 0) + (fb.dismissed || 0);
    card('kb').meta.textContent = judged
      ? `precision ${fmtNum((fb.precision || 0) * 100, 0)} % of ${judged}` : '';
    if (!items.length) {
      show('kb', 'empty', placeholder('No open suggestions', 'Every recurring problem has an article.'));
      return;
    }
    show('kb', 'ready', el('ul', { class: 'plain-list kb-list' }, items.map((it) => {
      const buttons = ['accept', 'dismiss'].map((verdict) => {
        const b = el('button', { type: 'button', class: `small ${verdict}`, text: verdict === 'accept' ? 'Useful' : 'Dismiss',
          'aria-pressed': String(it.verdict === (verdict === 'accept' ? 'accepted' : 'dismissed')) });
        b.addEventListener('click', () => {
          judge(it.suggestion_id, verdict).then(() => refreshKb(s))
            .catch((e) => { if (!failed(e)) markError('kb', e); });
        });
        return b;
      });
      return el('li', { data: { suggestion: it.suggestion_id } },
        el('b', { text: it.title }),
        el('span', { class: 'muted small', text: ` ${String(it.category).replace(/_/g, ' ')} · ${it.size} tickets · `
          + `confidence ${fmtNum((Number(it.confidence) || 0) * 100, 0)} %` }),
        el('span', { class: 'kb-actions' }, buttons));
    })));
  }

  // ---- live alerts ----------------------------------------------------------------------

  const seenAlerts = new Set();

  const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  /** One line of evidence: the subject, then a few short scalar details. */
  function alertDetails(a) {
    const d = a.details && typeof a.details === 'object' ? a.details : {};
    const parts = [`${a.subject_type || 'subject'} ${a.subject_id || ''}`.trim()];
    for (const [k, v] of Object.entries(d)) {
      if (parts.length >= 5) break;
      if (v === null || v === '' || typeof v === 'object') continue;
      if (UUID_RE.test(String(v)) || String(v) === String(a.subject_id)) continue;
      const shown = typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : String(v);
      parts.push(`${k.replace(/_/g, ' ')} ${shown}`);
    }
    return parts.join(' · ');
  }

  function alertNode(a, via) {
    const sev = oneOf(a.severity, SEVERITIES, 'info');
    const buttons = ['acknowledge', 'resolve'].map((action) => {
      const b = el('button', { type: 'button', class: `small ${action}`, data: { action },
        text: action === 'acknowledge' ? 'Acknowledge' : 'Resolve' });
      b.addEventListener('click', () => actOnAlert(a.alert_id, action, b));
      return b;
    });
    const li = el('li', { class: via === 'initial' ? `alert sev-${sev}` : `alert sev-${sev} fresh`,
      data: { alertId: a.alert_id, via, severity: sev, kind: a.kind || '', state: 'open' },
      title: `event time ${a.event_time} · fired ${a.fired_at}` },
    el('div', { class: 'alert-head' },
      el('span', { class: `badge sev-${sev}`, text: sev }),
      el('span', { class: 'kind', text: KIND_LABEL[a.kind] || String(a.kind || '').replace(/_/g, ' ') }),
      el('time', { datetime: a.event_time, text: fmtStamp(a.event_time) })),
    el('div', { class: 'alert-title', text: a.title || '(untitled alert)' }),
    el('div', { class: 'alert-sub muted small', text: alertDetails(a) }),
    el('div', { class: 'alert-actions' },
      el('span', { class: 'alert-state', data: { role: 'state' } }), buttons));
    showAlertState(li, a.state, a.state_at, null);
    return li;
  }

  // ---- alert lifecycle: open -> acknowledged -> resolved (never back) ----------------------

  const ALERT_STATES = ['open', 'acknowledged', 'resolved'];
  const STATE_LABEL = { open: '', acknowledged: 'acknowledged', resolved: 'resolved' };

  function alertItem(alertId) {
    for (const li of document.getElementById('alert-list').children) {
      if (li.dataset.alertId === alertId) return li;
    }
    return null;
  }

  /** Moves an alert's item to `state` unless it is already there or further (states
   * only move forward: a late or repeated announcement never takes one back). */
  function showAlertState(li, state, at, note) {
    if (!li || !ALERT_STATES.includes(state)) return;
    const current = ALERT_STATES.indexOf(li.dataset.state || 'open');
    if (ALERT_STATES.indexOf(state) < current) return;
    li.dataset.state = state;
    const badge = li.querySelector('[data-role="state"]');
    badge.textContent = STATE_LABEL[state];
    badge.title = [at ? `since ${fmtStamp(at)}` : '', note ? `note: ${note}` : ''].filter(Boolean).join(' · ');
    for (const b of li.querySelectorAll('.alert-actions button')) {
      const done = b.dataset.action === 'acknowledge' ? state !== 'open' : state === 'resolved';
      b.hidden = done;
      b.disabled = done;
    }
  }

  async function actOnAlert(alertId, action, button) {
    const path = action === 'acknowledge' ? 'ack' : 'resolve';
    button.disabled = true;
    try {
      const resp = await fetch(`/v1/alerts/${encodeURIComponent(alertId)}/${path}`, {
        method: 'POST', headers: authHeaders({ Accept: 'application/json' }), cache: 'no-store' });
      if (resp.status === 401 || resp.status === 403) throw new AuthError('API key rejected');
      if (!resp.ok) throw new HttpError(resp.status, '');
      const r = await resp.json();
      showAlertState(alertItem(alertId), r.state, r.state_at, null);
    } catch (e) {
      button.disabled = false;
      if (!failed(e)) markError('alerts', e);
    }
  }

  /** An `alert_state` event of the stream (any replica, any user of the tenant). */
  function onAlertState(change) {
    if (!change || typeof change.alert_id !== 'string') return;
    const li = alertItem(change.alert_id);
    showAlertState(li, change.state, change.at, change.note);
    if (li && ALERT_STATES.includes(change.state)) li.dataset.streamState = change.state;
  }

  /** Adds unseen alerts; `items` newest first; at 'top' (live) or 'bottom' (history). */
  function addAlerts(items, via, where) {
    const list = document.getElementById('alert-list');
    for (const a of items) {  // alerts already shown: their state may have moved on
      if (a && seenAlerts.has(a.alert_id)) showAlertState(alertItem(a.alert_id), a.state, a.state_at, null);
    }
    const fresh = items.filter((a) => a && typeof a.alert_id === 'string' && !seenAlerts.has(a.alert_id));
    if (!fresh.length) return;
    for (const a of fresh) seenAlerts.add(a.alert_id);
    const nodes = fresh.map((a) => alertNode(a, via));
    if (where === 'top') list.prepend(...nodes);
    else list.append(...nodes);
    setTimeout(() => { for (const n of nodes) n.classList.remove('fresh'); }, 4000);
    while (list.children.length > MAX_ALERTS) {
      seenAlerts.delete(list.lastElementChild.dataset.alertId);
      list.lastElementChild.remove();
    }
    const c = card('alerts');
    c.root.querySelector('[data-role="empty"]').hidden = true;
    c.root.dataset.count = String(list.children.length);
  }

  function setAlertSource(source, state, text) {
    const c = card('alerts');
    c.root.dataset.source = source;
    c.root.dataset.state = state;
    c.meta.textContent = text;
  }

  async function fetchAlerts(s, via, where) {
    const r = await api('/v1/alerts?limit=50', s.ctrl.signal);
    markOk();
    const items = (r.body && Array.isArray(r.body.items)) ? r.body.items : [];
    addAlerts(items, via, where);
  }

  function startAlertPolling(s) {
    if (s.pollingAlerts) return;
    s.pollingAlerts = true;
    s.pollGen = (s.pollGen || 0) + 1;
    const gen = s.pollGen;
    setAlertSource('poll', 'live', 'polling every 2 s');
    (async () => {
      while (!s.dead && s.pollingAlerts && s.pollGen === gen) {
        try {
          await fetchAlerts(s, 'poll', 'top');
        } catch (err) {
          if (s.dead || err.name === 'AbortError' || failed(err)) return;
          setAlertSource('poll', 'error', `polling: ${err.message}`);
        }
        await s.sleep(ALERT_POLL_MS);
      }
    })();
  }

  /** Server-Sent Events over fetch(): parses `event:`/`data:`/`id:`/`retry:` and comments. */
  async function consumeStream(s, body, ctrl) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let data = [];
    let type = '';
    let watchdog = null;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => ctrl.abort(), HEARTBEAT_TIMEOUT_MS);
    };
    const dispatch = () => {
      const kind = type || 'message';
      const payload = data.join('\n');
      const had = data.length > 0;
      data = [];
      type = '';
      if (!had || (kind !== 'alert' && kind !== 'message' && kind !== 'alert_state')) return;
      let alert;
      try { alert = JSON.parse(payload); } catch (_) {
        console.warn('cxpulse: ignored an SSE event that is not JSON');
        return;
      }
      if (kind === 'alert_state') onAlertState(alert);
      else addAlerts([alert], 'stream', 'top');
    };
    const line = (text) => {
      if (text === '') { dispatch(); return; }
      if (text[0] === ':') { card('alerts').root.dataset.lastBeat = new Date().toISOString(); return; }
      const colon = text.indexOf(':');
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? '' : text.slice(colon + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\u0000')) s.lastEventId = value;
      else if (field === 'retry' && /^\d+$/.test(value)) s.retryMs = Number(value);
    };
    arm();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        arm();
        buf += value;
        for (;;) {
          const i = buf.search(/[\r\n]/);
          if (i < 0 || (buf[i] === '\r' && i === buf.length - 1)) break; // maybe \r\n split
          line(buf.slice(0, i));
          buf = buf.slice(i + (buf[i] === '\r' && buf[i + 1] === '\n' ? 2 : 1));
        }
      }
    } finally {
      clearTimeout(watchdog);
      reader.cancel().catch(() => {});
    }
  }

  async function runAlertStream(s) {
    let backoff = 1000;
    let failures = 0;
    while (!s.dead) {
      const ctrl = new AbortController();
      const onStop = () => ctrl.abort();
      s.ctrl.signal.addEventListener('abort', onStop);
      try {
        const headers = authHeaders({ Accept: 'text/event-stream' });
        if (s.lastEventId) headers['Last-Event-ID'] = s.lastEventId;
        const resp = await fetch(STREAM_PATH, { headers, cache: 'no-store', signal: ctrl.signal });
        if (resp.status === 401 || resp.status === 403) { authFailed('API key rejected'); return; }
        if (resp.status === 404 || resp.status === 405) {
          // No stream on this server (yet): poll, and look again now and then.
          startAlertPolling(s);
          await s.sleep(STREAM_REPROBE_MS);
          continue;
        }
        const type = resp.headers.get('content-type') || '';
        if (!resp.ok || !resp.body || !type.startsWith('text/event-stream')) {
          throw new Error(`stream answered HTTP ${resp.status}`);
        }
        s.pollingAlerts = false;
        s.streamConnects += 1;
        backoff = 1000;
        failures = 0;
        setAlertSource('stream', 'live', 'live stream');
        if (s.streamConnects > 1) {
          // A reconnect: Last-Event-ID lets the server resume; a fetch covers a server
          // that cannot.
          fetchAlerts(s, 'poll', 'top').catch(() => {});
        }
        await consumeStream(s, resp.body, ctrl);
      } catch (err) {
        if (s.dead) return;
        failures += 1;
        // The stream keeps failing: poll meanwhile, so alerts still show up.
        if (failures >= 2) startAlertPolling(s);
        if (!s.pollingAlerts) setAlertSource('stream', 'reconnecting', `reconnecting: ${err.message || err}`);
      } finally {
        s.ctrl.signal.removeEventListener('abort', onStop);
      }
      if (s.dead) return;
      if (!s.pollingAlerts && card('alerts').root.dataset.state === 'live') {
        setAlertSource('stream', 'reconnecting', 'reconnecting…');
      }
      await s.sleep(Math.max(s.retryMs || 0, backoff) + Math.random() * 500);
      backoff = Math.min(backoff * 2, 30000);
    }
  }

  function startAlerts(s) {
    runAlertStream(s);
    fetchAlerts(s, 'initial', 'bottom').catch((err) => {
      if (!s.dead && err.name !== 'AbortError' && !failed(err)) markError('alerts', err);
    });
    // A slow safety net while streaming: anything the stream missed still shows up.
    (async () => {
      await s.sleep(SAFETY_POLL_MS);
      while (!s.dead) {
        if (!s.pollingAlerts) await fetchAlerts(s, 'poll', 'top').catch(() => {});
        await s.sleep(SAFETY_POLL_MS);
      }
    })();
  }

  // ---- key handling and start -----------------------------------------------------------

  function resetBoard() {
    agents = [];
    boardAgents = [];
    document.getElementById('board-summary').replaceChildren();
    selectedAgent = '';
    seenAlerts.clear();
    document.getElementById('alert-list').replaceChildren();
    card('alerts').root.querySelector('[data-role="empty"]').hidden = false;
    document.getElementById('agent-select').replaceChildren();
    document.getElementById('as-of').textContent = '—';
    for (const id of ['queues', 'agents-status', 'csat', 'performance', 'agents', 'agent-board', 'risk', 'forecast', 'kb']) {
      show(id, 'loading', placeholder('Loading…'));
    }
    setAlertSource('none', 'loading', '');
  }

  function start() {
    if (session) session.stop();
    resetBoard();
    if (!getKey()) { openKeyPanel(''); return; }
    const s = newSession();
    session = s;
    setConn('pending', 'connecting…');
    every(s, POLL_MS, () => refreshOps(s),
      (e) => ['queues', 'agents-status', 'csat', 'agent-board'].forEach((id) => markError(id, e)));
    every(s, POLL_MS, () => refreshAgents(s), (e) => markError('agents', e));
    every(s, POLL_MS, () => refreshRisk(s), (e) => markError('risk', e));
    every(s, OPTIONAL_POLL_MS, () => refreshForecast(s), (e) => markError('forecast', e));
    every(s, OPTIONAL_POLL_MS, () => refreshKb(s), (e) => markError('kb', e));
    startAlerts(s);
  }

  function authFailed(message) {
    if (session) { session.stop(); session = null; }
    setConn('auth', 'key needed');
    openKeyPanel(getKey() ? `${message}. Enter a valid key.` : '');
  }

  function openKeyPanel(error) {
    const panel = document.getElementById('key-panel');
    const err = document.getElementById('key-error');
    err.textContent = error || '';
    err.hidden = !error;
    const has = Boolean(getKey());
    document.getElementById('key-cancel').hidden = !has || Boolean(error);
    document.getElementById('key-forget').hidden = !has;
    panel.hidden = false;
    const input = document.getElementById('key-input');
    input.value = '';
    input.focus();
  }

  function closeKeyPanel() {
    document.getElementById('key-panel').hidden = true;
  }

  function init() {
    document.getElementById('key-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const key = document.getElementById('key-input').value.trim();
      if (!key) return;
      try { localStorage.setItem(KEY_STORAGE, key); } catch (_) { /* private mode */ }
      closeKeyPanel();
      start();
    });
    document.getElementById('key-cancel').addEventListener('click', closeKeyPanel);
    document.getElementById('key-forget').addEventListener('click', () => {
      try { localStorage.removeItem(KEY_STORAGE); } catch (_) { /* private mode */ }
      if (session) { session.stop(); session = null; }
      setConn('auth', 'key needed');
      resetBoard();
      openKeyPanel('');
    });
    document.getElementById('change-key').addEventListener('click', () => openKeyPanel(''));
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && getKey() && !document.getElementById('key-cancel').hidden) closeKeyPanel();
    });
    document.getElementById('agent-select').addEventListener('change', (ev) => chooseAgent(ev.target.value));
    document.getElementById('board-status').addEventListener('change', drawBoard);
    start();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
