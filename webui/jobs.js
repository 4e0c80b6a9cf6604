// A project's job history and the log of one job, followed live while it runs.

import { api } from './api.js';
import { h, serialized, errorLine, showMessage } from './dom.js';
import { timeAgo, elapsedSince, fmtElapsed, parseDate } from './format.js';
import { errorText } from './toast.js';

const LOG_POLL_MS = 1500;
const ACTIVE = new Set(['queued', 'running']);

function duration(job) {
  if (!job.started_at) return null;
  if (!job.finished_at) return job.state === 'running' ? elapsedSince(job.started_at) : null;
  const seconds = (parseDate(job.finished_at) - parseDate(job.started_at)) / 1000;
  return h('span', { class: 'muted' }, fmtElapsed(seconds));
}

export function createJobsPanel(projectId) {
  const list = h('ol', { class: 'job-list' });
  const logTitle = h('h3', { class: 'log-title' });
  const logState = h('span', { class: 'log-state muted' });
  const log = h('pre', { class: 'log', tabindex: 0, 'aria-label': 'Job log', 'aria-live': 'off' });
  // The agent's steps in words; "Raw" shows the lines as the CLI printed them (its JSON).
  const rawToggle = h('label', { class: 'log-raw muted' }, h('input', { type: 'checkbox', dataset: { action: 'log-raw' } }), ' Raw');
  const logBox = h('div', { class: 'log-box', hidden: true }, h('div', { class: 'log-head' }, logTitle, logState, rawToggle), log);
  const error = errorLine();
  const el = h('div', { class: 'jobs' }, list, error, logBox);

  let jobs = [];
  let selected = null; // job id whose log is shown
  let chosenByPerson = false;
  let lastLineId = 0;
  let showRaw = false;
  rawToggle.querySelector('input').addEventListener('change', (e) => {
    showRaw = e.target.checked;
    lastLineId = 0;
    log.replaceChildren();
    fetchLog();
  });

  function logLine(line) {
    const words = !showRaw && line.shown;
    return h(
      'span',
      { class: `log-line log-${line.stream}${words ? ' log-step' : ''}`, title: words ? line.text.trim() : line.at },
      words ? `${line.shown}\n` : `${line.text}\n`,
    );
  }
  let logState_ = null;
  let pollTimer = null;
  let destroyed = false;

  // One page of the selected job's log after the last line shown; never two at once.
  const fetchLog = serialized(async () => {
    if (selected == null || destroyed) return;
    clearTimeout(pollTimer);
    const jobId = selected;
    try {
      const page = await api.jobLog(jobId, lastLineId);
      if (jobId !== selected) return;
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
      for (const line of page.lines) {
        if (line.id <= lastLineId) continue;
        lastLineId = line.id;
        log.append(logLine(line));
      }
      if (atBottom) log.scrollTop = log.scrollHeight;
      logState_ = page.state;
      logState.textContent = page.state;
      if (!log.firstChild) log.append(h('span', { class: 'muted log-empty' }, ACTIVE.has(page.state) ? 'Waiting for output…\n' : 'No output.\n'));
      else log.querySelector('.log-empty')?.remove();
    } catch (err) {
      logState.textContent = errorText(err);
    } finally {
      // SSE "log" events also trigger fetches; the poll covers polling mode and missed events.
      if (!destroyed && selected === jobId && ACTIVE.has(logState_)) pollTimer = setTimeout(fetchLog, LOG_POLL_MS);
    }
  });

  function renderList() {
    if (!jobs.length) {
      list.replaceChildren(h('li', { class: 'muted empty' }, 'No jobs yet.'));
      return;
    }
    list.replaceChildren(
      ...jobs.map((job) =>
        h(
          'li',
          { class: `job job-${job.state}${job.id === selected ? ' is-selected' : ''}`, dataset: { job: job.id } },
          h(
            'button',
            {
              type: 'button',
              class: 'job-row',
              'aria-pressed': job.id === selected ? 'true' : 'false',
              title: 'Show the log',
              onclick: () => select(job.id, true),
            },
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
        ),
      ),
    );
  }

  function select(jobId, byPerson = false) {
    if (byPerson) chosenByPerson = true;
    if (jobId === selected) return;
    selected = jobId;
    lastLineId = 0;
    logState_ = null;
    log.replaceChildren();
    const job = jobs.find((j) => j.id === jobId);
    logTitle.textContent = job ? `Log of job #${job.id} (${job.kind})` : `Log of job #${jobId}`;
    logBox.hidden = false;
    renderList();
    fetchLog();
  }


  async function refresh() {
    try {
      jobs = (await api.jobs(projectId)).slice().sort((a, b) => b.id - a.id);
      showMessage(error, '');
    } catch (err) {
      showMessage(error, errorText(err));
      return;
    }
    const active = jobs.find((j) => ACTIVE.has(j.state));
    // Follow the running job unless the person picked one to read.
    const target = (!chosenByPerson && (active || jobs[0])) || null;
    if (target && target.id !== selected) select(target.id);
    else {
      renderList();
      if (selected != null && !ACTIVE.has(logState_)) fetchLog();
    }
  }

  return {
    el,
    refresh,
    onLog(jobId) {
      if (jobId === selected) fetchLog();
    },
    destroy() {
      destroyed = true;
      clearTimeout(pollTimer);
    },
  };
}
