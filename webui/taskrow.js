// One task as a list row (the Tasks view and the project page): done, edit in place,
// link and unlink, a two-step delete.
//
// A row's state is one object: {task (the latest version the server answered), base (the
// task as it was when the edit form opened: only what the person changed is sent; null
// while not editing), disarmTimer (while Delete is armed), the options, li, error}.

import { api } from './api.js';
import { h, fill, errorLine, showMessage } from './dom.js';
import { fmtShortDate, fmtDateTime } from './format.js';
import { priorityBadge, priorityOptions } from './badges.js';
import { projectHref } from './router.js';
import { showToast, errorText } from './toast.js';

const DELETE_ARM_MS = 4000;

/**
 * One task as a list row. For people who may write (canWrite) it has Edit (an
 * in-row form), Unlink, a Link-to-project form (when `linkable`; `projectListId`
 * names a <datalist> of project ids) and a two-step Delete. Failures show in the
 * row (role="alert"); onChange(task | null) runs after every change that worked.
 */
export function taskRow(task, { canWrite, showProject = true, onChange, linkable = false, projectListId = null }) {
  const row = {
    task,
    base: null,
    disarmTimer: null,
    canWrite,
    showProject,
    onChange,
    linkable,
    projectListId,
    li: h('li', { dataset: { task: task.id } }),
    error: errorLine('task-error'),
  };
  render(row);
  return row.li;
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

// --- rendering ------------------------------------------------------------------
function render(row) {
  clearTimeout(row.disarmTimer);
  row.disarmTimer = null;
  const t = row.task;
  const done = Boolean(t.done_at);
  row.li.className = `task${done ? ' is-done' : ''}${t.overdue && !done ? ' is-overdue' : ''}${row.base ? ' is-editing' : ''}`;
  if (row.base) fill(row.li, editForm(row), row.error);
  else fill(row.li, doneCheckbox(row, done), taskSummary(t, done, row.showProject), row.canWrite && taskActions(row), row.error);
}

function btn(action, label, attrs = {}) {
  return h('button', { type: 'button', class: 'btn btn-small btn-ghost', dataset: { action }, ...attrs }, label);
}

function doneCheckbox(row, done) {
  const checkbox = h('input', {
    type: 'checkbox',
    class: 'task-done',
    checked: done,
    disabled: !row.canWrite,
    'aria-label': `Done: ${row.task.title}`,
  });
  checkbox.addEventListener('change', async () => {
    checkbox.disabled = true;
    const updated = await setDone(row.task, checkbox.checked);
    checkbox.disabled = false;
    if (updated) row.task = updated;
    else checkbox.checked = done;
    row.onChange?.(updated);
  });
  return checkbox;
}

/** The title and notes, then priority, tags, project and due date. */
function taskSummary(t, done, showProject) {
  return [
    h('div', { class: 'task-main' }, h('span', { class: 'task-title' }, t.title), t.notes && h('span', { class: 'task-notes muted' }, t.notes)),
    h(
      'div',
      { class: 'task-meta' },
      priorityBadge(t.priority),
      t.tags.map((tag) => h('span', { class: 'chip chip-label' }, tag)),
      showProject && t.project_id && h('a', { class: 'chip chip-project', href: projectHref(t.project_id) }, t.project_id),
      t.due && h('span', { class: t.overdue && !done ? 'due overdue' : 'due', title: fmtDateTime(t.due) }, fmtShortDate(t.due)),
    ),
  ];
}

function taskActions(row) {
  const t = row.task;
  return h(
    'div',
    { class: 'task-actions' },
    btn('edit-task', 'Edit', { 'aria-label': `Edit “${t.title}”`, onclick: () => openEditor(row) }),
    t.project_id && btn('unlink-task', 'Unlink', { 'aria-label': `Unlink “${t.title}” from ${t.project_id}`, onclick: () => patch(row, { project: null }) }),
    !t.project_id && row.linkable && linkForm(row),
    deleteButton(row),
  );
}

// --- editing ----------------------------------------------------------------------
function openEditor(row) {
  row.base = row.task;
  showMessage(row.error, '');
  render(row);
  row.li.querySelector('input[name="title"]')?.focus();
}

function closeEditor(row) {
  row.base = null;
  showMessage(row.error, '');
  render(row);
  focusAction(row, 'edit-task');
}

function focusAction(row, action) {
  row.li.querySelector(`[data-action="${action}"]`)?.focus();
}

function editForm(row) {
  const t = row.task;
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
      h('button', { type: 'button', class: 'btn btn-small', dataset: { action: 'cancel-edit' }, onclick: () => closeEditor(row) }, 'Cancel'),
    ),
  );
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      closeEditor(row);
    }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = form.elements;
    if (!f.title.value.trim()) {
      f.title.focus();
      return;
    }
    const fields = editedFields(f, row.base);
    if (!Object.keys(fields).length) {
      closeEditor(row);
      return;
    }
    if (await patch(row, fields)) focusAction(row, 'edit-task');
  });
  return form;
}

