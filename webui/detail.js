// The project page (#/project/ID): fields, actions, review, jobs and logs, artifacts, tasks, activity.
//
// Each panel is built by its own module (detail/*.js, jobs.js, artifacts.js) from one page
// object: {id, ctx, canWrite, project, jobs, applyProject(p), loadProject()}. A version of
// the project the server answers goes through applyProject, which shows it in every panel.

import { api } from './api.js';
import { h, panel, coalesce } from './dom.js';
import { findCard } from './boarddata.js';
import { createJobsPanel } from './jobs.js';
import { createArtifactsPanel } from './artifacts.js';
import { hrefFor } from './router.js';
import { errorText } from './toast.js';
import { renderHeader, renderBanners, renderReview } from './detail/summary.js';
import { createDiffPanel } from './detail/diff.js';
import { createActions } from './detail/actions.js';
import { createEditPanel } from './detail/edit.js';
import { createTasksPanel } from './detail/tasks.js';
import { createActivityPanel } from './detail/activity.js';
import { createTimelinePanel } from './detail/timeline.js';
import { createIntegratePanel } from './detail/integrate.js';
import { setTitle } from './attention.js';

export function mountDetail(root, ctx, route) {
  const page = { id: route.arg, ctx, canWrite: ctx.isHuman, project: null, jobs: createJobsPanel(route.arg) };
  const parts = createParts(page);
  page.applyProject = (p) => showProject(page, parts, p);
  page.loadProject = async () => page.applyProject(await api.project(page.id));
  const view = followChanges(page, parts);
  root.append(h('p', { class: 'muted loading-text' }, 'Loading…'));
  open(root, page, parts);
  return view;
}

function createParts(page) {
  return {
    header: h('header', { class: 'detail-header' }),
    banners: h('div', { class: 'banners' }),
    review: h('div', { class: 'review' }),
    actions: page.canWrite ? createActions(page) : null,
    integrate: createIntegratePanel(page),
    edit: createEditPanel(page),
    diff: createDiffPanel(page), // shown for coder projects (see layout)
    artifacts: createArtifactsPanel(page.id),
    tasks: createTasksPanel(page),
    activity: createActivityPanel(page),
    timeline: createTimelinePanel(page),
  };
}

function layout(page, parts) {
  return h(
    'div',
    { class: 'detail', dataset: { project: page.id } },
    h('nav', { class: 'breadcrumb' }, h('a', { href: hrefFor('board') }, '← Board')),
    parts.header,
    parts.banners,
    h(
      'div',
      { class: 'detail-grid' },
      h(
        'div',
        { class: 'detail-main' },
        parts.actions && panel('Actions', parts.actions.el),
        parts.integrate.el,
        isCoder(page) && panel('Changes', parts.diff.el),
        panel('Project', ...parts.edit.els),
        panel('Review', parts.review),
        panel('Jobs', page.jobs.el),
        panel('Artifacts', parts.artifacts.el),
      ),
      h('aside', { class: 'detail-side' }, panel('Tasks', ...parts.tasks.els), panel('Activity', ...parts.activity.els), panel('Timeline', parts.timeline.el)),
    ),
  );
}

/** A project whose runs make a change to review: a coder, or any with a workspace. */
function isCoder(page) {
  return page.project?.archetype === 'coder' || Boolean(page.project?.data?.workspace);
}

function showProject(page, parts, p) {
  page.project = p;
  renderHeader(parts.header, p);
  renderBanners(parts.banners, p);
  parts.actions?.render();
  parts.integrate.update();
  renderReview(parts.review, p);
  parts.edit.update();
}

/** Loads the project, then shows the page and fills the panels that load on their own. */
async function open(root, page, parts) {
  // The change loads with the project, not after it: for a coder card, or when the board
  // has not loaded yet (a page opened by its link), where a guess costs two small requests.
  const card = findCard(page.ctx.board, page.id);
  if (!card || card.archetype === 'coder') parts.diff.prefetch().catch(() => {});
  try {
    await page.loadProject();
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
  root.replaceChildren(layout(page, parts));
  if (isCoder(page)) parts.diff.load();
  page.jobs.refresh();
  parts.artifacts.load();
  parts.activity.load();
  parts.tasks.load();
  parts.timeline.load();
}

/** The view's hooks: the board, the live events and leaving the page. */
function followChanges(page, parts) {
  let cardSig = JSON.stringify(findCard(page.ctx.board, page.id));
  const refreshAll = coalesce(() => {
    if (isCoder(page)) parts.diff.load({ quiet: true });
    page.loadProject().catch(() => {});
    page.jobs.refresh();
    parts.artifacts.load();
    parts.activity.load();
    parts.timeline.load();
  }, 100);
  const refreshSide = coalesce(() => {
    parts.activity.load();
    parts.tasks.load();
  }, 150);
  return {
    onBoard(board) {
      const card = findCard(board, page.id);
      const sig = JSON.stringify(card);
      if (card && sig !== cardSig) {
        cardSig = sig;
        refreshAll();
      }
    },
    onEvent(type, data) {
      if (type === 'board' && data?.cards?.some((c) => c.id === page.id)) refreshAll(); // also when not on a loaded page
      if (type === 'job' && data?.project === page.id) page.jobs.refresh();
      else if (type === 'log' && data) page.jobs.onLog(data.job);
      else if (type === 'activity' && data?.project_id === page.id) refreshSide();
      else if (type === 'reconnect') {
        refreshAll();
        refreshSide();
      }
    },
    unmount() {
      page.jobs.destroy();
      refreshAll.cancel();
      refreshSide.cancel();
      setTitle('Mission Control');
    },
  };
}
