// Flow and job metrics, with two hand-drawn SVG charts.

import { api } from './api.js';
import { h, s, coalesce, panel } from './dom.js';
import { LANES, laneLabel } from './badges.js';
import { fmtHours, fmtElapsed, fmtShortDate } from './format.js';
import { errorText } from './toast.js';

const W = 720;
const H = 220;
const M = { top: 10, right: 10, bottom: 26, left: 36 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

function niceMax(value) {
  if (value <= 4) return Math.max(1, Math.ceil(value));
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

function axes(max, days, xAt) {
  const yAt = (v) => M.top + PH - (v / max) * PH;
  const ticks = [0, max / 2, max];
  const labelIdx = [...new Set([0, Math.floor((days.length - 1) / 2), days.length - 1])];
  return [
    ticks.map((t) =>
      s('g', { class: 'chart-grid' },
        s('line', { x1: M.left, x2: W - M.right, y1: yAt(t), y2: yAt(t) }),
        s('text', { x: M.left - 6, y: yAt(t) + 4, 'text-anchor': 'end' }, Number.isInteger(t) ? String(t) : t.toFixed(1)),
      ),
    ),
    labelIdx.map((i) => s('text', { class: 'chart-xlabel', x: xAt(i), y: H - 8, 'text-anchor': i === 0 ? 'start' : i === days.length - 1 ? 'end' : 'middle' }, fmtShortDate(days[i]))),
  ];
}

function chart(label, ...children) {
  return s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label }, s('title', null, label), ...children);
}

/** Stacked areas, done at the bottom, so each band's thickness is the lane's size that day. */
export function cumulativeFlowChart(cfd) {
  if (cfd.length < 2) return h('p', { class: 'muted' }, 'Not enough history yet.');
  const order = [...LANES].reverse();
  const totals = cfd.map((d) => LANES.reduce((sum, l) => sum + (d[l] || 0), 0));
  const max = niceMax(Math.max(...totals, 1));
  const xAt = (i) => M.left + (i / (cfd.length - 1)) * PW;
  const yAt = (v) => M.top + PH - (v / max) * PH;
  const below = cfd.map(() => 0);
  const bands = order.map((lane) => {
    const lower = [...below];
    cfd.forEach((d, i) => (below[i] += d[lane] || 0));
    const top = below.map((v, i) => `${xAt(i)},${yAt(v)}`);
    const bottom = lower.map((v, i) => `${xAt(i)},${yAt(v)}`).reverse();
    return s('polygon', { class: `cfd-band lane-fill-${lane}`, points: [...top, ...bottom].join(' ') }, s('title', null, laneLabel(lane)));
  });
  return chart(`Cumulative flow, last ${cfd.length} days`, axes(max, cfd.map((d) => d.day), xAt), bands);
}

export function throughputChart(throughput) {
  if (!throughput.length) return h('p', { class: 'muted' }, 'No data yet.');
  const max = niceMax(Math.max(...throughput.map((d) => d.done), 1));
  const slot = PW / throughput.length;
  const xAt = (i) => M.left + slot * (i + 0.5);
  const bars = throughput.map((d, i) => {
    const height = (d.done / max) * PH;
    return s(
      'rect',
      { class: 'bar', x: M.left + slot * i + slot * 0.15, y: M.top + PH - height, width: slot * 0.7, height: Math.max(height, d.done ? 1 : 0) },
      s('title', null, `${fmtShortDate(d.day)}: ${d.done} done`),
    );
  });
  return chart(`Projects done per day, last ${throughput.length} days`, axes(max, throughput.map((d) => d.day), xAt), bars);
}

function stat(label, value, hint) {
  return h('div', { class: 'stat' }, h('div', { class: 'stat-value' }, value), h('div', { class: 'stat-label' }, label), hint && h('div', { class: 'stat-hint muted' }, hint));
}

function legend() {
  return h('ul', { class: 'legend' }, LANES.map((l) => h('li', null, h('span', { class: `swatch lane-bg-${l}` }), laneLabel(l))));
}

export function mountMetrics(root) {
  const body = h('div', { class: 'metrics' }, h('p', { class: 'muted' }, 'Loading…'));
  root.append(h('section', { class: 'page' }, h('header', { class: 'page-header' }, h('h1', null, 'Metrics')), body));

  function render(m) {
    const seconds = (v) => (v == null ? '—' : v < 10 ? `${v.toFixed(1)} s` : fmtElapsed(v));
    const jobs = m.jobs || {};
    body.replaceChildren(
      h('div', { class: 'stats' }, LANES.map((l) => stat(laneLabel(l), String(m.lanes?.[l] ?? 0)))),
      h(
        'div',
        { class: 'chart-row' },
        panel('Cumulative flow', cumulativeFlowChart(m.cfd || []), legend()),
        panel('Throughput', throughputChart(m.throughput || [])),
      ),
      h(
        'div',
        { class: 'stats' },
        stat('Lead time p50', fmtHours(m.lead_time_hours?.p50), 'backlog → done'),
        stat('Lead time p90', fmtHours(m.lead_time_hours?.p90)),
        stat('Agent run p50', seconds(m.agent_run_seconds?.p50)),
        stat('Agent run p90', seconds(m.agent_run_seconds?.p90)),
        stat('Sync lag', seconds(m.sync_lag_seconds), 'commit → database'),
      ),
      h('h2', { class: 'section-title' }, 'Time in lane (median)'),
      h('div', { class: 'stats' }, LANES.filter((l) => l !== 'done').map((l) => stat(laneLabel(l), fmtHours(m.cycle_time_hours?.[l])))),
      h('h2', { class: 'section-title' }, 'Jobs'),
      h('div', { class: 'stats' }, ['running', 'queued', 'succeeded', 'failed', 'retried', 'dead', 'cancelled'].map((k) => stat(k, String(jobs[k] ?? 0)))),
      spendSection(m.spend),
    );
  }

  /** What agents cost, as their CLIs reported it: per day, per archetype, per model. */
  function spendSection(spend) {
    if (!spend) return null;
    const usd = (v) => `$${Number(v || 0).toFixed(2)}`;
    const table = (title, rows) =>
      h(
        'table',
        { class: 'spend-table', dataset: { spend: title.toLowerCase() } },
        h('thead', null, h('tr', null, h('th', null, title), h('th', null, 'Jobs'), h('th', null, 'Tokens in'), h('th', null, 'Tokens out'), h('th', null, 'Cost'))),
        h('tbody', null, rows.map((r) => h('tr', null, h('td', null, r.name), h('td', null, String(r.jobs)), h('td', null, r.input_tokens.toLocaleString()), h('td', null, r.output_tokens.toLocaleString()), h('td', null, usd(r.usd))))),
      );
    const today = spend.by_day?.[spend.by_day.length - 1]?.usd;
    return h(
      'section',
      { class: 'spend' },
      h('h2', { class: 'section-title' }, 'Agent spend'),
      h('div', { class: 'stats' }, stat('Today', usd(today)), stat('Last 30 days', usd(spend.total_usd))),
      h('div', { class: 'chart-row' }, table('Archetype', spend.by_archetype || []), table('Model', spend.by_model || [])),
    );
  }

  async function load() {
    try {
      render(await api.metrics());
    } catch (err) {
      body.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, errorText(err)));
    }
  }

  load();
  const reload = coalesce(load, 2000);
  return { onBoard: reload, onEvent: (type) => type === 'reconnect' && reload(), unmount: () => reload.cancel() };
}
