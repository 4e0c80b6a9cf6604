// Month grid of due tasks and projects (#/calendar?month=YYYY-MM).

import { api } from './api.js';
import { h, coalesce, errorLine, showMessage } from './dom.js';
import { localDay } from './format.js';
import { hrefFor, projectHref } from './router.js';
import { errorText } from './toast.js';

const MONTH = /^(\d{4})-(\d{2})$/;

function parseMonth(value) {
  const m = MONTH.exec(value || '');
  const now = new Date();
  return m ? { year: Number(m[1]), month: Number(m[2]) - 1 } : { year: now.getFullYear(), month: now.getMonth() };
}

function monthKey(year, month) {
  const d = new Date(year, month, 1);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

// Monday first; names in the browser's language.
const WEEKDAYS = Array.from({ length: 7 }, (_, i) => new Date(2024, 0, 1 + i).toLocaleDateString(undefined, { weekday: 'short' }));

function calendarItem(item) {
  const cls = `cal-item cal-${item.type}${item.overdue && !item.done ? ' overdue' : ''}${item.done ? ' is-done' : ''}`;
  const label = item.type === 'project' ? item.title : `☐ ${item.title}`;
  return item.type === 'project'
    ? h('a', { class: cls, href: projectHref(item.id), title: `Project ${item.id}: ${item.title}` }, label)
    : h('a', { class: cls, href: hrefFor('tasks'), title: `Task: ${item.title}` }, item.done ? `☑ ${item.title}` : label);
}

export function mountCalendar(root, ctx, route) {
  const { year, month } = parseMonth(route.params.get('month'));
  const key = monthKey(year, month);
  const title = new Date(year, month, 1).toLocaleDateString(undefined, { month: 'long', year: 'numeric' });
  const grid = h('div', { class: 'cal-grid', role: 'grid', 'aria-label': title });
  const error = errorLine();
  const nav = (m, label, action) => h('a', { class: 'btn', href: hrefFor('calendar', null, { month: monthKey(year, m) }), dataset: { action } }, label);

  root.append(
    h(
      'section',
      { class: 'page' },
      h(
        'header',
        { class: 'page-header' },
        h('h1', { class: 'cal-title' }, title),
        h('div', { class: 'toolbar' }, nav(month - 1, '← Previous', 'prev-month'), h('a', { class: 'btn', href: hrefFor('calendar') }, 'Today'), nav(month + 1, 'Next →', 'next-month')),
      ),
      error,
      grid,
    ),
  );

  function render(days) {
    const first = new Date(year, month, 1);
    const offset = (first.getDay() + 6) % 7; // Monday = 0
    const daysInMonth = new Date(year, month + 1, 0).getDate();
    const cells = Math.ceil((offset + daysInMonth) / 7) * 7;
    const today = localDay();
    const rows = [h('div', { class: 'cal-row cal-head', role: 'row' }, WEEKDAYS.map((d) => h('div', { class: 'cal-weekday', role: 'columnheader' }, d)))];
    let row = null;
    for (let i = 0; i < cells; i++) {
      if (i % 7 === 0) {
        row = h('div', { class: 'cal-row', role: 'row' });
        rows.push(row);
      }
      const date = new Date(year, month, 1 - offset + i);
      const day = localDay(date);
      const inMonth = date.getMonth() === month;
      const items = inMonth ? days[day] || [] : [];
      row.append(
        h(
          'div',
          { class: `cal-day${inMonth ? '' : ' other-month'}${day === today ? ' today' : ''}`, role: 'gridcell', dataset: { day } },
          h('span', { class: 'cal-date' }, String(date.getDate())),
          items.length > 0 && h('div', { class: 'cal-items' }, items.map(calendarItem)),
        ),
      );
    }
    grid.replaceChildren(...rows);
  }

  async function load() {
    try {
      const data = await api.calendar(key);
      render(data.days || {});
      showMessage(error, '');
    } catch (err) {
      showMessage(error, errorText(err));
    }
  }

  render({});
  load();
  const reload = coalesce(load, 300);
  return {
    onBoard: reload,
    onEvent: (type) => (type === 'activity' || type === 'reconnect') && reload(),
    unmount: () => reload.cancel(),
  };
}
