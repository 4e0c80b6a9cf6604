// The project page's Activity panel: what happened to the project, comments included, and a comment form.

import { api } from '../api.js';
import { h } from '../dom.js';
import { activityItem } from '../activity.js';
import { errorText } from '../toast.js';

/** The panel's contents (els); load() fetches the activity again. */
export function createActivityPanel(page) {
  const list = h('ol', { class: 'activity-list' });

  async function load() {
    try {
      // Comments are activity entries too (kind "comment"), so one list tells it all.
      const { activity } = await api.projectActivity(page.id);
      const items = activity.slice().sort((a, b) => b.id - a.id);
      list.replaceChildren(
        ...(items.length ? items.map((a) => activityItem(a, { showProject: false, viewer: page.ctx.session?.name })) : [h('li', { class: 'muted empty' }, 'No activity.')]),
      );
    } catch (err) {
      list.replaceChildren(h('li', { class: 'form-error' }, errorText(err)));
    }
  }

  return { els: [list, page.canWrite && commentForm(page.id, load)], load };
}

/** Adds a comment to project `id`; onAdded() once the server has it. */
function commentForm(id, onAdded) {
  const text = h('textarea', { name: 'comment', rows: 2, placeholder: 'Add a comment…', 'aria-label': 'Comment' });
  const status = h('p', { class: 'form-error', role: 'alert' });
  const form = h('form', { class: 'comment-form' }, text, h('button', { type: 'submit', class: 'btn', 'data-action': 'comment' }, 'Comment'), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!text.value.trim()) return;
    status.textContent = '';
    try {
      await api.addComment(id, text.value);
      text.value = '';
      onAdded();
    } catch (err) {
      status.textContent = errorText(err);
    }
  });
  return form;
}
