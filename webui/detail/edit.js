// The project page's Project panel: the edit form. What the person is typing is kept when
// the project changes elsewhere (a notice offers to reload); Save sends only what changed.

import { api } from '../api.js';
import { h, showMessage } from '../dom.js';
import { buildProjectForm, readProjectForm, changedFields, markInvalidField } from '../projectform.js';
import { errorText } from '../toast.js';

/** The panel's contents (els); update() whenever page.project changes. */
export function createEditPanel(page) {
  const edit = {
    page,
    form: null,
    snapshot: null, // the form's values as built: what Save compares against
    dirty: false, // the person has typed since
    slot: h('div'),
    stale: null,
  };
  edit.stale = h(
    'div',
    { class: 'banner banner-warn', role: 'status', hidden: true },
    'This project changed elsewhere since you started editing. ',
    h('button', { type: 'button', class: 'btn btn-small', dataset: { action: 'reload-form' }, onclick: () => rebuildForm(edit) }, 'Discard my edits and reload'),
  );
  return { els: [edit.stale, edit.slot], update: () => updateForm(edit) };
}

function updateForm(edit) {
  if (!edit.form || !edit.dirty) rebuildForm(edit, { keepStatus: true });
  else if (edit.page.project.etag !== edit.form.dataset.etag) edit.stale.hidden = false;
}

/**
 * A fresh form from page.project. `keepStatus`: what the form last said ("Saved.", "No
 * changes.") stays said — the project reloads on every live change (the save's own commit
 * among them), and a reload must not take the answer away before the person reads it.
 */
function rebuildForm(edit, { keepStatus = false } = {}) {
  const { page } = edit;
  const said = keepStatus ? edit.form?.querySelector('.form-status')?.textContent : '';
  const form = buildProjectForm(page.project, { editable: page.canWrite && page.project.lane !== 'done' });
  if (said) form.querySelector('.form-status').textContent = said;
  edit.form = form;
  edit.snapshot = readProjectForm(form);
  edit.dirty = false;
  edit.stale.hidden = true;
  form.addEventListener('input', () => (edit.dirty = true));
  form.addEventListener('change', () => (edit.dirty = true));
  form.addEventListener('submit', (e) => save(edit, e));
  edit.slot.replaceChildren(form);
}

async function save(edit, e) {
  e.preventDefault();
  const { form, page } = edit;
  const ui = { status: form.querySelector('.form-status'), error: form.querySelector('.form-error'), submit: form.querySelector('button[type=submit]') };
  ui.error.hidden = true;
  const changes = changedFields(edit.snapshot, readProjectForm(form));
  if (!worthSaving(changes, ui)) return;
  ui.submit.disabled = true;
  ui.status.textContent = 'Saving…';
  try {
    const updated = await api.patchProject(page.id, form.dataset.etag, changes);
    edit.dirty = false;
    page.applyProject(updated);
    edit.form.querySelector('.form-status').textContent = 'Saved.';
    page.ctx.refreshBoard().catch(() => {});
  } catch (err) {
    await saveFailed(edit, err, ui);
  }
}

/** Whether there is anything to send; when not, the form says why. */
function worthSaving(changes, { status, error }) {
  if (!Object.keys(changes).length) {
    status.textContent = 'No changes.';
    return false;
  }
  if (changes.title === '') {
    showMessage(error, 'The title cannot be empty.');
    return false;
  }
  return true;
}

/** After a 412 the project is reloaded (the person's edits are not saved); else the error shows in the form. */
async function saveFailed(edit, err, { status, error, submit }) {
  status.textContent = '';
  submit.disabled = false;
  if (err.status === 412) {
    edit.dirty = false;
    await edit.page.loadProject().catch(() => {});
    showMessage(edit.form.querySelector('.form-error'), 'Someone else changed this project while you were editing. It has been reloaded; your changes were not saved.');
    return;
  }
  showMessage(error, errorText(err));
  if (err.status === 422) markInvalidField(edit.form, err.message);
}
