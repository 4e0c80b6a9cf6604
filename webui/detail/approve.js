// Approving from the project page. Done is final, so approving takes a second, explicit
// step that says what will be signed and by whom; where the server cannot sign for the
// person, the page shows the command to run instead.

import { h, copyText } from '../dom.js';
import { reviewOf } from './summary.js';
import { modeText } from './integrate.js';

/**
 * The approve part of a project in Review. `approval` is the Actions panel's state:
 * {command} once the server said it cannot sign for the person, {confirming} while the
 * confirm step is open. onConfirming(on) opens or closes that step; onApprove() signs.
 */
export function approveBlock(page, approval, { onConfirming, onApprove }) {
  const p = page.project;
  if (approval.command) return commandBlock(approval.command.command, approval.command.message);
  if (!p.ready_for_human) return h('p', { class: 'muted' }, 'Approval opens when the review has passed.');
  if (!page.ctx.session.can_sign) return commandBlock(`mc approve ${p.id}`);
  if (!approval.confirming) {
    return h('button', { type: 'button', class: 'btn btn-primary', dataset: { action: 'approve' }, onclick: () => onConfirming(true) }, 'Approve → Done…');
  }
  return approveConfirm(page, { onApprove, onCancel: () => onConfirming(false) });
}

/** The command that approves, with a Copy button. */
function commandBlock(command, message) {
  const code = h('code', { class: 'command', dataset: { role: 'approve-command' } }, command);
  const copy = h('button', { type: 'button', class: 'btn btn-small', dataset: { action: 'copy-command' } }, 'Copy');
  copy.addEventListener('click', async () => {
    copy.textContent = (await copyText(command, code)) ? 'Copied' : 'Press Ctrl+C';
    setTimeout(() => (copy.textContent = 'Copy'), 2000);
  });
  return h(
    'div',
    { class: 'approve-command' },
    h('p', { class: 'muted' }, message || 'Approval is a signed commit. Run this where your signing key is set up:'),
    h('div', { class: 'command-line' }, code, copy),
  );
}

/** The confirm step: what will be signed, by whom, and that done is final. */
function approveConfirm(page, { onApprove, onCancel }) {
  const p = page.project;
  const review = reviewOf(p) || {};
  const covers = review.job ? `the work its review job ${review.job} passed` : 'the work its review passed';
  return h(
    'div',
    { class: 'approve-confirm', role: 'group', 'aria-label': 'Confirm the approval' },
    h('p', null, h('strong', null, 'Approve “', p.title, '”?')),
    h(
      'p',
      null,
      'This signs a commit as ',
      h('code', { dataset: { role: 'signer' } }, page.ctx.session.signer || 'you'),
      ' that moves ',
      h('code', null, p.id),
      ' from Review to Done. It covers exactly ',
      covers,
      '. ',
      integrationSentence(page),
      'Done is final: nothing in it can change afterwards.',
    ),
    h(
      'div',
      { class: 'action-row' },
      h('button', { type: 'button', class: 'btn btn-primary', dataset: { action: 'approve-confirm' }, onclick: onApprove }, 'Sign and approve'),
      h('button', { type: 'button', class: 'btn', dataset: { action: 'approve-cancel' }, onclick: onCancel }, 'Cancel'),
    ),
  );
}

/** For coder work: the exact commit the approval binds, and what approving does with it. */
function integrationSentence(page) {
  const found = page.integration;
  if (!found?.reviewed_head) return null;
  return h(
    'span',
    { dataset: { role: 'approve-integration' } },
    'That is commit ',
    h('code', null, found.reviewed_head.slice(0, 12)),
    ` on mc/${page.id}; approving will ${modeText(found)}. `,
  );
}