/** What the person changed in the edit form, against the task as it was when it opened. */
function editedFields(f, base) {
  const fields = {};
  const title = f.title.value.trim();
  if (title !== base.title) fields.title = title;
  const due = f.due.value.trim();
  if (due !== (base.due || '')) fields.due = due || null;
  const priority = f.priority.value ? Number(f.priority.value) : null;
  if (priority !== (base.priority ?? null)) fields.priority = priority;
  const notes = f.notes.value.trim();
  if (notes !== (base.notes || '').trim()) fields.notes = notes;
  return fields;
}

function linkForm(row) {
  const input = h('input', {
    name: 'project',
    type: 'text',
    class: 'task-link-input',
    placeholder: 'Link to project…',
    'aria-label': `Link “${row.task.title}” to project`,
    autocomplete: 'off',
    list: row.projectListId,
    required: true,
  });
  const form = h('form', { class: 'task-link-form' }, input, h('button', { type: 'submit', class: 'btn btn-small', dataset: { action: 'link-task' } }, 'Link'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const project = input.value.trim();
    if (project) patch(row, { project });
  });
  return form;
}

// --- deleting ---------------------------------------------------------------------
/** Delete takes two clicks: the first arms it ("Really delete?") for DELETE_ARM_MS. */
function deleteButton(row) {
  const label = `Delete “${row.task.title}”`;
  const button = btn('delete-task', 'Delete', { class: 'btn btn-small btn-ghost task-delete', 'aria-label': label });
  const armed = (on) => {
    button.classList.toggle('is-armed', on);
    row.li.classList.toggle('is-armed', on);
    button.textContent = on ? 'Really delete?' : 'Delete';
    button.setAttribute('aria-label', on ? `Really delete “${row.task.title}”?` : label);
  };
  const disarm = () => {
    clearTimeout(row.disarmTimer);
    row.disarmTimer = null;
    armed(false);
  };
  button.addEventListener('click', (e) => {
    if (e.detail > 1) return; // the second click of a double-click is not a confirmation
    if (!button.classList.contains('is-armed')) {
      armed(true);
      row.disarmTimer = setTimeout(disarm, DELETE_ARM_MS);
      return;
    }
    disarm();
    remove(row);
  });
  return button;
}

async function remove(row) {
  setBusy(row, true);
  try {
    await api.deleteTask(row.task.id, row.task.etag);
  } catch (err) {
    setBusy(row, false);
    await failed(row, err);
    return;
  }
  row.li.remove();
  row.onChange?.(null);
}

// --- talking to the server ----------------------------------------------------------
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

/** Sends the fields; answers true when the server took them. */
async function patch(row, fields) {
  setBusy(row, true);
  try {
    row.task = await api.patchTask(row.task.id, row.task.etag, fields);
  } catch (err) {
    setBusy(row, false);
    await failed(row, err);
    return false;
  }
  row.base = null;
  showMessage(row.error, '');
  render(row);
  row.onChange?.(row.task);
  return true;
}

function setBusy(row, busy) {
  for (const c of row.li.querySelectorAll('button, input, select, textarea')) c.disabled = busy || (c.classList.contains('task-done') && !row.canWrite);
}

/** Shows why a request failed; after a 412 takes the server's version of the task. */
async function failed(row, err) {
  if (err.status !== 412) {
    showMessage(row.error, errorText(err));
    return;
  }
  try {
    row.task = await api.task(row.task.id);
  } catch (again) {
    showMessage(row.error, errorText(again));
    return;
  }
  if (row.base) {
    // Keep what the person typed; saving again overwrites the other change.
    showMessage(row.error, 'Someone else changed this task since you opened it. Save again to apply your changes on top of theirs, or Cancel to see their version.');
  } else {
    render(row);
    showMessage(row.error, 'Someone else changed this task; it has been reloaded. Check it and try again.');
  }
}
