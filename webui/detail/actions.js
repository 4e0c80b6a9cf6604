// The project page's Actions panel: queue, retry, cancel, move, and in Review approve or rework.

import { api } from '../api.js';
import { h, fill, field, errorLine, showMessage } from '../dom.js';
import { moveSelect } from '../badges.js';
import { showToast, errorText } from '../toast.js';
import { approveBlock } from './approve.js';

const ACTION_DONE = {
  queue: 'Queued',
  cancel: 'Cancelled and moved to the backlog',
  retry: 'Queued again',
  approve: 'Approved',
  rework: 'Sent back for rework',
  move: 'Moved',
};

/** The panel (for people who may write); render() whenever page.project changes. */
export function createActions(page) {
  const panel = {
    page,
    body: h('div', { class: 'actions' }),
    error: errorLine('action-error'),
    approval: { command: null, confirming: false }, // see approveBlock
    rework: null,
  };
  panel.rework = reworkForm((notes) => runAction(panel, 'rework', { notes }));
  return { el: panel.body, render: () => renderActions(panel) };
}

function renderActions(panel) {
  const p = panel.page.project;
  if (p.lane === 'done') {
    panel.body.replaceChildren(h('p', { class: 'muted' }, 'Done is final: nothing here can change.'), panel.error);
    return;
  }
  const run = (action, body) => runAction(panel, action, body);
  const button = (action, label, primary = false) =>
    h('button', { type: 'button', class: primary ? 'btn btn-primary' : 'btn', dataset: { action }, onclick: () => run(action) }, label);
  const retryable = (p.job && ['dead', 'cancelled'].includes(p.job.state)) || p.needs_human;
  fill(
    panel.body,
    h(
      'div',
      { class: 'action-row' },
      p.lane === 'backlog' && button('queue', 'Queue', true),
      retryable && button('retry', 'Retry'),
      p.lane !== 'backlog' && button('cancel', 'Cancel → Backlog'),
      // the moves this person may make (approval has its own step below)
      moveSelect(p.lane, { dataset: { action: 'move' }, 'aria-label': 'Move to…' }, (lane) => run('move', { lane }), (p.moves || []).filter((l) => l !== 'done')),
    ),
    p.lane === 'review' && h('div', { class: 'review-actions' }, approvePart(panel), panel.rework),
    panel.error,
  );
}

function approvePart(panel) {
  return approveBlock(panel.page, panel.approval, {
    onConfirming: (on) => {
      panel.approval.confirming = on;
      renderActions(panel);
      if (on) panel.body.querySelector('[data-action=approve-confirm]')?.focus();
    },
    onApprove: () => runAction(panel, 'approve'),
  });
}

/** "Send back with notes". onRework(notes) answers true when the server took it. */
function reworkForm(onRework) {
  const notes = h('textarea', { name: 'notes', rows: 3, required: true, placeholder: 'What should change?' });
  const form = h(
    'form',
    { class: 'rework-form', 'aria-label': 'Rework' },
    field('Send back with notes', notes),
    h('button', { type: 'submit', class: 'btn', dataset: { action: 'rework' } }, 'Rework'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!notes.value.trim()) return;
    if (await onRework(notes.value.trim())) notes.value = '';
  });
  return form;
}

/** Runs a project action; answers true when the server accepted it. */
async function runAction(panel, action, body) {
  const { page, approval, error } = panel;
  error.hidden = true;
  const controls = [...panel.body.querySelectorAll('button, select, textarea')];
  for (const c of controls) c.disabled = true;
  try {
    const updated = await api.projectAction(page.id, action, body);
    approval.command = null;
    approval.confirming = false;
    page.applyProject(updated);
    showToast(`${ACTION_DONE[action] || 'Done'}: ${updated.title}`);
    page.ctx.refreshBoard().catch(() => {});
    page.jobs.refresh();
    return true;
  } catch (err) {
    if (action === 'approve') approval.confirming = false;
    if (action === 'approve' && err.body?.command) approval.command = { command: err.body.command, message: err.message };
    if (err.status === 412) await page.loadProject().catch(() => {});
    else renderActions(panel);
    showMessage(error, err.status === 412 ? `${errorText(err)} — it changed elsewhere and has been reloaded.` : errorText(err));
    return false;
  } finally {
    for (const c of controls) c.disabled = false;
  }
}
