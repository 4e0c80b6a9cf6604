// A project's job history and the log of one job, followed live while it runs.
//
// The panel's state is one object: {projectId, jobs, selected (the job whose log is
// shown), chosenByPerson (the person picked one: stop following the running job),
// lastLineId, showRaw, logState (the shown job's state, as its last log page said),
// pollTimer, destroyed, fetchLog, ui (the elements)}.

import { api } from './api.js';
import { h, serialized, errorLine, showMessage } from './dom.js';
import { timeAgo, elapsedSince, fmtElapsed, parseDate } from './format.js';
import { errorText } from './toast.js';

const LOG_POLL_MS = 1500;
const ACTIVE = new Set(['queued', 'running']);

export function createJobsPanel(projectId) {
  const panel = {
    projectId,
    jobs: [],
    selected: null,
    chosenByPerson: false,
    lastLineId: 0,
    showRaw: false,
    logState: null,
    pollTimer: null,
    destroyed: false,
    ui: buildPanel(),
  };
  // One page of the selected job's log after the last line shown; never two at once.
  panel.fetchLog = serialized(() => fetchLog(panel));
  panel.ui.raw.addEventListener('change', (e) => {
    panel.showRaw = e.target.checked;
    panel.lastLineId = 0;
    panel.ui.log.replaceChildren();
    panel.fetchLog();
  });
  return {
    el: panel.ui.el,
    refresh: () => refresh(panel),
    onLog(jobId) {
      if (jobId === panel.selected) panel.fetchLog();
    },
    destroy() {
      panel.destroyed = true;
      clearTimeout(panel.pollTimer);
    },
  };
}

function buildPanel() {
  const list = h('ol', { class: 'job-list' });
  const logTitle = h('h3', { class: 'log-title' });
  const logState = h('span', { class: 'log-state muted' });
  const log = h('pre', { class: 'log', tabindex: 0, 'aria-label': 'Job log', 'aria-live': 'off' });
  // The agent's steps in words; "Raw" shows the lines as the CLI printed them (its JSON).
  const raw = h('input', { type: 'checkbox', dataset: { action: 'log-raw' } });
  const rawToggle = h('label', { class: 'log-raw muted' }, raw, ' Raw');
  const logBox = h('div', { class: 'log-box', hidden: true }, h('div', { class: 'log-head' }, logTitle, logState, rawToggle), log);
  const error = errorLine();
  const el = h('div', { class: 'jobs' }, list, error, logBox);
  return { el, list, error, logBox, logTitle, logState, raw, log };
}

// --- the job list ---------------------------------------------------------------
async function refresh(panel) {
  try {
    panel.jobs = (await api.jobs(panel.projectId)).slice().sort((a, b) => b.id - a.id);
    showMessage(panel.ui.error, '');
  } catch (err) {
    showMessage(panel.ui.error, errorText(err));
    return;
  }
  const active = panel.jobs.find((j) => ACTIVE.has(j.state));
  // Follow the running job unless the person picked one to read.
  const target = (!panel.chosenByPerson && (active || panel.jobs[0])) || null;
  if (target && target.id !== panel.selected) select(panel, target.id);
  else {
    renderList(panel);
    if (panel.selected != null && !ACTIVE.has(panel.logState)) panel.fetchLog();
  }
}

function renderList(panel) {
  const { jobs, selected } = panel;
  if (!jobs.length) {
    panel.ui.list.replaceChildren(h('li', { class: 'muted empty' }, 'No jobs yet.'));
    return;
  }
  panel.ui.list.replaceChildren(...jobs.map((job) => jobItem(job, job.id === selected, () => select(panel, job.id, true))));
}

function jobItem(job, isSelected, onSelect) {
  return h(
    'li',
    { class: `job job-${job.state}${isSelected ? ' is-selected' : ''}`, dataset: { job: job.id } },
    h(
      'button',
      { type: 'button', class: 'job-row', 'aria-pressed': isSelected ? 'true' : 'false', title: 'Show the log', onclick: onSelect },
      h('span', { class: 'job-id' }, `#${job.id}`),
      h('span', { class: 'job-kind' }, job.kind),
      h('span', { class: `badge badge-${job.state}`, dataset: { badge: job.state } }, job.state),
      h('span', { class: 'muted' }, `attempt ${job.attempts}/${job.max_attempts}`),
      job.worker && h('span', { class: 'muted' }, job.worker),
      h('span', { class: 'job-time' }, timeAgo(job.started_at || job.created_at)),
      duration(job),
    ),
    job.notes && h('p', { class: 'job-notes' }, h('strong', null, 'Notes: '), job.notes),
    job.last_error && h('pre', { class: 'job-error' }, job.last_error),
  );
}

function duration(job) {
  if (!job.started_at) return null;
  if (!job.finished_at) return job.state === 'running' ? elapsedSince(job.started_at) : null;
  const seconds = (parseDate(job.finished_at) - parseDate(job.started_at)) / 1000;
  return h('span', { class: 'muted' }, fmtElapsed(seconds));
}

/** Shows the log of job `jobId` (byPerson: the person chose it, so stop following the running job). */
function select(panel, jobId, byPerson = false) {
  if (byPerson) panel.chosenByPerson = true;
  if (jobId === panel.selected) return;
  panel.selected = jobId;
  panel.lastLineId = 0;
  panel.logState = null;
  panel.ui.log.replaceChildren();
  const job = panel.jobs.find((j) => j.id === jobId);
  panel.ui.logTitle.textContent = job ? `Log of job #${job.id} (${job.kind})` : `Log of job #${jobId}`;
  panel.ui.logBox.hidden = false;
  renderList(panel);
  panel.fetchLog();
}

// --- the log ------------------------------------------------------------------------
async function fetchLog(panel) {
  if (panel.selected == null || panel.destroyed) return;
  clearTimeout(panel.pollTimer);
  const jobId = panel.selected;
  try {
    const page = await api.jobLog(jobId, panel.lastLineId);
    if (jobId !== panel.selected) return;
    showLogPage(panel, page);
  } catch (err) {
    panel.ui.logState.textContent = errorText(err);
  } finally {
    // SSE "log" events also trigger fetches; the poll covers polling mode and missed events.
    if (!panel.destroyed && panel.selected === jobId && ACTIVE.has(panel.logState)) panel.pollTimer = setTimeout(panel.fetchLog, LOG_POLL_MS);
  }
}

/** Appends a page's new lines, staying at the bottom if the person was there. */
function showLogPage(panel, page) {
  const { log, logState } = panel.ui;
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  for (const line of page.lines) {
    if (line.id <= panel.lastLineId) continue;
    panel.lastLineId = line.id;
    log.append(logLine(line, panel.showRaw));
  }
  if (atBottom) log.scrollTop = log.scrollHeight;
  panel.logState = page.state;
  logState.textContent = page.state;
  if (!log.firstChild) log.append(h('span', { class: 'muted log-empty' }, ACTIVE.has(page.state) ? 'Waiting for output…\n' : 'No output.\n'));
  else log.querySelector('.log-empty')?.remove();
}

function logLine(line, showRaw) {
  const words = !showRaw && line.shown;
  return h(
    'span',
    { class: `log-line log-${line.stream}${words ? ' log-step' : ''}`, title: words ? line.text.trim() : line.at },
    words ? `${line.shown}\n` : `${line.text}\n`,
  );
}
