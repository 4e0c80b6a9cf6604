// Lane names, priorities, and the small badges and controls shared by cards, tasks and the project page.

import { h, options } from './dom.js';
import { elapsedSince, fmtShortDate, fmtDateTime } from './format.js';

export const LANES = ['backlog', 'up-next', 'in-progress', 'review', 'done'];

const LANE_LABELS = {
  backlog: 'Backlog',
  'up-next': 'Up next',
  'in-progress': 'In progress',
  review: 'Review',
  done: 'Done',
};

export function laneLabel(lane) {
  return LANE_LABELS[lane] || lane;
}

/**
 * A "Move to…" select of the lanes other than `current` (only those in `allowed`, the
 * moves the person may make, when given); onPick(lane) when one is chosen.
 */
export function moveSelect(current, attrs, onPick, allowed = null) {
  const select = h(
    'select',
    { class: 'move-select', ...attrs },
    h('option', { value: '' }, 'Move to…'),
    LANES.filter((l) => l !== current && (!allowed || allowed.includes(l))).map((l) => h('option', { value: l }, laneLabel(l))),
  );
  select.addEventListener('change', () => {
    if (select.value) onPick(select.value);
  });
  return select;
}

const PRIORITIES = [[1, 'P1 — highest'], [2, 'P2'], [3, 'P3'], [4, 'P4 — lowest']];

/** The <option>s of a priority select: `none` labels the empty choice. */
export function priorityOptions(none, selected) {
  return options([['', none], ...PRIORITIES], selected);
}

function badge(kind, text, title, ...extra) {
  return h('span', { class: `badge badge-${kind}`, dataset: { badge: kind }, title: title || null }, text, ...extra);
}

export function laneBadge(lane) {
  return h('span', { class: `lane-chip lane-chip-${lane}`, dataset: { lane } }, laneLabel(lane));
}

export function priorityBadge(priority) {
  if (priority == null) return null;
  return h('span', { class: `priority priority-${priority}`, title: `Priority ${priority} (1 is highest)` }, `P${priority}`);
}

export function dueBadge(due, overdue) {
  if (!due) return null;
  return h(
    'span',
    { class: overdue ? 'due overdue' : 'due', title: `${overdue ? 'Overdue — due' : 'Due'} ${fmtDateTime(due)}` },
    fmtShortDate(due),
  );
}

/** The badge for a project's current job, or null when there is nothing to say. */
export function jobBadge(job) {
  if (!job) return null;
  const what = job.kind === 'review' ? 'review' : 'agent';
  const attempts = `attempt ${job.attempts}/${job.max_attempts}`;
  if (job.retrying) {
    return badge('retrying', `retrying ${job.attempts}/${job.max_attempts}`, job.last_error || attempts);
  }
  switch (job.state) {
    case 'running':
      return badge('running', `${what} running `, attempts, job.started_at ? elapsedSince(job.started_at) : null);
    case 'queued':
      return badge('queued', `${what} queued`, attempts);
    case 'dead':
      return badge('dead', `${what} failed`, job.last_error || `gave up after ${job.attempts} attempts`);
    case 'cancelled':
      return badge('cancelled', `${what} cancelled`, job.last_error);
    default:
      return null;
  }
}

/** Every badge a card shows besides title, archetype and due. */
export function statusBadges(card) {
  return [
    jobBadge(card.job),
    card.review && badge(
      card.review.verdict === 'pass' ? 'review-pass' : 'review-fail',
      card.review.verdict === 'pass' ? '✓ review passed' : '✗ review failed',
      card.review.notes,
    ),
    card.ready_for_human && card.lane !== 'done' && badge('ready', 'ready for approval', 'A person can approve this project'),
    card.needs_human && badge('needs-human', 'needs human', card.needs_human),
    card.invalid && badge('invalid', 'invalid file', card.invalid),
    card.violation && badge('violation', 'violation', card.violation),
  ];
}

// What being over a lane's WIP limit means for the person, lane by lane.
const WIP_CONSEQUENCES = {
  backlog: 'park or cancel some before adding more',
  'up-next': 'queued work waits until in progress has room',
  'in-progress': 'no new project starts until one finishes',
  review: 'waiting for you',
  done: 'finished work piles up',
};

/**
 * The sentence for a lane over its WIP limit ("3 over the review limit of 10: waiting for
 * you"), or '' when it is within it. The one place the board says what "20 / 10" means.
 */
export function wipSentence(lane, count, limit) {
  if (limit == null || count <= limit) return '';
  const which = lane === 'review' ? 'the review limit' : 'the limit';
  const consequence = WIP_CONSEQUENCES[lane];
  return `${count - limit} over ${which} of ${limit}${consequence ? `: ${consequence}` : ''}`;
}

/** Shows (or hides) the WIP sentence under a lane's header; the element is made on first use. */
export function showWipNote(section, lane) {
  const text = wipSentence(lane.name, lane.count ?? lane.projects.length, lane.wip_limit);
  let note = section.querySelector(':scope > .lane-wip');
  if (!note && !text) return;
  if (!note) {
    note = h('p', { class: 'lane-wip', role: 'note' });
    section.querySelector(':scope > .lane-header').after(note);
  }
  note.textContent = text;
  note.hidden = !text;
}
