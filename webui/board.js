// The five-lane board: lanes, cards, drag and drop, and a keyboard "Move to…" select.
// The filter bar is boardfilters.js.
//
// One object holds the view's state: {ctx, canWrite, filterBar, el, lanes (lane -> its
// elements), cards (id -> {el, sig}), dragging ({id, from} during a drag), deferredBoard
// (a board answer that came during a drag, shown after it)}.

import { api } from './api.js';
import { h, coalesce } from './dom.js';
import { LANES, laneLabel, priorityBadge, dueBadge, statusBadges, moveSelect, showWipNote } from './badges.js';
import { findCard } from './boarddata.js';
import { createFilterBar, matches } from './boardfilters.js';
import { navigate, projectHref } from './router.js';
import { showToast, errorText } from './toast.js';

export function mountBoard(root, ctx, route) {
  const view = { ctx, canWrite: ctx.isHuman, cards: new Map(), lanes: new Map(), dragging: null, deferredBoard: null };
  view.filterBar = createFilterBar(route.params, () => render(view, ctx.board, true));
  view.el = buildLanes(view);
  root.append(h('div', { class: 'board-page' }, view.filterBar.el, view.el));

  if (ctx.board) render(view, ctx.board);
  else view.el.classList.add('loading');
  const steps = followSteps(view.el);

  return {
    onBoard(board) {
      view.el.classList.remove('loading');
      render(view, board);
    },
    onEvent(type, data) {
      if (type === 'log' && data?.job != null) steps.refresh(data.job);
    },
    unmount() {
      steps.cancel();
    },
  };
}

// --- lanes ------------------------------------------------------------------
function buildLanes(view) {
  const el = h('div', { class: 'board', 'aria-label': 'Board' });
  for (const lane of LANES) {
    const count = h('span', { class: 'lane-count' });
    const shown = h('span', { class: 'lane-shown muted' });
    const list = h('div', { class: 'lane-cards', role: 'list', 'aria-label': laneLabel(lane) });
    const section = h(
      'section',
      { class: `lane lane-${lane}`, dataset: { lane }, 'aria-label': laneLabel(lane) },
      h('header', { class: 'lane-header' }, h('h2', { class: 'lane-title' }, laneLabel(lane)), shown, count),
      list,
    );
    if (view.canWrite) addDropTarget(view, section, lane);
    view.lanes.set(lane, { section, list, count, shown });
    el.append(section);
  }
  return el;
}

function addDropTarget(view, section, lane) {
  section.addEventListener('dragover', (e) => {
    if (!view.dragging && !e.dataTransfer.types.includes('text/x-mc-project')) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'move';
    section.classList.add('drop-target');
  });
  section.addEventListener('dragleave', (e) => {
    if (!section.contains(e.relatedTarget)) section.classList.remove('drop-target');
  });
  section.addEventListener('drop', (e) => {
    e.preventDefault();
    section.classList.remove('drop-target');
    const id = view.dragging?.id || e.dataTransfer.getData('text/x-mc-project') || e.dataTransfer.getData('text/plain');
    const from = view.dragging?.from || findCard(view.ctx.board, id)?.lane;
    if (id && from) moveCard(view, id, from, lane);
  });
}

async function moveCard(view, id, from, to) {
  if (from === to) return;
  const { ctx } = view;
  const entry = view.cards.get(id);
  const title = findCard(ctx.board, id)?.title || id;
  if (entry) {
    // Optimistic: show it in the target lane while the server decides.
    entry.el.classList.add('pending');
    view.lanes.get(to).list.append(entry.el);
    entry.el.focus({ preventScroll: true });
  }
  try {
    await api.move(id, to);
    await ctx.refreshBoard().catch(() => {});
  } catch (err) {
    showToast(`Cannot move “${title}” to ${laneLabel(to)}: ${errorText(err)}`, { kind: 'error' });
    render(view, ctx.board, true); // puts the card back where the board says it is
  } finally {
    const current = view.cards.get(id);
    if (current) {
      current.el.classList.remove('pending');
      const select = current.el.querySelector('.move-select');
      if (select) select.value = '';
    }
  }
}

// --- cards ------------------------------------------------------------------
function cardElement(view, card) {
  const { canWrite } = view;
  const el = h(
    'article',
    {
      class: `card${card.invalid || card.violation ? ' card-flagged' : ''}`,
      role: 'listitem',
      tabindex: 0,
      draggable: canWrite ? 'true' : null,
      dataset: { project: card.id, lane: card.lane },
      'aria-label': `${card.title} (${card.id})`,
    },
    h('div', { class: 'card-top' }, h('span', { class: 'card-id' }, card.id), priorityBadge(card.priority), dueBadge(card.due, card.overdue)),
    h('h3', { class: 'card-title' }, card.title),
    h(
      'div',
      { class: 'card-meta' },
      h('span', { class: 'chip chip-archetype' }, card.archetype),
      card.model && h('span', { class: 'chip chip-model', title: 'Model' }, card.model),
      card.owner && h('span', { class: 'chip chip-owner', title: 'Owner' }, `@${card.owner}`),
      card.labels.map((l) => h('span', { class: 'chip chip-label' }, l)),
    ),
    h('div', { class: 'card-badges' }, statusBadges(card)),
    card.job?.state === 'running' && h('p', { class: 'card-step muted', dataset: { job: card.job.id } }, card.job.last_step || ''),
    canWrite && card.lane !== 'done' && moveSelect(card.lane, { 'aria-label': `Move ${card.title} to…`, title: 'Move to…' }, (lane) => moveCard(view, card.id, card.lane, lane)),
  );
  opensProject(el, card.id);
  if (canWrite) makeDraggable(view, el, card);
  return el;
}

