// The activity feed (#/activity) and the activity line shared with the project page.

import { api } from './api.js';
import { h, errorLine, showMessage } from './dom.js';
import { timeAgo } from './format.js';
import { projectHref } from './router.js';
import { errorText } from './toast.js';

/**
 * The event as the line a person reads (the server's `text`, mc/mirror/words.py), with
 * "You" where the signed-in person did it. Old answers without `text` show the summary.
 */
export function inWords(a, viewer = null) {
  const text = a.text || [a.who || a.actor, a.summary || a.action || a.kind].filter(Boolean).join(' ');
  const mine = viewer && a.who === viewer && !['dispatcher', 'executor', 'reviewer'].includes(a.actor);
  if (!mine) return text;
  if (text.startsWith(`${a.who} `)) return `You ${text.slice(a.who.length + 1)}`;
  const by = text.lastIndexOf(` by ${a.who} `); // "… was cancelled by you — …" (the last: a title may say "by")
  return by === -1 ? text : `${text.slice(0, by)} by you ${text.slice(by + a.who.length + 5)}`;
}

/** One event: its time, then its line; a comment of several lines shows them all under it. */
export function activityItem(a, { showProject = true, viewer = null } = {}) {
  const more = a.kind === 'comment' && /\n/.test(a.summary || '') ? a.summary : null;
  return h(
    'li',
    { class: `activity-item activity-${a.kind || 'event'}`, dataset: { activity: a.id, kind: a.kind, action: a.action } },
    timeAgo(a.at),
    h(
      'div',
      { class: 'activity-body' },
      h('span', { class: 'activity-text' }, inWords(a, viewer)),
      showProject && a.project_id && h('a', { class: 'activity-project', href: projectHref(a.project_id) }, a.project_id),
      more && h('p', { class: 'activity-more prose' }, more),
    ),
  );
}

export function mountActivity(root, ctx) {
  const viewer = ctx?.session?.name ?? null;
  const list = h('ol', { class: 'activity-list', 'aria-live': 'polite' });
  const error = errorLine();
  const more = h('button', { type: 'button', class: 'btn', hidden: true, dataset: { action: 'load-more' } }, 'Load more');
  const seen = new Set();
  let next = null;
  let loading = false;

  root.append(
    h('section', { class: 'page page-narrow' }, h('header', { class: 'page-header' }, h('h1', null, 'Activity')), list, error, h('div', { class: 'load-more' }, more)),
  );

  async function load(before) {
    if (loading) return;
    loading = true;
    more.disabled = true;
    try {
      const page = await api.activity({ before, limit: 50 });
      for (const a of page.items) {
        if (seen.has(a.id)) continue;
        seen.add(a.id);
        list.append(activityItem(a, { viewer }));
      }
      next = page.next;
      more.hidden = next == null;
      showMessage(error, '');
      if (!list.firstChild) list.append(h('li', { class: 'muted empty' }, 'Nothing has happened yet.'));
    } catch (err) {
      showMessage(error, errorText(err));
    } finally {
      loading = false;
      more.disabled = false;
    }
  }

  more.addEventListener('click', () => load(next));
  load();

  return {
    onEvent(type, data) {
      if (type === 'activity' && data && data.id != null && !seen.has(data.id)) {
        seen.add(data.id);
        list.querySelector('.empty')?.remove();
        list.prepend(activityItem(data, { viewer }));
      } else if (type === 'reconnect') {
        seen.clear();
        list.replaceChildren();
        load();
      }
    },
  };
}
