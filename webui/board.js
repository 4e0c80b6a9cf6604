// The five-lane board: filters, cards, drag and drop, and a keyboard "Move to…" select.

import { api } from './api.js';
import { h, options, coalesce } from './dom.js';
import { LANES, laneLabel, priorityBadge, dueBadge, statusBadges } from './badges.js';
import { navigate, projectHref, replaceParams } from './router.js';
import { showToast, errorText } from './toast.js';

const FILTER_KEYS = ['archetype', 'label', 'owner', 'q'];

function readFilters(params) {
  return Object.fromEntries(FILTER_KEYS.map((k) => [k, params.get(k) || '']));
}

function matches(card, f) {
  const lower = (v) => String(v ?? '').toLowerCase();
  if (f.archetype && card.archetype !== f.archetype) return false;
  if (f.label && !card.labels.some((l) => lower(l) === lower(f.label))) return false;
  if (f.owner && lower(card.owner) !== lower(f.owner)) return false;
  if (f.q) {
    const hay = [card.id, card.title, card.archetype, card.model, card.owner, ...card.labels].map(lower).join(' ');
    if (!lower(f.q).split(/\s+/).every((word) => hay.includes(word))) return false;
  }
  return true;
}

export function mountBoard(root, ctx, route) {
  const canWrite = ctx.isHuman;
  const filters = readFilters(route.params);
  const cardEls = new Map(); // id -> {el, sig}
  let dragging = null; // {id, from}
  let deferredBoard = null;

  // --- filter bar -------------------------------------------------------------
  const archetypeSelect = h('select', { name: 'archetype', 'aria-label': 'Archetype' });
  const labelList = h('datalist', { id: 'filter-labels' });
  const ownerList = h('datalist', { id: 'filter-owners' });
  const clearButton = h('button', { type: 'button', class: 'btn btn-ghost', hidden: true }, 'Clear filters');
  const filterForm = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter the board' },
    archetypeSelect,
    h('input', { name: 'label', type: 'text', list: 'filter-labels', placeholder: 'Label', 'aria-label': 'Label', value: filters.label, autocomplete: 'off' }),
    h('input', { name: 'owner', type: 'text', list: 'filter-owners', placeholder: 'Owner', 'aria-label': 'Owner', value: filters.owner, autocomplete: 'off' }),
    h('input', { name: 'q', type: 'search', placeholder: 'Search title, id, label…', 'aria-label': 'Search', value: filters.q, autocomplete: 'off' }),
    clearButton,
    labelList,
    ownerList,
  );
  filterForm.addEventListener('submit', (e) => e.preventDefault());
  filterForm.addEventListener('input', () => {
    for (const key of FILTER_KEYS) filters[key] = filterForm.elements[key].value.trim();
    replaceParams(filters);
    render(ctx.board, true);
  });
  clearButton.addEventListener('click', () => {
    for (const key of FILTER_KEYS) {
      filters[key] = '';
      filterForm.elements[key].value = '';
    }
    replaceParams(filters);
    render(ctx.board, true);
  });

  function updateFilterChoices(board) {
    const cards = board.lanes.flatMap((l) => l.projects);
    archetypeSelect.replaceChildren(...options([['', 'All archetypes'], ...board.archetypes], filters.archetype));
    const unique = (values) => [...new Set(values.filter(Boolean))].sort();
    labelList.replaceChildren(...unique(cards.flatMap((c) => c.labels)).map((v) => h('option', { value: v })));
    ownerList.replaceChildren(...unique(cards.map((c) => c.owner)).map((v) => h('option', { value: v })));
    clearButton.hidden = !FILTER_KEYS.some((k) => filters[k]);
  }

  // --- lanes ------------------------------------------------------------------
  const laneEls = new Map();
  const boardEl = h('div', { class: 'board', 'aria-label': 'Board' });
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
    if (canWrite) addDropTarget(section, lane);
    laneEls.set(lane, { section, list, count, shown });
    boardEl.append(section);
  }

  root.append(h('div', { class: 'board-page' }, filterForm, boardEl));

  function addDropTarget(section, lane) {
    section.addEventListener('dragover', (e) => {
      if (!dragging && !e.dataTransfer.types.includes('text/x-mc-project')) return;
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
      const id = dragging?.id || e.dataTransfer.getData('text/x-mc-project') || e.dataTransfer.getData('text/plain');
      const from = dragging?.from || findCard(id)?.lane;
      if (id && from) moveCard(id, from, lane);
    });
  }

  function findCard(id) {
    for (const lane of ctx.board?.lanes || []) {
      const card = lane.projects.find((p) => p.id === id);
      if (card) return card;
    }
    return null;
  }

  async function moveCard(id, from, to) {
    if (from === to) return;
    const entry = cardEls.get(id);
    const title = findCard(id)?.title || id;
    if (entry) {
      // Optimistic: show it in the target lane while the server decides.
      entry.el.classList.add('pending');
      laneEls.get(to).list.append(entry.el);
      entry.el.focus({ preventScroll: true });
    }
    try {
      await api.move(id, to);
      await ctx.refreshBoard().catch(() => {});
    } catch (err) {
      showToast(`Cannot move “${title}” to ${laneLabel(to)}: ${errorText(err)}`, { kind: 'error' });
      render(ctx.board, true); // puts the card back where the board says it is
    } finally {
      const current = cardEls.get(id);
      if (current) {
        current.el.classList.remove('pending');
        const select = current.el.querySelector('.move-select');
        if (select) select.value = '';
      }
    }
  }

  // --- cards ------------------------------------------------------------------
  function cardElement(card) {
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
      canWrite && card.lane !== 'done' && moveSelect(card),
    );
    el.addEventListener('click', (e) => {
      if (!e.target.closest('select, a, button, input')) navigate(projectHref(card.id));
    });
    el.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && e.target === el) {
        e.preventDefault();
        navigate(projectHref(card.id));
      }
    });
    if (canWrite) {
      el.addEventListener('dragstart', (e) => {
        if (e.target !== el) return;
        dragging = { id: card.id, from: card.lane };
        e.dataTransfer.effectAllowed = 'move';
        e.dataTransfer.setData('text/x-mc-project', card.id);
        e.dataTransfer.setData('text/plain', card.id);
        el.classList.add('dragging');
      });
      el.addEventListener('dragend', () => {
        el.classList.remove('dragging');
        for (const { section } of laneEls.values()) section.classList.remove('drop-target');
        dragging = null;
        if (deferredBoard) {
          const board = deferredBoard;
          deferredBoard = null;
          render(board);
        }
      });
    }
    return el;
  }

  function moveSelect(card) {
    const select = h(
      'select',
      { class: 'move-select', 'aria-label': `Move ${card.title} to…`, title: 'Move to…' },
      h('option', { value: '' }, 'Move to…'),
      LANES.filter((l) => l !== card.lane).map((l) => h('option', { value: l }, laneLabel(l))),
    );
    select.addEventListener('change', () => {
      if (select.value) moveCard(card.id, card.lane, select.value);
    });
    return select;
  }

  // --- render -----------------------------------------------------------------
  function render(board, force = false) {
    if (!board) return;
    if (dragging && !force) {
      deferredBoard = board; // re-rendering would drop the card being dragged
      return;
    }
    const focusedId = document.activeElement?.closest?.('[data-project]')?.dataset.project;
    const focusedSelect = document.activeElement?.classList?.contains('move-select');
    updateFilterChoices(board);
    const seen = new Set();
    for (const lane of board.lanes) {
      const parts = laneEls.get(lane.name);
      if (!parts) continue;
      const total = lane.projects.length;
      const over = lane.wip_limit != null && total > lane.wip_limit;
      parts.count.textContent = lane.wip_limit != null ? `${total} / ${lane.wip_limit}` : String(total);
      parts.count.classList.toggle('over', over);
      parts.count.title = lane.wip_limit != null ? `${total} projects, WIP limit ${lane.wip_limit}${over ? ' — over the limit' : ''}` : `${total} projects`;
      parts.section.classList.toggle('over-limit', over);

      const visible = lane.projects.filter((c) => matches(c, filters));
      parts.shown.textContent = visible.length !== total ? `${visible.length} shown` : '';
      const wanted = visible.map((card) => {
        seen.add(card.id);
        const sig = JSON.stringify(card);
        let entry = cardEls.get(card.id);
        if (!entry || entry.sig !== sig) {
          entry = { el: cardElement(card), sig };
          cardEls.set(card.id, entry);
        }
        return entry.el;
      });
      const current = [...parts.list.children].filter((el) => el.dataset.project);
      const same = current.length === wanted.length && current.every((el, i) => el === wanted[i]);
      if (!same || wanted.length === 0) {
        parts.list.replaceChildren(...(wanted.length ? wanted : [h('p', { class: 'lane-empty muted' }, total ? 'No matches' : 'Empty')]));
      }
    }
    for (const id of [...cardEls.keys()]) if (!seen.has(id)) cardEls.delete(id);
    if (focusedId && document.activeElement === document.body) {
      const el = cardEls.get(focusedId)?.el;
      (focusedSelect ? el?.querySelector('.move-select') : el)?.focus({ preventScroll: true });
    }
  }

  if (ctx.board) render(ctx.board);
  else boardEl.classList.add('loading');

  // A running agent's latest step on its card, as its log grows (one fetch per job per
  // second at most; the board itself is not fetched again for a log line).
  const stepFetchers = new Map();
  function refreshStep(jobId) {
    if (!stepFetchers.has(jobId)) {
      stepFetchers.set(
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
    stepFetchers.get(jobId)();
  }

  return {
    onBoard(board) {
      boardEl.classList.remove('loading');
      render(board);
    },
    onEvent(type, data) {
      if (type === 'log' && data?.job != null) refreshStep(data.job);
    },
    unmount() {
      for (const f of stepFetchers.values()) f.cancel();
    },
  };
}