/** A click on the card (not on one of its controls) or Enter on it opens the project. */
function opensProject(el, id) {
  el.addEventListener('click', (e) => {
    if (!e.target.closest('select, a, button, input')) navigate(projectHref(id));
  });
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && e.target === el) {
      e.preventDefault();
      navigate(projectHref(id));
    }
  });
}

function makeDraggable(view, el, card) {
  el.addEventListener('dragstart', (e) => {
    if (e.target !== el) return;
    view.dragging = { id: card.id, from: card.lane };
    e.dataTransfer.effectAllowed = 'move';
    e.dataTransfer.setData('text/x-mc-project', card.id);
    e.dataTransfer.setData('text/plain', card.id);
    el.classList.add('dragging');
  });
  el.addEventListener('dragend', () => {
    el.classList.remove('dragging');
    for (const { section } of view.lanes.values()) section.classList.remove('drop-target');
    view.dragging = null;
    if (view.deferredBoard) {
      const board = view.deferredBoard;
      view.deferredBoard = null;
      render(view, board);
    }
  });
}

// --- render -----------------------------------------------------------------
/** Shows a board answer; card elements are reused while their card has not changed. */
function render(view, board, force = false) {
  if (!board) return;
  if (view.dragging && !force) {
    view.deferredBoard = board; // re-rendering would drop the card being dragged
    return;
  }
  const focusedId = document.activeElement?.closest?.('[data-project]')?.dataset.project;
  const focusedSelect = document.activeElement?.classList?.contains('move-select');
  view.filterBar.update(board);
  const seen = new Set();
  for (const lane of board.lanes) {
    const parts = view.lanes.get(lane.name);
    if (parts) renderLane(view, parts, lane, seen);
  }
  for (const id of [...view.cards.keys()]) if (!seen.has(id)) view.cards.delete(id);
  if (focusedId && document.activeElement === document.body) {
    const el = view.cards.get(focusedId)?.el;
    (focusedSelect ? el?.querySelector('.move-select') : el)?.focus({ preventScroll: true });
  }
}

/** One lane: its count against the WIP limit, and the cards that pass the filters (ids into `seen`). */
function renderLane(view, parts, lane, seen) {
  const total = lane.projects.length;
  const over = lane.wip_limit != null && total > lane.wip_limit;
  parts.count.textContent = lane.wip_limit != null ? `${total} / ${lane.wip_limit}` : String(total);
  parts.count.classList.toggle('over', over);
  parts.count.title = lane.wip_limit != null ? `${total} projects, WIP limit ${lane.wip_limit}${over ? ' — over the limit' : ''}` : `${total} projects`;
  parts.section.classList.toggle('over-limit', over);
  showWipNote(parts.section, lane);

  const visible = lane.projects.filter((c) => matches(c, view.filterBar.filters));
  parts.shown.textContent = visible.length !== total ? `${visible.length} shown` : '';
  const wanted = visible.map((card) => {
    seen.add(card.id);
    const sig = JSON.stringify(card);
    let entry = view.cards.get(card.id);
    if (!entry || entry.sig !== sig) {
      entry = { el: cardElement(view, card), sig };
      view.cards.set(card.id, entry);
    }
    return entry.el;
  });
  const current = [...parts.list.children].filter((el) => el.dataset.project);
  const same = current.length === wanted.length && current.every((el, i) => el === wanted[i]);
  if (!same || wanted.length === 0) {
    parts.list.replaceChildren(...(wanted.length ? wanted : [h('p', { class: 'lane-empty muted' }, total ? 'No matches' : 'Empty')]));
  }
}

// --- live steps ---------------------------------------------------------------
/**
 * A running agent's latest step on its card, as its log grows (one fetch per job per
 * second at most; the board itself is not fetched again for a log line).
 */
function followSteps(boardEl) {
  const fetchers = new Map();
  function refresh(jobId) {
    if (!fetchers.has(jobId)) {
      fetchers.set(
        jobId,
        coalesce(async () => {
          const line = boardEl.querySelector(`.card-step[data-job="${CSS.escape(String(jobId))}"]`);
          if (!line) return;
          try {
            const job = await api.job(jobId);
            if (job.last_step) line.textContent = job.last_step;
          } catch {
            // the next log line tries again
          }
        }, 1000),
      );
    }
    fetchers.get(jobId)();
  }
  return { refresh, cancel: () => fetchers.forEach((f) => f.cancel()) };
}
