// Tasks: the list view (#/tasks), and the row and form the project page reuses.

import { api } from './api.js';
import { h, fill, options, coalesce, errorLine, showMessage } from './dom.js';
import { fmtShortDate, fmtDateTime } from './format.js';
import { priorityBadge, priorityOptions } from './badges.js';
import { boardCards } from './boarddata.js';
import { projectHref, replaceParams } from './router.js';
import { showToast, errorText } from './toast.js';

/** Marks a task done or not; answers the updated task, or null after a failure (already reported). */
async function setDone(task, done) {
  try {
    return await api.patchTask(task.id, task.etag, { done });
  } catch (err) {
    const stale = err.status === 412 ? ' Someone else changed this task; the list has been reloaded.' : '';
    showToast(`Could not update “${task.title}”: ${errorText(err)}${stale}`, { kind: 'error' });
    return null;
  }
}

const DELETE_ARM_MS = 4000;

function btn(action, label, attrs = {}) {
  return h('button', { type: 'button', class: 'btn btn-small btn-ghost', dataset: { action }, ...attrs }, label);
}

/**
 * One task as a list row. For people who may write (canWrite) it has Edit (an
 * in-row form), Unlink, a Link-to-project form (when `linkable`; `projectListId`
 * names a <datalist> of project ids) and a two-step Delete. Failures show in the
 * row (role="alert"); onChange(task | null) runs after every change that worked.
 */
