// The project page's Integration panel: for coder work in Review, what approving would do
// to the workspace now — the reviewed head merges cleanly into the base, conflicts (with
// the one click that sends it back to resolve them), or the branch moved since review.

import { api } from '../api.js';
import { h, fill, errorLine, showMessage } from '../dom.js';
import { showToast, errorText } from '../toast.js';

/** The panel's element and update(), called whenever page.project changes. */
export function createIntegratePanel(page) {
  const body = h('div', { class: 'integration', dataset: { role: 'integration' } });
  const error = errorLine('integration-error');
  const el = h('section', { class: 'panel', hidden: true }, h('h2', { class: 'panel-title' }, 'Integration'), body, error);
  let asked = 0;
  async function update() {
    const p = page.project;
    const run = p?.data?.run;
    const shown = p?.lane === 'review' && Boolean(p.data?.workspace) && Boolean(run?.head);
    el.hidden = !shown;
    page.integration = null;
    if (!shown) return;
    const ticket = ++asked; // a later update wins over a slower earlier answer
    fill(body, h('p', { class: 'muted' }, 'Checking the branch against its base…'));
    try {
      const found = await api.projectIntegration(page.id);
      if (ticket !== asked) return;
      page.integration = found; // the approve step names the commit and what happens to it
      fill(body, ...describe(page, found, error));
    } catch (err) {
      if (ticket === asked) fill(body, h('p', { class: 'form-error' }, errorText(err)));
    }
  }
  return { el, update };
}

/** What to say about one answer of GET /api/projects/{id}/integration. */
function describe(page, found, error) {
  const mode = h('p', { class: 'muted' }, `On approve: ${modeText(found)}.`);
  if (found.reviewed_head && found.head !== found.reviewed_head) {
    return [h('p', { class: 'integration-bad', dataset: { state: 'moved' } }, 'Branch moved since review — approve refused'), mode];
  }
  if (found.clean === false) {
    const rework = h(
      'button',
      { type: 'button', class: 'btn', dataset: { action: 'rework-conflicts' }, onclick: () => reworkConflicts(page, error) },
      `Rework: resolve conflicts with ${found.base}`,
    );
    return [h('p', { class: 'integration-bad', dataset: { state: 'conflicts' } }, `Conflicts in ${found.conflicts.join(', ')}`), rework, mode];
  }
  if (found.clean === true) {
    return [h('p', { class: 'integration-ok', dataset: { state: 'clean' } }, `Merges cleanly into ${found.base}`), mode];
  }
  return [h('p', { class: 'muted', dataset: { state: 'unknown' } }, found.reason || 'Nothing to integrate.')];
}

/** What approving does with the reviewed commit, in words (also said by the approve step). */
export function modeText(found) {
  return (
    {
      merge: `merge the reviewed commit into ${found.base}`,
      squash: `squash it into one commit on ${found.base}`,
      pr: 'push the branch and open a pull request',
      none: 'leave the branch as it is',
    }[found.mode] || found.mode
  );
}

async function reworkConflicts(page, error) {
  showMessage(error, '');
  try {
    page.applyProject(await api.projectAction(page.id, 'rework', { conflicts: true }));
    showToast('Sent back to resolve the conflicts');
  } catch (err) {
    showMessage(error, errorText(err));
  }
}
