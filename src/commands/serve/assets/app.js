// mqtt-scan serve's dashboard: the table from /api/clients, kept live by /api/events
// (Server-Sent Events), availability from /api/availability. Only the rows in view are in
// the DOM (a fixed row height, a spacer for the scroll height), so 100,000 clients cost a
// screenful of elements. Every text from the network goes in with textContent.
'use strict';

const COLUMNS = [
  { key: 'name', label: 'name', cls: 'mono' },
  { key: 'state', label: 'state' },
  { key: 'detail', label: 'detail', cls: 'mono' },
  { key: 'since', label: 'since', cls: 'time' },
  { key: 'for', label: 'for', cls: 'num' },
  { key: 'ip', label: 'IP', cls: 'mono' },
  { key: 'topic', label: 'topic', cls: 'mono' },
  { key: 'a24', label: '24 h', cls: 'num', title: 'share of the watched time online, last 24 hours' },
  { key: 'a7', label: '7 d', cls: 'num', title: 'share of the watched time online, last 7 days' },
];
const STATE_ORDER = { offline: 0, unknown: 1, online: 2 };
const OVERSCAN = 10;
// Re-sorting 100,000 rows on every change would be the whole CPU: at most this often.
const RESORT_MS = 250;
// The document is fetched again after changes (details, IPs, exact since), at most this
// often, more rarely for large tables.
const REFRESH_MS = 5000;

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'variant' });
const clients = new Map();
let availability = new Map();
let view = [];
let sortKey = 'name';
let sortDesc = false;
let viewDirty = true;
let lastSort = 0;
let frame = 0;
let refreshTimer = 0;
let lastRefresh = 0;
let linkState = { up: false, text: 'connecting' };
const changedAt = new Map();

const $ = (id) => document.getElementById(id);
const rowHeight = () => parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--row')) || 28;

function text(el, value) {
  el.textContent = value == null ? '' : String(value);
  return el;
}

function detailOf(c) {
  if (c.detail == null) return '';
  return typeof c.detail === 'string' ? c.detail : JSON.stringify(c.detail);
}

function sinceText(iso) {
  if (!iso) return null;
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function forText(iso, now) {
  if (!iso) return null;
  let s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

function percent(v) {
  return typeof v === 'number' ? `${(v * 100).toFixed(v === 1 ? 0 : 1)}%` : null;
}

function cell(c, key, now) {
  switch (key) {
    case 'name': return c.name;
    case 'state': return c.state;
    case 'detail': return detailOf(c);
    case 'since': return sinceText(c.since) ?? (c.retained ? 'retained' : null);
    case 'for': return forText(c.since, now);
    case 'ip': return c.ip;
    case 'topic': return c.topic;
    case 'a24': return percent(availability.get(c.name)?.['24h']);
    case 'a7': return percent(availability.get(c.name)?.['7d']);
    default: return null;
  }
}

function compare(a, b) {
  let r = 0;
  switch (sortKey) {
    case 'state': r = STATE_ORDER[a.state] - STATE_ORDER[b.state]; break;
    case 'since': case 'for': {
      const x = a.since ? Date.parse(a.since) : null;
      const y = b.since ? Date.parse(b.since) : null;
      if (x !== y) r = x == null ? 1 : y == null ? -1 : (sortKey === 'since' ? x - y : y - x);
      break;
    }
    case 'a24': case 'a7': {
      const w = sortKey === 'a24' ? '24h' : '7d';
      const x = availability.get(a.name)?.[w];
      const y = availability.get(b.name)?.[w];
      if (x !== y) r = x == null ? 1 : y == null ? -1 : x - y;
      break;
    }
    case 'name': r = collator.compare(a.name, b.name); break;
    default: r = collator.compare(String(cell(a, sortKey, 0) ?? ''), String(cell(b, sortKey, 0) ?? ''));
  }
  if (sortDesc) r = -r;
  return r || collator.compare(a.name, b.name);
}

function matches(c, needle, state) {
  if (state && c.state !== state) return false;
  if (!needle) return true;
  return [c.name, c.topic, c.ip, detailOf(c)].some((v) => v && String(v).toLowerCase().includes(needle));
}

function rebuildView() {
  const needle = $('filter').value.trim().toLowerCase();
  const state = $('state').value;
  view = [];
  for (const c of clients.values()) if (matches(c, needle, state)) view.push(c);
  view.sort(compare);
  viewDirty = false;
  lastSort = performance.now();
  $('spacer').style.height = `${view.length * rowHeight()}px`;
  text($('shown'), view.length === clients.size ? `${view.length} clients` : `${view.length} of ${clients.size} shown`);
}

function counts() {
  const n = { online: 0, offline: 0, unknown: 0 };
  for (const c of clients.values()) n[c.state] = (n[c.state] || 0) + 1;
  const el = $('counts');
  el.replaceChildren();
  for (const [label, value] of [['total', clients.size], ['online', n.online], ['offline', n.offline], ['unknown', n.unknown]]) {
    el.append(`${label} `, text(document.createElement('b'), value), '  ');
  }
}

function drawRows() {
  const vp = $('viewport');
  const h = rowHeight();
  const first = Math.max(0, Math.floor(vp.scrollTop / h) - OVERSCAN);
  const last = Math.min(view.length, Math.ceil((vp.scrollTop + vp.clientHeight) / h) + OVERSCAN);
  const rows = $('rows');
  rows.style.transform = `translateY(${first * h}px)`;
  const now = Date.now();
  const out = [];
  for (let i = first; i < last; i++) {
    const c = view[i];
    const row = document.createElement('div');
    row.className = 'row';
    row.setAttribute('role', 'row');
    row.dataset.name = c.name;
    const t = changedAt.get(c.name);
    if (t && now - t < 2000) row.classList.add('changed');
    for (const col of COLUMNS) {
      const v = cell(c, col.key, now);
      const span = text(document.createElement('span'), v ?? '—');
      span.setAttribute('role', 'cell');
      span.dataset.col = col.key;
      if (col.cls) span.classList.add(col.cls);
      if (col.key === 'state') span.classList.add(`st-${c.state}`);
      if (v == null) span.classList.add('none');
      if (col.key === 'name' || col.key === 'topic' || col.key === 'detail') span.title = v ?? '';
      row.append(span);
    }
    out.push(row);
  }
  rows.replaceChildren(...out);
}

function schedule() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    if (viewDirty) {
      const wait = RESORT_MS - (performance.now() - lastSort);
      if (wait > 0 && clients.size > 5000) {
        setTimeout(schedule, wait);
      } else {
        rebuildView();
        counts();
      }
    }
    drawRows();
  });
}