export function taskRow(task, { canWrite, showProject = true, onChange, linkable = false, projectListId = null }) {
  let current = task;
  let base = null; // the task as it was when the edit form opened: only what the person changed is sent
  let disarmTimer = null;
  const li = h('li', { dataset: { task: task.id } });
  const error = errorLine('task-error');

  const showError = (message) => showMessage(error, message);
  const setBusy = (busy) => {
    for (const c of li.querySelectorAll('button, input, select, textarea')) c.disabled = busy || (c.classList.contains('task-done') && !canWrite);
  };
  const focusAction = (action) => li.querySelector(`[data-action="${action}"]`)?.focus();

  /** Shows why a request failed; after a 412 takes the server's version of the task. */
  async function failed(err) {
    if (err.status !== 412) {
      showError(errorText(err));
      return;
    }
    try {
      current = await api.task(current.id);
    } catch (again) {
      showError(errorText(again));
      return;
    }
    if (base) {
      // Keep what the person typed; saving again overwrites the other change.
      showError('Someone else changed this task since you opened it. Save again to apply your changes on top of theirs, or Cancel to see their version.');
    } else {
      render();
      showError('Someone else changed this task; it has been reloaded. Check it and try again.');
    }
  }

  async function patch(fields) {
    setBusy(true);
    try {
      current = await api.patchTask(current.id, current.etag, fields);
    } catch (err) {
      setBusy(false);
      await failed(err);
      return false;
    }
    base = null;
    showError('');
    render();
    onChange?.(current);
    return true;
  }

  function openEditor() {
    base = current;
    showError('');
    render();
    li.querySelector('input[name="title"]')?.focus();
  }

  function closeEditor() {
    base = null;
    showError('');
    render();
    focusAction('edit-task');
  }

  function editForm() {
    const t = current;
    const form = h(
      'form',
      { class: 'task-edit-form', 'aria-label': `Edit task: ${t.title}` },
      h('input', { name: 'title', type: 'text', required: true, value: t.title, 'aria-label': 'Title', autocomplete: 'off' }),
      h('input', { name: 'due', type: 'text', value: t.due || '', placeholder: 'Due: 2025-06-01 or “tomorrow”', 'aria-label': 'Due', autocomplete: 'off' }),
      h('select', { name: 'priority', 'aria-label': 'Priority' }, priorityOptions('No priority', t.priority ?? '')),
      h('textarea', { name: 'notes', rows: 2, value: t.notes || '', placeholder: 'Notes', 'aria-label': 'Notes' }),
      h(
        'div',
        { class: 'task-edit-actions' },
        h('button', { type: 'submit', class: 'btn btn-small btn-primary', dataset: { action: 'save-task' } }, 'Save'),
        h('button', { type: 'button', class: 'btn btn-small', dataset: { action: 'cancel-edit' }, onclick: closeEditor }, 'Cancel'),
      ),
    );
    form.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        closeEditor();
      }
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const f = form.elements;
      const fields = {};
      const title = f.title.value.trim();
      if (!title) {
        f.title.focus();
        return;
      }
      if (title !== base.title) fields.title = title;
      const due = f.due.value.trim();
      if (due !== (base.due || '')) fields.due = due || null;
      const priority = f.priority.value ? Number(f.priority.value) : null;
      if (priority !== (base.priority ?? null)) fields.priority = priority;
      const notes = f.notes.value.trim();
      if (notes !== (base.notes || '').trim()) fields.notes = notes;
      if (!Object.keys(fields).length) {
        closeEditor();
        return;
      }
      if (await patch(fields)) focusAction('edit-task');
    });
    return form;
  }

  function linkForm() {
    const input = h('input', {
      name: 'project',
      type: 'text',
      class: 'task-link-input',
      placeholder: 'Link to project…',
      'aria-label': `Link “${current.title}” to project`,
      autocomplete: 'off',
      list: projectListId,
      required: true,
    });
    const form = h('form', { class: 'task-link-form' }, input, h('button', { type: 'submit', class: 'btn btn-small', dataset: { action: 'link-task' } }, 'Link'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const project = input.value.trim();
      if (project) patch({ project });
    });
    return form;
  }

  function deleteButton() {
    const label = `Delete “${current.title}”`;
    const button = btn('delete-task', 'Delete', { class: 'btn btn-small btn-ghost task-delete', 'aria-label': label });
    const disarm = () => {
      clearTimeout(disarmTimer);
      disarmTimer = null;
      button.classList.remove('is-armed');
      li.classList.remove('is-armed');
      button.textContent = 'Delete';
      button.setAttribute('aria-label', label);
    };
    button.addEventListener('click', async (e) => {
      if (e.detail > 1) return; // the second click of a double-click is not a confirmation
      if (!button.classList.contains('is-armed')) {
        button.classList.add('is-armed');
        li.classList.add('is-armed');
        button.textContent = 'Really delete?';
        button.setAttribute('aria-label', `Really delete “${current.title}”?`);
        disarmTimer = setTimeout(disarm, DELETE_ARM_MS);
        return;
      }
      disarm();
      setBusy(true);
      try {
        await api.deleteTask(current.id, current.etag);
      } catch (err) {
        setBusy(false);
        await failed(err);
        return;
      }
      li.remove();
      onChange?.(null);
    });
    return button;
  }

  function render() {
    clearTimeout(disarmTimer);
    disarmTimer = null;
    const t = current;
    const done = Boolean(t.done_at);
    li.className = `task${done ? ' is-done' : ''}${t.overdue && !done ? ' is-overdue' : ''}${base ? ' is-editing' : ''}`;
    if (base) {
      fill(li, editForm(), error);
      return;
    }
    const checkbox = h('input', {
      type: 'checkbox',
      class: 'task-done',
      checked: done,
      disabled: !canWrite,
      'aria-label': `Done: ${t.title}`,
    });
    checkbox.addEventListener('change', async () => {
      checkbox.disabled = true;
      const updated = await setDone(current, checkbox.checked);
      checkbox.disabled = false;
      if (updated) current = updated;
      else checkbox.checked = done;
      onChange?.(updated);
    });
    fill(
      li,
      checkbox,
      h('div', { class: 'task-main' }, h('span', { class: 'task-title' }, t.title), t.notes && h('span', { class: 'task-notes muted' }, t.notes)),
      h(
        'div',
        { class: 'task-meta' },
        priorityBadge(t.priority),
        t.tags.map((tag) => h('span', { class: 'chip chip-label' }, tag)),
        showProject && t.project_id && h('a', { class: 'chip chip-project', href: projectHref(t.project_id) }, t.project_id),
        t.due && h('span', { class: t.overdue && !done ? 'due overdue' : 'due', title: fmtDateTime(t.due) }, fmtShortDate(t.due)),
      ),
      canWrite &&
        h(
          'div',
          { class: 'task-actions' },
          btn('edit-task', 'Edit', { 'aria-label': `Edit “${t.title}”`, onclick: openEditor }),
          t.project_id && btn('unlink-task', 'Unlink', { 'aria-label': `Unlink “${t.title}” from ${t.project_id}`, onclick: () => patch({ project: null }) }),
          !t.project_id && linkable && linkForm(),
          deleteButton(),
        ),
      error,
    );
  }

  render();
  return li;
}

/** Whether a row holds something the person is in the middle of (an open editor, an armed Delete, a typed project). */
function rowInUse(li) {
  return li.matches('.is-editing, .is-armed') || Boolean(li.querySelector('.task-link-input')?.value);
}

/** Puts fresh rows in a list, keeping any row the person is in the middle of using. */
export function replaceTaskRows(list, rows) {
  const inUse = new Map();
  for (const li of list.querySelectorAll(':scope > li.task')) if (rowInUse(li)) inUse.set(li.dataset.task, li);
  list.replaceChildren(...rows.map((row) => inUse.get(row.dataset?.task) || row));
}

