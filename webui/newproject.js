// The "New project" dialog.

import { api } from './api.js';
import { h, options, field, errorLine, showMessage } from './dom.js';
import { priorityOptions } from './badges.js';
import { projectHref } from './router.js';
import { showToast, errorText } from './toast.js';

let dialog = null;

function build(ctx) {
  const error = errorLine();
  const form = h(
    'form',
    { class: 'new-project-form', method: 'dialog' },
    h('h2', { class: 'dialog-title', id: 'new-project-title' }, 'New project'),
    field('Title', h('input', { name: 'title', type: 'text', required: true, autocomplete: 'off' })),
    h(
      'div',
      { class: 'field-row' },
      field('Archetype', h('select', { name: 'archetype', required: true })),
      field('Template', h('select', { name: 'template' })),
    ),
    field('Description', h('textarea', { name: 'description', rows: 5 })),
    h(
      'div',
      { class: 'field-row' },
      field('Due', h('input', { name: 'due', type: 'date' })),
      field('Priority', h('select', { name: 'priority' }, priorityOptions('No priority', ''))),
      field('Lane', h('select', { name: 'lane' }, options([['backlog', 'Backlog'], ['up-next', 'Up next (queue now)']], 'backlog'))),
    ),
    error,
    h(
      'div',
      { class: 'dialog-actions' },
      h('button', { type: 'button', class: 'btn', dataset: { action: 'close' }, onclick: () => dialog.close() }, 'Cancel'),
      h('button', { type: 'submit', class: 'btn btn-primary', dataset: { action: 'create' } }, 'Create project'),
    ),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = form.elements;
    const body = { title: f.title.value.trim(), archetype: f.archetype.value, lane: f.lane.value };
    if (!body.title) return;
    if (f.template.value) body.template = f.template.value;
    if (f.description.value.trim()) body.description = f.description.value.trim();
    if (f.due.value) body.due = f.due.value;
    if (f.priority.value) body.priority = Number(f.priority.value);
    const submit = form.querySelector('button[type=submit]');
    submit.disabled = true;
    try {
      const project = await api.createProject(body);
      dialog.close();
      showToast(`Created ${project.id}: ${project.title}`, { link: { href: projectHref(project.id), label: 'Open' } });
      ctx.refreshBoard().catch(() => {});
    } catch (err) {
      showMessage(error, errorText(err));
    } finally {
      submit.disabled = false;
    }
  });
  const el = h('dialog', { id: 'new-project-dialog', class: 'dialog', 'aria-labelledby': 'new-project-title' }, form);
  document.body.append(el);
  return el;
}

export function openNewProject(ctx) {
  dialog ??= build(ctx);
  const form = dialog.querySelector('form');
  form.reset();
  form.querySelector('.form-error').hidden = true;
  const board = ctx.board || { archetypes: [], templates: [] };
  form.elements.archetype.replaceChildren(...options(board.archetypes, board.archetypes[0]));
  form.elements.template.replaceChildren(...options([['', 'No template'], ...board.templates], ''));
  dialog.showModal();
  form.elements.title.focus();
}