function drawHead() {
  const head = $('head');
  head.replaceChildren();
  for (const col of COLUMNS) {
    const span = text(document.createElement('span'), col.label);
    span.setAttribute('role', 'columnheader');
    span.dataset.key = col.key;
    if (col.title) span.title = col.title;
    if (col.key === sortKey) span.classList.add('sorted');
    if (col.key === sortKey && sortDesc) span.classList.add('desc');
    span.addEventListener('click', () => {
      if (sortKey === col.key) sortDesc = !sortDesc; else { sortKey = col.key; sortDesc = false; }
      drawHead();
      viewDirty = true;
      lastSort = 0;
      schedule();
    });
    head.append(span);
  }
}

function setLink(up, reason) {
  linkState = { up, text: up ? 'connected' : reason };
  const el = $('link');
  el.className = `link ${up ? 'up' : 'down'}`;
  text(el, linkState.text);
  el.title = linkState.text;
}

async function loadClients() {
  lastRefresh = Date.now();
  const r = await fetch('/api/clients', { cache: 'no-store' });
  if (!r.ok) throw new Error(`/api/clients: ${r.status}`);
  const doc = await r.json();
  text($('broker'), doc.broker);
  clients.clear();
  for (const c of doc.clients) clients.set(c.name, c);
  viewDirty = true;
  lastSort = 0;
  schedule();
}

function refreshSoon() {
  if (refreshTimer) return;
  const every = clients.size > 20000 ? REFRESH_MS * 6 : REFRESH_MS;
  const wait = Math.max(0, every - (Date.now() - lastRefresh));
  refreshTimer = setTimeout(() => {
    refreshTimer = 0;
    loadClients().catch(() => {});
  }, wait);
}

function onLine(line) {
  let m;
  try { m = JSON.parse(line); } catch { return; }
  if (m.event === 'broker') {
    setLink(m.state === 'connected', `disconnected: ${m.reason ?? ''}`);
    return;
  }
  if (typeof m.name !== 'string') return;
  if (m.to == null) {
    clients.delete(m.name);
  } else {
    const known = clients.get(m.name);
    const c = known ?? { name: m.name, source: '' };
    // A status seen arriving: since is its time (the document refines it: a payload's own
    // timestamp); one from the retained store says nothing about when.
    if (!known) {
      c.since = m.retained ? null : m.time;
    } else if (m.from != null && known.state !== m.to) {
      c.since = m.retained ? null : m.time;
      changedAt.set(m.name, Date.now());
    }
    c.state = m.to;
    c.topic = m.topic;
    c.payload = m.payload;
    c.retained = m.retained;
    if (typeof m.payload === 'string') c.detail = m.payload.trim().slice(0, 64);
    clients.set(m.name, c);
  }
  viewDirty = true;
  refreshSoon();
  schedule();
}

function openEvents() {
  const es = new EventSource('/api/events');
  es.onmessage = (e) => onLine(e.data);
  es.addEventListener('lagged', () => refreshSoon());
  es.onerror = () => {
    // EventSource reconnects by itself; the table is read again once it is back.
    setLink(false, 'dashboard lost serve');
  };
  es.onopen = () => { pollReady(); refreshSoon(); };
}

async function pollReady() {
  try {
    const r = await fetch('/readyz', { cache: 'no-store' });
    const j = await r.json();
    setLink(j.ready, j.reason);
  } catch {
    setLink(false, 'serve is not answering');
  }
}

async function loadAvailability() {
  try {
    const r = await fetch('/api/availability', { cache: 'no-store' });
    if (!r.ok) { availability = new Map(); return; }
    const doc = await r.json();
    availability = new Map(Object.entries(doc.clients));
    if (sortKey === 'a24' || sortKey === 'a7') viewDirty = true;
    schedule();
  } catch { /* shown as — */ }
}

function start() {
  drawHead();
  $('viewport').addEventListener('scroll', schedule, { passive: true });
  window.addEventListener('resize', schedule);
  $('filter').addEventListener('input', () => { viewDirty = true; lastSort = 0; schedule(); });
  $('state').addEventListener('change', () => { viewDirty = true; lastSort = 0; schedule(); });
  // The dashboard's own marker: a reload would lose it (the browser test looks).
  window.mqttScanLoadedAt = Date.now();
  loadClients().catch((e) => setLink(false, String(e))).finally(openEvents);
  pollReady();
  setInterval(pollReady, 5000);
  loadAvailability();
  setInterval(loadAvailability, 60000);
  // "for" ticks.
  setInterval(schedule, 1000);
}

document.addEventListener('DOMContentLoaded', start);