/**
 * A new-task form. With projectId the task is linked to that project; with a
 * projects list (board cards) the person may pick one.
 */
export function newTaskForm({ projectId = null, projects = null, onCreated }) {
  const error = errorLine();
  const form = h(
    'form',
    { class: 'task-form', 'aria-label': 'New task' },
    h('input', { name: 'title', type: 'text', required: true, placeholder: 'New task…', 'aria-label': 'Task title', autocomplete: 'off' }),
    h('input', { name: 'due', type: 'text', placeholder: 'Due: 2025-06-01 or “tomorrow”', 'aria-label': 'Due', autocomplete: 'off' }),
    h('select', { name: 'priority', 'aria-label': 'Priority' }, priorityOptions('No priority', '')),
    !projectId && projects && h(
      'select',
      { name: 'project', 'aria-label': 'Project' },
      options([['', 'No project'], ...projects.map((p) => [p.id, `${p.id} — ${p.title}`])], ''),
    ),
    h('input', { name: 'notes', type: 'text', placeholder: 'Notes', 'aria-label': 'Notes', autocomplete: 'off' }),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Add task'),
    error,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = form.elements;
    const body = { title: f.title.value.trim() };
    if (!body.title) return;
    if (f.due.value.trim()) body.due = f.due.value.trim();
    if (f.priority.value) body.priority = Number(f.priority.value);
    if (f.notes.value.trim()) body.notes = f.notes.value.trim();
    const project = projectId || f.project?.value;
    if (project) body.project = project;
    const submit = form.querySelector('button[type=submit]');
    submit.disabled = true;
    try {
      const task = await api.createTask(body);
      form.reset();
      showMessage(error, '');
      onCreated?.(task);
      f.title.focus();
    } catch (err) {
      showMessage(error, errorText(err));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export function mountTasks(root, ctx, route) {
  const overdueOnly = route.params.get('overdue') === '1';
  const showDone = route.params.get('all') === '1';
  const list = h('ul', { class: 'task-list' });
  const error = errorLine();
  const overdueBox = h('input', { type: 'checkbox', name: 'overdue', checked: overdueOnly });
  const doneBox = h('input', { type: 'checkbox', name: 'all', checked: showDone });
  const toolbar = h(
    'div',
    { class: 'toolbar' },
    h('label', { class: 'check' }, overdueBox, ' Overdue only'),
    h('label', { class: 'check' }, doneBox, ' Show done'),
  );
  const formSlot = h('div');
  // The project ids the "Link to project…" inputs suggest (from the board; empty until it loads).
  const projectIds = h('datalist', { id: 'task-project-ids' });
  root.append(h('section', { class: 'page page-narrow' }, h('header', { class: 'page-header' }, h('h1', null, 'Tasks'), toolbar), formSlot, error, list, projectIds));

  const allProjects = () => boardCards(ctx.board);
  const projects = () => allProjects().filter((p) => p.lane !== 'done');
  const renderForm = () => {
    if (ctx.isHuman) formSlot.replaceChildren(newTaskForm({ projects: projects(), onCreated: () => load() }));
  };
  const renderProjectIds = () => projectIds.replaceChildren(...allProjects().map((p) => h('option', { value: p.id }, p.title)));

  async function load() {
    try {
      const tasks = await api.tasks({ overdue: overdueBox.checked, all: doneBox.checked });
      replaceTaskRows(
        list,
        tasks.length
          ? tasks.map((t) => taskRow(t, { canWrite: ctx.isHuman, onChange: () => load(), linkable: true, projectListId: projectIds.id }))
          : [h('li', { class: 'muted empty' }, overdueBox.checked ? 'Nothing overdue.' : 'No tasks.')],
      );
      showMessage(error, '');
    } catch (err) {
      showMessage(error, errorText(err));
    }
  }

  toolbar.addEventListener('change', () => {
    replaceParams({ overdue: overdueBox.checked ? '1' : '', all: doneBox.checked ? '1' : '' });
    load();
  });
  renderForm();
  renderProjectIds();
  load();
  const reload = coalesce(load, 300);
  let formBoardVersion = ctx.board?.version;
  let idsBoardVersion = ctx.board?.version;

  return {
    onBoard(board) {
      if (board.version !== idsBoardVersion) {
        idsBoardVersion = board.version;
        renderProjectIds();
      }
      // Rebuilding the form would lose what the person is typing; only do it when it is empty.
      const form = formSlot.querySelector('form');
      if (board.version !== formBoardVersion && (!form || !form.elements.title.value)) {
        formBoardVersion = board.version;
        renderForm();
      }
    },
    onEvent(type) {
      if (type === 'activity' || type === 'reconnect') reload();
    },
    unmount: () => reload.cancel(),
  };
}
