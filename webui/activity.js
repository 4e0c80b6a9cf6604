// The activity feed (#/activity) and the activity line shared with the project page.

import { api } from './api.js';
import { h, errorLine, showMessage } from './dom.js';
import { timeAgo } from './format.js';
import { laneBadge } from './badges.js';
import { projectHref } from './router.js';
import { errorText } from './toast.js';

export function activityItem(a, { showProject = true } = {}) {
  const who = a.who || a.actor;
  return h(
    'li',
    { class: `activity-item activity-${a.kind || 'event'}`, dataset: { activity: a.id } },
    timeAgo(a.at),
    h(
      'div',
      { class: 'activity-body' },
      showProject && a.project_id && h('a', { class: 'activity-project', href: projectHref(a.project_id) }, a.project_id),
      who && h('span', { class: 'activity-who', title: a.actor && a.actor !== who ? a.actor : null }, who),
      a.from_lane && a.to_lane && h('span', { class: 'activity-move' }, laneBadge(a.from_lane), ' → ', laneBadge(a.to_lane)),
      h('span', { class: 'activity-summary' }, a.summary || a.action || a.kind || ''),
    ),
  );
}

export function mountActivity(root) {
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
        list.append(activityItem(a));
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
        list.prepend(activityItem(data));
      } else if (type === 'reconnect') {
        seen.clear();
        list.replaceChildren();
        load();
      }
    },
  };
}
