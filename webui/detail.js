// The project page (#/project/ID): fields, actions, review, jobs and logs, artifacts, tasks, activity.

import { api } from './api.js';
import { h, fill, coalesce, copyText } from './dom.js';
import { LANES, laneLabel, laneBadge, priorityBadge, dueBadge, statusBadges } from './badges.js';
import { buildProjectForm, readProjectForm, changedFields, markInvalidField } from './projectform.js';
import { createJobsPanel } from './jobs.js';
import { renderArtifacts } from './artifacts.js';
import { activityItem } from './activity.js';
import { taskRow, newTaskForm, replaceTaskRows } from './tasks.js';
import { hrefFor } from './router.js';
import { showToast, errorText } from './toast.js';

const ACTION_DONE = {
  queue: 'Queued',
  cancel: 'Cancelled and moved to the backlog',
  retry: 'Queued again',
  approve: 'Approved',
  rework: 'Sent back for rework',
  move: 'Moved',
};

function panel(title, ...children) {
  return h('section', { class: 'panel' }, h('h2', { class: 'panel-title' }, title), ...children);
}

function findCard(board, id) {
  for (const lane of board?.lanes || []) {
    const card = lane.projects.find((p) => p.id === id);
    if (card) return card;
  }
  return null;
}

export function mountDetail(root, ctx, route) {
  const id = route.arg;
  const canWrite = ctx.isHuman;
  let project = null;
  let cardSig = JSON.stringify(findCard(ctx.board, id));
  let form = null;
  let snapshot = null;
  let dirty = false;
  let approveCommand = null; // set when the server says it cannot sign for the person
  let confirmingApproval = false; // done is final: approving takes a second, explicit step

  const header = h('header', { class: 'detail-header' });
  const banners = h('div', { class: 'banners' });
  const actionsBody = h('div', { class: 'actions' });
  const actionError = h('p', { class: 'form-error action-error', role: 'alert', hidden: true });
  const formSlot = h('div');
  const staleNotice = h(
    'div',
    { class: 'banner banner-warn', role: 'status', hidden: true },
    'This project changed elsewhere since you started editing. ',
    h('button', { type: 'button', class: 'btn btn-small', dataset: { action: 'reload-form' }, onclick: () => rebuildForm() }, 'Discard my edits and reload'),
  );
  const reviewBody = h('div', { class: 'review' });
  const jobs = createJobsPanel(id);
  const artifactsBody = h('div');
  const tasksList = h('ul', { class: 'task-list' });
  const linkTask = canWrite && buildLinkTaskForm();
  const activityList = h('ol', { class: 'activity-list' });
  const reworkForm = buildReworkForm();

  const page = h(
    'div',
    { class: 'detail', dataset: { project: id } },
    h('nav', { class: 'breadcrumb' }, h('a', { href: hrefFor('board') }, '← Board')),
    header,
    banners,
    h(
      'div',
      { class: 'detail-grid' },
      h(
        'div',
        { class: 'detail-main' },
        canWrite && panel('Actions', actionsBody),
        panel('Project', staleNotice, formSlot),
        panel('Review', reviewBody),
        panel('Jobs', jobs.el),
        panel('Artifacts', artifactsBody),
      ),
      h(
        'aside',
        { class: 'detail-side' },
        panel('Tasks', tasksList, linkTask?.form, canWrite && newTaskForm({ projectId: id, onCreated: () => loadTasks() })),
        panel('Activity', activityList, canWrite && commentForm()),
      ),
    ),
  );
  root.append(h('p', { class: 'muted loading-text' }, 'Loading…'));

  // --- rendering --------------------------------------------------------------
  function renderHeader() {
    const p = project;
    header.replaceChildren(
      h('div', { class: 'detail-kicker' }, h('span', { class: 'card-id' }, p.id), laneBadge(p.lane), h('span', { class: 'chip chip-archetype' }, p.archetype), p.model && h('span', { class: 'chip chip-model' }, p.model), priorityBadge(p.priority), dueBadge(p.due, p.overdue)),
      h('h1', { class: 'detail-title' }, p.title),
      h('div', { class: 'card-badges' }, statusBadges(p)),
    );
    document.title = `${p.title} · Mission Control`;
  }

  function renderBanners() {
    const p = project;
    fill(
      banners,
      p.invalid && h('div', { class: 'banner banner-error', role: 'alert' }, h('strong', null, 'Invalid project file: '), p.invalid),
      p.violation && h('div', { class: 'banner banner-error', role: 'alert' }, h('strong', null, 'Rule violation: '), p.violation),
      p.needs_human && h('div', { class: 'banner banner-warn' }, h('strong', null, 'Needs a person: '), p.needs_human),
    );
  }

  function renderReview() {
    const review = project.review || project.data?.review;
    if (!review) {
      reviewBody.replaceChildren(h('p', { class: 'muted' }, 'No review yet.'));
      return;
    }
    const pass = review.verdict === 'pass';
    reviewBody.replaceChildren(
      h('p', null, h('span', { class: `badge badge-review-${pass ? 'pass' : 'fail'}`, dataset: { badge: `review-${pass ? 'pass' : 'fail'}` } }, pass ? '✓ Passed' : '✗ Failed')),
      review.notes ? h('div', { class: 'review-notes prose' }, review.notes) : h('p', { class: 'muted' }, 'No notes.'),
    );
  }

  function actionButton(action, label, primary = false) {
    return h('button', { type: 'button', class: primary ? 'btn btn-primary' : 'btn', dataset: { action }, onclick: () => run(action) }, label);
  }

  function moveSelect() {
    const select = h(
      'select',
      { class: 'move-select', dataset: { action: 'move' }, 'aria-label': 'Move to…' },
      h('option', { value: '' }, 'Move to…'),
      LANES.filter((l) => l !== project.lane).map((l) => h('option', { value: l }, laneLabel(l))),
    );
    select.addEventListener('change', () => {
      if (select.value) run('move', { lane: select.value });
    });
    return select;
  }

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

  function approveBlock() {
    const p = project;
    if (approveCommand) return commandBlock(approveCommand.command, approveCommand.message);
    if (!p.ready_for_human) return h('p', { class: 'muted' }, 'Approval opens when the review has passed.');
    if (!ctx.session.can_sign) return commandBlock(`mc approve ${p.id}`);
    if (!confirmingApproval) {
      return h('button', { type: 'button', class: 'btn btn-primary', dataset: { action: 'approve' }, onclick: () => setConfirming(true) }, 'Approve → Done…');
    }
    return approveConfirm();
  }

  function setConfirming(on) {
    confirmingApproval = on;
    renderActions();
    if (on) actionsBody.querySelector('[data-action=approve-confirm]')?.focus();
  }

  /** The confirm step: what will be signed, by whom, and that done is final. */
  function approveConfirm() {
    const p = project;
    const review = p.review || p.data?.review || {};
    const covers = review.job ? `the work its review job ${review.job} passed` : 'the work its review passed';
    return h(
      'div',
      { class: 'approve-confirm', role: 'group', 'aria-label': 'Confirm the approval' },
      h('p', null, h('strong', null, 'Approve “', p.title, '”?')),
      h(
        'p',
        null,
        'This signs a commit as ',
        h('code', { dataset: { role: 'signer' } }, ctx.session.signer || 'you'),
        ' that moves ',
        h('code', null, p.id),
        ' from Review to Done. It covers exactly ',
        covers,
        '. Done is final: nothing in it can change afterwards.',
      ),
      h(
        'div',
        { class: 'action-row' },
        h('button', { type: 'button', class: 'btn btn-primary', dataset: { action: 'approve-confirm' }, onclick: () => run('approve') }, 'Sign and approve'),
        h('button', { type: 'button', class: 'btn', dataset: { action: 'approve-cancel' }, onclick: () => setConfirming(false) }, 'Cancel'),
      ),
    );
  }

  function buildReworkForm() {
    const notes = h('textarea', { name: 'notes', rows: 3, required: true, placeholder: 'What should change?' });
    const f = h(
      'form',
      { class: 'rework-form', 'aria-label': 'Rework' },
      h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Send back with notes'), notes),
      h('button', { type: 'submit', class: 'btn', dataset: { action: 'rework' } }, 'Rework'),
    );
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!notes.value.trim()) return;
      if (await run('rework', { notes: notes.value.trim() })) notes.value = '';
    });
    return f;
  }

  function renderActions() {
    if (!canWrite) return;
    const p = project;
    if (p.lane === 'done') {
      actionsBody.replaceChildren(h('p', { class: 'muted' }, 'Done is final: nothing here can change.'), actionError);
      return;
    }
    const retryable = (p.job && ['dead', 'cancelled'].includes(p.job.state)) || p.needs_human;
    fill(
      actionsBody,
      h(
        'div',
        { class: 'action-row' },
        p.lane === 'backlog' && actionButton('queue', 'Queue', true),
        retryable && actionButton('retry', 'Retry'),
        p.lane !== 'backlog' && actionButton('cancel', 'Cancel → Backlog'),
        moveSelect(),
      ),
      p.lane === 'review' && h('div', { class: 'review-actions' }, approveBlock(), reworkForm),
      actionError,
    );
  }

  function rebuildForm() {
    form = buildProjectForm(project, { editable: canWrite && project.lane !== 'done' });
    snapshot = readProjectForm(form);
    dirty = false;
    staleNotice.hidden = true;
    form.addEventListener('input', () => (dirty = true));
    form.addEventListener('change', () => (dirty = true));
    form.addEventListener('submit', save);
    formSlot.replaceChildren(form);
  }

  function applyProject(p) {
    project = p;
    renderHeader();
    renderBanners();
    renderActions();
    renderReview();
    if (!form || !dirty) rebuildForm();
    else if (p.etag !== form.dataset.etag) staleNotice.hidden = false;
  }

  // --- server calls -------------------------------------------------------------
  async function save(e) {
    e.preventDefault();
    const status = form.querySelector('.form-status');
    const error = form.querySelector('.form-error');
    error.hidden = true;
    const changes = changedFields(snapshot, readProjectForm(form));
    if (!Object.keys(changes).length) {
      status.textContent = 'No changes.';
      return;
    }
    if (changes.title === '') {
      error.textContent = 'The title cannot be empty.';
      error.hidden = false;
      return;
    }
    const submit = form.querySelector('button[type=submit]');
    submit.disabled = true;
    status.textContent = 'Saving…';
    try {
      const updated = await api.patchProject(id, form.dataset.etag, changes);
      dirty = false;
      applyProject(updated);
      form.querySelector('.form-status').textContent = 'Saved.';
      ctx.refreshBoard().catch(() => {});
    } catch (err) {
      status.textContent = '';
      submit.disabled = false;
      if (err.status === 412) {
        dirty = false;
        await loadProject().catch(() => {});
        const fresh = form.querySelector('.form-error');
        fresh.textContent = 'Someone else changed this project while you were editing. It has been reloaded; your changes were not saved.';
        fresh.hidden = false;
        return;
      }
      error.textContent = errorText(err);
      error.hidden = false;
      if (err.status === 422) markInvalidField(form, err.message);
    }
  }

  /** Runs a project action; answers true when the server accepted it. */
  async function run(action, body) {
    actionError.hidden = true;
    const controls = [...actionsBody.querySelectorAll('button, select, textarea')];
    for (const c of controls) c.disabled = true;
    try {
      const updated = await api.projectAction(id, action, body);
      approveCommand = null;
      confirmingApproval = false;
      applyProject(updated);
      showToast(`${ACTION_DONE[action] || 'Done'}: ${updated.title}`);
      ctx.refreshBoard().catch(() => {});
      jobs.refresh();
      return true;
    } catch (err) {
      if (action === 'approve') confirmingApproval = false;
      if (action === 'approve' && err.body?.command) approveCommand = { command: err.body.command, message: err.message };
      if (err.status === 412) await loadProject().catch(() => {});
      else renderActions();
      actionError.textContent = err.status === 412 ? `${errorText(err)} — it changed elsewhere and has been reloaded.` : errorText(err);
      actionError.hidden = false;
      return false;
    } finally {
      for (const c of controls) c.disabled = false;
    }
  }

  async function loadProject() {
    const p = await api.project(id);
    applyProject(p);
  }

  async function loadTasks() {
    try {
      const tasks = await api.tasks({ project: id, all: true });
      replaceTaskRows(
        tasksList,
        tasks.length
          ? tasks.map((t) => taskRow(t, { canWrite, showProject: false, onChange: () => loadTasks() }))
          : [h('li', { class: 'muted empty' }, 'No tasks linked.')],
      );
    } catch (err) {
      tasksList.replaceChildren(h('li', { class: 'form-error' }, errorText(err)));
    }
    linkTask?.load();
  }

  /** "Link an existing task": a select of the open tasks no project has yet. */
  function buildLinkTaskForm() {
    let candidates = new Map();
    const select = h('select', { name: 'task', id: `link-task-${id}` });
    const submit = h('button', { type: 'submit', class: 'btn btn-small', dataset: { action: 'link-task' } }, 'Link');
    const status = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const showStatus = (message) => {
      status.textContent = message || '';
      status.hidden = !message;
    };
    const form = h(
      'form',
      { class: 'task-link-existing', 'aria-label': 'Link an existing task' },
      h('label', { class: 'field-label', for: `link-task-${id}` }, 'Link an existing task'),
      h('div', { class: 'task-link-row' }, select, submit),
      status,
    );

    async function load() {
      let open;
      try {
        open = (await api.tasks()).filter((t) => !t.project_id && !t.done_at);
      } catch (err) {
        showStatus(errorText(err));
        return;
      }
      const chosen = select.value;
      candidates = new Map(open.map((t) => [String(t.id), t]));
      select.replaceChildren(
        ...(open.length
          ? [h('option', { value: '' }, 'Choose a task…'), ...open.map((t) => h('option', { value: String(t.id), selected: String(t.id) === chosen }, t.title))]
          : [h('option', { value: '' }, 'No open unlinked tasks')]),
      );
      select.disabled = submit.disabled = !open.length;
    }

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const task = candidates.get(select.value);
      if (!task) {
        select.focus();
        return;
      }
      showStatus('');
      submit.disabled = true;
      try {
        await api.patchTask(task.id, task.etag, { project: id });
        select.value = '';
      } catch (err) {
        showStatus(err.status === 412 ? `${errorText(err)} — the list has been reloaded; try again.` : errorText(err));
      } finally {
        submit.disabled = false;
      }
      loadTasks();
    });
    return { form, load };
  }

  function commentForm() {
    const text = h('textarea', { name: 'comment', rows: 2, placeholder: 'Add a comment…', 'aria-label': 'Comment' });
    const status = h('p', { class: 'form-error', role: 'alert' });
    const form = h('form', { class: 'comment-form' }, text, h('button', { type: 'submit', class: 'btn', 'data-action': 'comment' }, 'Comment'), status);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!text.value.trim()) return;
      status.textContent = '';
      try {
        await api.addComment(id, text.value);
        text.value = '';
        loadActivity();
      } catch (err) {
        status.textContent = errorText(err);
      }
    });
    return form;
  }

  async function loadActivity() {
    try {
      // Comments are activity entries too (kind "comment"), so one list tells it all.
      const { activity } = await api.projectActivity(id);
      const items = activity.slice().sort((a, b) => b.id - a.id);
      activityList.replaceChildren(
        ...(items.length ? items.map((a) => activityItem(a, { showProject: false })) : [h('li', { class: 'muted empty' }, 'No activity.')]),
      );
    } catch (err) {
      activityList.replaceChildren(h('li', { class: 'form-error' }, errorText(err)));
    }
  }

  async function loadArtifacts() {
    const open = new Set([...artifactsBody.querySelectorAll('details[open]')].map((d) => d.dataset.path));
    try {
      const rendered = renderArtifacts(await api.projectArtifacts(id));
      if (open.size) for (const d of rendered.querySelectorAll('details')) d.open = open.has(d.dataset.path);
      artifactsBody.replaceChildren(rendered);
    } catch (err) {
      artifactsBody.replaceChildren(h('p', { class: 'form-error' }, errorText(err)));
    }
  }

  const refreshAll = coalesce(() => {
    loadProject().catch(() => {});
    jobs.refresh();
    loadArtifacts();
    loadActivity();
  }, 100);
  const refreshSide = coalesce(() => {
    loadActivity();
    loadTasks();
  }, 150);

  (async () => {
    try {
      await loadProject();
    } catch (err) {
      root.replaceChildren(
        h(
          'section',
          { class: 'page page-narrow empty-state' },
          h('h1', null, err.status === 404 ? 'No such project' : 'Could not load the project'),
          h('p', { class: 'form-error', role: 'alert' }, errorText(err)),
          h('a', { href: hrefFor('board'), class: 'btn' }, 'Back to the board'),
        ),
      );
      return;
    }
    root.replaceChildren(page);
    jobs.refresh();
    loadArtifacts();
    loadActivity();
    loadTasks();
  })();

  return {
    onBoard(board) {
      const card = findCard(board, id);
      const sig = JSON.stringify(card);
      if (card && sig !== cardSig) {
        cardSig = sig;
        refreshAll();
      }
    },
    onEvent(type, data) {
      if (type === 'job' && data?.project === id) jobs.refresh();
      else if (type === 'log' && data) jobs.onLog(data.job);
      else if (type === 'activity' && data?.project_id === id) refreshSide();
      else if (type === 'reconnect') {
        refreshAll();
        refreshSide();
      }
    },
    unmount() {
      jobs.destroy();
      refreshAll.cancel();
      refreshSide.cancel();
      document.title = 'Mission Control';
    },
  };
}
