// The form for a project's person-owned fields. Input names equal the API field names.

import { h, field } from './dom.js';
import { priorityOptions } from './badges.js';

export const EDITABLE_FIELDS = ['title', 'model', 'description', 'acceptance', 'priority', 'owner', 'due', 'labels', 'workspace', 'feedback'];

/** The current value of a field: the file's data first, the card's summary second. */
function valueOf(project, name) {
  const data = project.data || {};
  return data[name] !== undefined ? data[name] : project[name];
}

export function buildProjectForm(project, { editable }) {
  const v = (name) => valueOf(project, name);
  const due = v('due');
  const list = (value) => (Array.isArray(value) ? value : []);
  return h(
    'form',
    { class: 'project-form', id: 'project-form', 'aria-label': 'Edit project', dataset: { etag: project.etag } },
    h(
      'fieldset',
      { disabled: !editable },
      h('legend', { class: 'visually-hidden' }, 'Project fields'),
      field('Title', h('input', { name: 'title', type: 'text', required: true, value: project.title ?? '' })),
      h(
        'div',
        { class: 'field-row' },
        field('Model', h('input', { name: 'model', type: 'text', placeholder: 'default', value: v('model') ?? '' })),
        field('Priority', h('select', { name: 'priority' }, priorityOptions('—', v('priority') ?? ''))),
        field('Owner', h('input', { name: 'owner', type: 'text', value: v('owner') ?? '' })),
        field(
          'Due',
          h('input', { name: 'due', type: 'date', value: due ? String(due).slice(0, 10) : '' }),
          due && String(due).length > 10 ? `Currently ${due}` : null,
        ),
      ),
      h(
        'div',
        { class: 'field-row' },
        field('Labels', h('input', { name: 'labels', type: 'text', placeholder: 'comma, separated', value: list(v('labels')).join(', ') })),
        field('Workspace', h('input', { name: 'workspace', type: 'text', placeholder: 'path or repository', value: v('workspace') ?? '' })),
      ),
      field('Description', h('textarea', { name: 'description', rows: 6, value: v('description') ?? '' })),
      field('Acceptance criteria', h('textarea', { name: 'acceptance', rows: 4, value: list(v('acceptance')).join('\n') }), 'One criterion per line'),
      field('Feedback', h('textarea', { name: 'feedback', rows: 3, value: v('feedback') ?? '' }), 'Your notes for the agent'),
      h(
        'div',
        { class: 'form-actions' },
        h('button', { type: 'submit', class: 'btn btn-primary', dataset: { action: 'save' } }, 'Save changes'),
        h('span', { class: 'form-status muted', role: 'status' }),
      ),
      h('p', { class: 'form-error', role: 'alert', hidden: true }),
    ),
  );
}

/** The form's values in API shape; the same normalisation applies to the snapshot and the edit. */
export function readProjectForm(form) {
  const f = form.elements;
  const text = (name) => {
    const value = f[name].value.trim();
    return value === '' ? null : value;
  };
  return {
    title: f.title.value.trim(),
    model: text('model'),
    description: text('description'),
    acceptance: f.acceptance.value.split('\n').map((s) => s.trim()).filter(Boolean),
    priority: f.priority.value ? Number(f.priority.value) : null,
    owner: text('owner'),
    due: text('due'),
    labels: f.labels.value.split(',').map((s) => s.trim()).filter(Boolean),
    workspace: text('workspace'),
    feedback: text('feedback'),
  };
}

export function changedFields(before, after) {
  const changes = {};
  for (const key of EDITABLE_FIELDS) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) changes[key] = after[key];
  }
  return changes;
}

/** Marks the input a 422 message names, so the person sees which one is wrong. */
export function markInvalidField(form, message) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  const name = EDITABLE_FIELDS.find((f) => new RegExp(`\\b${f}\\b`, 'i').test(message));
  const input = name && form.elements[name];
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
}
