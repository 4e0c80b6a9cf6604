// Dates, times and durations, shown in the browser's local time.

import { h } from './dom.js';

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const relFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** A "YYYY-MM-DD" is a calendar day, not midnight UTC: parse it as a local date. */
export function parseDate(value) {
  if (!value) return null;
  const m = DATE_ONLY.exec(value);
  if (m) return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function isDateOnly(value) {
  return typeof value === 'string' && DATE_ONLY.test(value);
}

export function localDay(date = new Date()) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

export function fmtDateTime(value) {
  const d = parseDate(value);
  if (!d) return '';
  return isDateOnly(value)
    ? d.toLocaleDateString(undefined, { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric' })
    : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Short form for cards: "May 3", "May 3, 14:00", the year only when it is not this year. */
export function fmtShortDate(value) {
  const d = parseDate(value);
  if (!d) return '';
  const opts = { month: 'short', day: 'numeric' };
  if (d.getFullYear() !== new Date().getFullYear()) opts.year = 'numeric';
  if (!isDateOnly(value)) Object.assign(opts, { hour: '2-digit', minute: '2-digit' });
  return d.toLocaleString(undefined, opts);
}

export function relTime(value, now = Date.now()) {
  const d = parseDate(value);
  if (!d) return '';
  const seconds = (d.getTime() - now) / 1000;
  const abs = Math.abs(seconds);
  if (abs < 45) return 'just now';
  const units = [
    ['minute', 60, 45 * 60],
    ['hour', 3600, 22 * 3600],
    ['day', 86400, 26 * 86400],
    ['month', 30 * 86400, 320 * 86400],
    ['year', 365 * 86400, Infinity],
  ];
  for (const [unit, size, below] of units) {
    if (abs < below) return relFormat.format(Math.round(seconds / size), unit);
  }
  return '';
}

/** "4s", "3m 12s", "1h 04m". */
export function fmtElapsed(seconds) {
  if (seconds == null || Number.isNaN(seconds)) return '—';
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  const hours = Math.floor(s / 3600);
  if (hours < 48) return `${hours}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

export function fmtHours(hours) {
  if (hours == null) return '—';
  if (hours < 1) return `${Math.round(hours * 60)} min`;
  if (hours < 48) return `${hours.toFixed(1)} h`;
  return `${(hours / 24).toFixed(1)} d`;
}

export function fmtBytes(n) {
  if (n == null) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** A <time> that keeps its relative text fresh (see startClock). */
export function timeAgo(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: iso, title: fmtDateTime(iso), dataset: { rel: iso } }, relTime(iso));
}

/** A running timer: the element's text is the time elapsed since `iso`. */
export function elapsedSince(iso) {
  const start = parseDate(iso);
  const text = start ? fmtElapsed((Date.now() - start.getTime()) / 1000) : '';
  return h('span', { class: 'elapsed', dataset: { since: iso }, title: `since ${fmtDateTime(iso)}` }, text);
}

/** One timer for the whole page: elapsed counters every second, relative times every 20 s. */
export function startClock() {
  let tick = 0;
  setInterval(() => {
    const now = Date.now();
    for (const el of document.querySelectorAll('[data-since]')) {
      const start = parseDate(el.dataset.since);
      if (start) el.textContent = fmtElapsed((now - start.getTime()) / 1000);
    }
    if (++tick % 20 === 0) {
      for (const el of document.querySelectorAll('[data-rel]')) el.textContent = relTime(el.dataset.rel, now);
    }
  }, 1000);
}
