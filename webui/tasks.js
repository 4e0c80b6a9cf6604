// Tasks: the list view (#/tasks), and the new-task form the project page reuses. A task's
// row is taskrow.js.

import { api } from './api.js';
import { h, options, coalesce, errorLine, showMessage } from './dom.js';
import { priorityOptions } from './badges.js';
import { boardCards } from './boarddata.js';
import { taskRow, replaceTaskRows } from './taskrow.js';
import { replaceParams } from './router.js';
import { errorText } from './toast.js';

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
