// Tasks: the list view (#/tasks), and the row and form the project page reuses.

import { api } from './api.js';
import { h, options, coalesce } from './dom.js';
import { fmtShortDate, fmtDateTime } from './format.js';
import { priorityBadge } from './badges.js';
import { projectHref, replaceParams } from './router.js';
import { showToast, errorText } from './toast.js';

const PRIORITIES = [['', 'No priority'], [1, 'P1 — highest'], [2, 'P2'], [3, 'P3'], [4, 'P4 — lowest']];

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

export function taskRow(task, { canWrite, showProject = true, onChange }) {
  const done = Boolean(task.done_at);
  const checkbox = h('input', {
    type: 'checkbox',
    class: 'task-done',
    checked: done,
    disabled: !canWrite,
    'aria-label': `Done: ${task.title}`,
  });
  checkbox.addEventListener('change', async () => {
    checkbox.disabled = true;
    const updated = await setDone(task, checkbox.checked);
    checkbox.disabled = false;
    if (!updated) checkbox.checked = done;
    onChange?.(updated);
  });
  return h(
    'li',
    { class: `task${done ? ' is-done' : ''}${task.overdue && !done ? ' is-overdue' : ''}`, dataset: { task: task.id } },
    checkbox,
    h(
      'div',
      { class: 'task-main' },
      h('span', { class: 'task-title' }, task.title),
      task.notes && h('span', { class: 'task-notes muted' }, task.notes),
    ),
    h(
      'div',
      { class: 'task-meta' },
      priorityBadge(task.priority),
      task.tags.map((t) => h('span', { class: 'chip chip-label' }, t)),
      showProject && task.project_id && h('a', { class: 'chip chip-project', href: projectHref(task.project_id) }, task.project_id),
      task.due && h('span', { class: task.overdue && !done ? 'due overdue' : 'due', title: fmtDateTime(task.due) }, fmtShortDate(task.due)),
    ),
  );
}

/**
 * A new-task form. With projectId the task is linked to that project; with a
 * projects list (board cards) the person may pick one.
 */
export function newTaskForm({ projectId = null, projects = null, onCreated }) {
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const form = h(
    'form',
    { class: 'task-form', 'aria-label': 'New task' },
    h('input', { name: 'title', type: 'text', required: true, placeholder: 'New task…', 'aria-label': 'Task title', autocomplete: 'off' }),
    h('input', { name: 'due', type: 'text', placeholder: 'Due: 2025-06-01 or “tomorrow”', 'aria-label': 'Due', autocomplete: 'off' }),
    h('select', { name: 'priority', 'aria-label': 'Priority' }, options(PRIORITIES, '')),
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
      error.hidden = true;
      onCreated?.(task);
      f.title.focus();
    } catch (err) {
      error.textContent = errorText(err);
      error.hidden = false;
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
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const overdueBox = h('input', { type: 'checkbox', name: 'overdue', checked: overdueOnly });
  const doneBox = h('input', { type: 'checkbox', name: 'all', checked: showDone });
  const toolbar = h(
    'div',
    { class: 'toolbar' },
    h('label', { class: 'check' }, overdueBox, ' Overdue only'),
    h('label', { class: 'check' }, doneBox, ' Show done'),
  );
  const formSlot = h('div');
  root.append(h('section', { class: 'page page-narrow' }, h('header', { class: 'page-header' }, h('h1', null, 'Tasks'), toolbar), formSlot, error, list));

  const projects = () => (ctx.board?.lanes || []).flatMap((l) => l.projects).filter((p) => p.lane !== 'done');
  const renderForm = () => {
    if (ctx.isHuman) formSlot.replaceChildren(newTaskForm({ projects: projects(), onCreated: () => load() }));
  };

  async function load() {
    try {
      const tasks = await api.tasks({ overdue: overdueBox.checked, all: doneBox.checked });
      list.replaceChildren(
        ...(tasks.length
          ? tasks.map((t) => taskRow(t, { canWrite: ctx.isHuman, onChange: () => load() }))
          : [h('li', { class: 'muted empty' }, overdueBox.checked ? 'Nothing overdue.' : 'No tasks.')]),
      );
      error.hidden = true;
    } catch (err) {
      error.textContent = errorText(err);
      error.hidden = false;
    }
  }

  toolbar.addEventListener('change', () => {
    replaceParams({ overdue: overdueBox.checked ? '1' : '', all: doneBox.checked ? '1' : '' });
    load();
  });
  renderForm();
  load();
  const reload = coalesce(load, 300);
  let formBoardVersion = ctx.board?.version;

  return {
    onBoard(board) {
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
