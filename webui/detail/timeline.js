// The project page's Timeline: the project's story from git — every commit that touched its
// file or artifacts (what `mc project log` prints: created, queued, dispatched, run finished,
// reviewed, reworked, approved), who made it and when; each step links to the board then.

import { api } from '../api.js';
import { h } from '../dom.js';
import { timeAgo } from '../format.js';
import { hrefFor } from '../router.js';
import { errorText } from '../toast.js';

const ACTION_WORDS = {
  create: 'created',
  queue: 'queued',
  dispatch: 'dispatched',
  complete: 'run finished',
  review: 'reviewed',
  rework: 'reworked',
  approve: 'approved',
  cancel: 'cancelled',
  edit: 'edited',
};

/** The panel's list (el); load() fetches the story again. */
export function createTimelinePanel(page) {
  const list = h('ol', { class: 'timeline' });

  async function load() {
    try {
      const entries = await api.projectHistory(page.id);
      list.replaceChildren(...(entries.length ? entries.map(step) : [h('li', { class: 'muted empty' }, 'No commits yet.')]));
    } catch (err) {
      list.replaceChildren(h('li', { class: 'form-error' }, errorText(err)));
    }
  }

  return { el: list, load };
}

/** One commit: what happened (its Mc-Action in words), its subject, who and when, and a link to the board at it. */
function step(entry) {
  const action = entry.action || '';
  return h(
    'li',
    { class: 'timeline-step', dataset: { action: action || 'commit' } },
    h('span', { class: 'timeline-action' }, ACTION_WORDS[action] || action || 'commit', action && action !== ACTION_WORDS[action] ? h('span', { class: 'muted' }, ` (${action})`) : null),
    h('span', { class: 'timeline-subject' }, entry.subject),
    h('span', { class: 'timeline-meta muted' }, `${entry.role || 'human'} · ${entry.author} · `, timeAgo(entry.at)),
    h('a', { class: 'timeline-at', href: hrefFor('board', null, { at: entry.commit }), title: 'The board at this commit' }, entry.commit.slice(0, 10)),
  );
}
