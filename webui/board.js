// The five-lane board: lanes, cards, drag and drop, and a keyboard "Move to…" select.
// The filter bar is boardfilters.js.
//
// One object holds the view's state: {ctx, canWrite, filterBar, el, lanes (lane -> its
// elements), cards (id -> {el, sig}), dragging ({id, from} during a drag), deferredBoard
// (a board answer that came during a drag, shown after it), search (the server's answer
// for the filters, see searchLanes)}.
//
// At scale (10,000 projects) the board answer holds each lane's first page; "Show more"
// loads the next, a live event patches single cards (app.js), and filters that must see
// the cards not loaded ask the server (boardfilters.js matches() for those loaded).
// Only the moves the server's rules allow this person are offered (boarddata.movesFor).

import { api } from './api.js';
import { h, coalesce } from './dom.js';
import { LANES, laneLabel, priorityBadge, dueBadge, statusBadges, moveSelect, showWipNote } from './badges.js';
import { findCard, markEdge, movesFor } from './boarddata.js';
import { createFilterBar, matches, filtersKey } from './boardfilters.js';
import { navigate, projectHref } from './router.js';
import { showToast, errorText } from './toast.js';

export function mountBoard(root, ctx, route) {
  const view = { ctx, canWrite: ctx.isHuman, cards: new Map(), lanes: new Map(), dragging: null, deferredBoard: null, search: null };
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
    onPatch(board) {
      render(view, board); // unchanged cards keep their elements
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
    if (!view.dragging?.moves.includes(lane)) return; // not a move this person may make
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
    if (view.dragging?.moves.includes(lane)) moveCard(view, view.dragging.id, view.dragging.from, lane);
  });
}

async function moveCard(view, id, from, to) {
  if (from === to) return;
  if (to === 'done') {
    // Done is final: an approval takes the project page's explicit, signed step
    navigate(projectHref(id));
    return;
  }
  const { ctx } = view;
  const entry = view.cards.get(id);
  const title = findCard(ctx.board, id)?.title || id;
  if (entry) {
    // Optimistic: show it in the target lane while the server decides.
    entry.el.classList.add('pending');
    const list = view.lanes.get(to).list;
    list.insertBefore(entry.el, list.querySelector(':scope > .show-more'));
    entry.el.focus({ preventScroll: true });
  }
  try {
    await api.move(id, to);
    // the commit's board event moves the card for good (app.js applyBoardEvent)
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
  const moves = view.canWrite ? movesFor(view.ctx.board, card) : [];
  const canWrite = moves.length > 0;
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
    canWrite && moveSelect(card.lane, { 'aria-label': `Move ${card.title} to…`, title: 'Move to…' }, (lane) => moveCard(view, card.id, card.lane, lane), moves),
  );
  opensProject(el, card.id);
  if (canWrite) makeDraggable(view, el, card, moves);
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

function makeDraggable(view, el, card, moves) {
  el.addEventListener('dragstart', (e) => {
    if (e.target !== el) return;
    view.dragging = { id: card.id, from: card.lane, moves };
    for (const lane of moves) view.lanes.get(lane)?.section.classList.add('drop-allowed');
    e.dataTransfer.effectAllowed = 'move';
    e.dataTransfer.setData('text/x-mc-project', card.id);
    e.dataTransfer.setData('text/plain', card.id);
    el.classList.add('dragging');
  });
  el.addEventListener('dragend', () => {
    el.classList.remove('dragging');
    for (const { section } of view.lanes.values()) section.classList.remove('drop-target', 'drop-allowed');
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
  for (const lane of searchLanes(view, board)) {
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
  const total = lane.count ?? lane.projects.length;
  const over = lane.wip_limit != null && total > lane.wip_limit;
  parts.count.textContent = lane.wip_limit != null ? `${total} / ${lane.wip_limit}` : String(total);
  parts.count.classList.toggle('over', over);
  parts.count.title = lane.wip_limit != null ? `${total} projects, WIP limit ${lane.wip_limit}${over ? ' — over the limit' : ''}` : `${total} projects`;
  parts.section.classList.toggle('over-limit', over);
  showWipNote(parts.section, lane);

  const visible = lane.projects.filter((c) => matches(c, view.filterBar.filters));
  const found = lane.matched ?? visible.length; // a server search counts what it did not send
  const filtering = Boolean(filtersKey(view.filterBar.filters));
  parts.shown.textContent = filtering && found !== total ? `${found} shown` : '';
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
  if (lane.next && lane.matched == null) wanted.push(showMore(view, parts, lane));
  const current = [...parts.list.children];
  const same = current.length === wanted.length && current.every((el, i) => el === wanted[i]);
  if (!same || wanted.length === 0) {
    parts.list.replaceChildren(...(wanted.length ? wanted : [h('p', { class: 'lane-empty muted' }, total ? 'No matches' : 'Empty')]));
  }
}

// --- pages and search ----------------------------------------------------------
/** "Show more": the lane's next page, added to the cards the board holds (one button per page). */
function showMore(view, parts, lane) {
  const left = (lane.count ?? 0) - lane.projects.length;
  const key = `${lane.next} ${left}`;
  if (parts.more?.key === key) return parts.more.el;
  const button = h('button', { type: 'button', class: 'btn btn-ghost show-more', dataset: { lane: lane.name } }, `Show more (${left} more)`);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const page = await api.boardPage(lane.name, lane.next);
      const held = view.ctx.board?.lanes.find((l) => l.name === lane.name);
      if (!held || held.next !== lane.next) return; // the board was fetched again meanwhile
      const have = new Set(held.projects.map((c) => c.id));
      held.projects.push(...page.projects.filter((c) => !have.has(c.id)));
      held.next = page.next;
      held.count = page.count;
      markEdge(held);
      render(view, view.ctx.board, true);
    } catch (err) {
      showToast(`Could not load more of ${laneLabel(lane.name)}: ${errorText(err)}`, { kind: 'error' });
      button.disabled = false;
    }
  });
  parts.more = { key, el: button };
  return button;
}

/**
 * The lanes to show. Without filters, or when every card is loaded, the board's own
 * (matches() filters them). Otherwise the server searches all projects: its answer for
 * these filters and this board version, once it has come (the loaded cards meanwhile).
 */
function searchLanes(view, board) {
  const key = filtersKey(view.filterBar.filters);
  if (!key || !board.lanes.some((l) => l.next)) {
    view.search = null;
    return board.lanes;
  }
  const want = `${key}@${board.version}`;
  if (view.search?.want !== want) {
    const search = { want, lanes: view.search?.lanes || null };
    view.search = search;
    api
      .boardSearch(view.filterBar.filters)
      .then((answer) => {
        if (view.search !== search) return; // the filters changed meanwhile
        search.lanes = answer.lanes;
        render(view, view.ctx.board, true);
      })
      .catch((err) => showToast(`Search failed: ${errorText(err)}`, { kind: 'error' }));
  }
  if (!view.search.lanes) return board.lanes;
  return view.search.lanes.map((found) => {
    const lane = board.lanes.find((l) => l.name === found.name) || {};
    return { ...found, wip_limit: lane.wip_limit, count: lane.count, matched: found.count };
  });
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
