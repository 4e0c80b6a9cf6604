// The project page's Tasks panel: its tasks, "Link an existing task", and a new-task form.

import { api } from '../api.js';
import { h, errorLine, showMessage } from '../dom.js';
import { newTaskForm } from '../tasks.js';
import { taskRow, replaceTaskRows } from '../taskrow.js';
import { errorText } from '../toast.js';

/** The panel's contents (els); load() fetches the tasks again. */
export function createTasksPanel(page) {
  const list = h('ul', { class: 'task-list' });
  const link = page.canWrite && linkTaskForm(page, () => load());

  async function load() {
    try {
      const tasks = await api.tasks({ project: page.id, all: true });
      replaceTaskRows(
        list,
        tasks.length
          ? tasks.map((t) => taskRow(t, { canWrite: page.canWrite, showProject: false, onChange: () => load() }))
          : [h('li', { class: 'muted empty' }, 'No tasks linked.')],
      );
    } catch (err) {
      list.replaceChildren(h('li', { class: 'form-error' }, errorText(err)));
    }
    link?.load();
  }

  return { els: [list, link?.form, page.canWrite && newTaskForm({ projectId: page.id, onCreated: () => load() })], load };
}

/** "Link an existing task": a select of the open tasks no project has yet. onLinked() after a try. */
function linkTaskForm(page, onLinked) {
  let candidates = new Map();
  const selectId = `link-task-${page.id}`;
  const select = h('select', { name: 'task', id: selectId });
  const submit = h('button', { type: 'submit', class: 'btn btn-small', dataset: { action: 'link-task' } }, 'Link');
  const status = errorLine();
  const form = h(
    'form',
    { class: 'task-link-existing', 'aria-label': 'Link an existing task' },
    h('label', { class: 'field-label', for: selectId }, 'Link an existing task'),
    h('div', { class: 'task-link-row' }, select, submit),
    status,
  );

  async function load() {
    let open;
    try {
      open = (await api.tasks()).filter((t) => !t.project_id && !t.done_at);
    } catch (err) {
      showMessage(status, errorText(err));
      return;
    }
    candidates = new Map(open.map((t) => [String(t.id), t]));
    showCandidates(select, open);
    select.disabled = submit.disabled = !open.length;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const task = candidates.get(select.value);
    if (!task) {
      select.focus();
      return;
    }
    showMessage(status, '');
    submit.disabled = true;
    try {
      await api.patchTask(task.id, task.etag, { project: page.id });
      select.value = '';
    } catch (err) {
      showMessage(status, err.status === 412 ? `${errorText(err)} — the list has been reloaded; try again.` : errorText(err));
    } finally {
      submit.disabled = false;
    }
    onLinked();
  });
  return { form, load };
}

/** The select's options, keeping the choice the person had made. */
function showCandidates(select, open) {
  const chosen = select.value;
  select.replaceChildren(
    ...(open.length
      ? [h('option', { value: '' }, 'Choose a task…'), ...open.map((t) => h('option', { value: String(t.id), selected: String(t.id) === chosen }, t.title))]
      : [h('option', { value: '' }, 'No open unlinked tasks')]),
  );
}
