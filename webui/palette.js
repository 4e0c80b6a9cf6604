// The command palette (Ctrl-K / Cmd-K): type part of a project's title or id, or of an
// action's name, pick with the arrow keys and Enter. Esc closes it and the focus goes
// back where it was.

import { api } from './api.js';
import { h } from './dom.js';
import { boardCards } from './boarddata.js';
import { hrefFor, navigate, projectHref } from './router.js';
import { openNewProject } from './newproject.js';
import { cycleTheme } from './theme.js';
import { showKeys, inThePast } from './keys.js';

const MAX_SHOWN = 50;
const SEARCH_DELAY_MS = 120; // typing pauses this long before the server is asked

/** The views the header links to ([route name, label]): the palette offers the same pages. */
function views() {
  return [...document.querySelectorAll('.nav a[data-nav]')].map((a) => [a.dataset.nav, a.textContent.trim()]);
}

/** Every choice: the actions, then the board's projects. */
function choices(ctx) {
  const actions = [
    ctx.isHuman && !inThePast() && { kind: 'Action', label: 'New project', run: () => openNewProject(ctx) },
    ...views().map(([name, label]) => ({ kind: 'Go to', label, run: () => navigate(hrefFor(name)) })),
    { kind: 'Action', label: 'Switch theme (system, light, dark)', run: cycleTheme },
    { kind: 'Action', label: 'Keyboard shortcuts', run: showKeys },
  ].filter(Boolean);
  return [...actions, ...(ctx.board ? boardCards(ctx.board) : []).map(projectChoice)];
}

function projectChoice(card) {
  return { kind: 'Project', label: card.title, id: card.id, run: () => navigate(projectHref(card.id)) };
}

/** Does the page hold only some of the board's cards (lanes come a page at a time)? */
function partial(board) {
  return (board?.lanes || []).some((lane) => (lane.count ?? lane.projects.length) > lane.projects.length);
}

/**
 * The projects the page has not loaded (a big board's done lane, say) are found by the
 * server's search once typing pauses; they join the matches of what the page holds.
 */
function searchServer(state) {
  clearTimeout(state.timer);
  const q = state.input.value.trim();
  if (q.length < 2 || !partial(state.ctx?.board)) return;
  state.timer = setTimeout(async () => {
    let found;
    try {
      found = await api.boardSearch({ q });
    } catch {
      return; // the matches of the loaded cards stay
    }
    if (!state.dialog.open || state.input.value.trim() !== q) return; // a later query asks again
    const known = new Set(state.all.map((item) => item.id).filter(Boolean));
    const extra = boardCards(found).filter((card) => !known.has(card.id)).map(projectChoice);
    if (!extra.length) return;
    const chosen = state.items[state.active];
    state.all = [...state.all, ...extra];
    show(state);
    keepChoice(state, chosen);
  }, SEARCH_DELAY_MS);
}

/** After the matches change, the option that was highlighted stays highlighted. */
function keepChoice(state, chosen) {
  const again = state.items.findIndex((item) => item.label === chosen?.label && item.id === chosen?.id);
  if (again > 0) {
    state.active = again;
    highlight(state);
  }
}

/**
 * How well `query` matches `text` (lower is better), or null for no match: a substring
 * scores by where it starts (a word start first), else the query's letters in order
 * score by how spread out they are. Written here because a fuzzy-search library would
 * be the page's first dependency, and forty lines cover what the palette needs.
 */
export function matchScore(query, text) {
  const q = query.trim().toLowerCase();
  const t = String(text).toLowerCase();
  if (!q) return 0;
  const at = t.indexOf(q);
  if (at !== -1) return at === 0 || /\W/.test(t[at - 1]) ? at / 1000 : 1 + at / 1000;
  let from = 0;
  let first = -1;
  for (const ch of q.replace(/\s+/g, '')) {
    const i = t.indexOf(ch, from);
    if (i === -1) return null;
    if (first === -1) first = i;
    from = i + 1;
  }
  return 2 + (from - first) / 100;
}

function ranked(all, query) {
  const scored = [];
  for (const item of all) {
    const scores = [matchScore(query, item.label), item.id ? matchScore(query, item.id) : null].filter((s) => s != null);
    if (scores.length) scored.push([Math.min(...scores), item]);
  }
  scored.sort((a, b) => a[0] - b[0]);
  return scored.slice(0, MAX_SHOWN).map(([, item]) => item);
}

// --- the dialog ---------------------------------------------------------------
let palette = null;

function build() {
  const input = h('input', {
    id: 'palette-input',
    class: 'palette-input',
    type: 'text',
    role: 'combobox',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'Find a project or an action…',
    'aria-label': 'Find a project or an action',
    'aria-controls': 'palette-list',
    'aria-expanded': 'true',
    'aria-autocomplete': 'list',
  });
  const list = h('ul', { id: 'palette-list', class: 'palette-list', role: 'listbox', 'aria-label': 'Matches' });
  const dialog = h('dialog', { id: 'palette', class: 'dialog palette', 'aria-label': 'Command palette', 'aria-modal': 'true' }, input, list);
  document.body.append(dialog);
  const state = { dialog, input, list, items: [], active: 0, all: [], back: null, ctx: null, timer: null };
  input.addEventListener('input', () => {
    show(state);
    searchServer(state);
  });
  input.addEventListener('keydown', (e) => onKey(state, e));
  list.addEventListener('click', (e) => {
    const option = e.target.closest('[role="option"]');
    if (option) choose(state, Number(option.dataset.index));
  });
  dialog.addEventListener('close', () => {
    state.back?.focus?.({ preventScroll: true });
    state.back = null;
  });
  // A click on the backdrop (outside the box) closes it, as Esc does.
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) dialog.close();
  });
  return state;
}

function optionEl(item, index, active) {
  return h(
    'li',
    { id: `palette-option-${index}`, class: 'palette-option', role: 'option', 'aria-selected': String(index === active), dataset: { index, project: item.id } },
    h('span', { class: 'palette-kind' }, item.kind),
    h('span', { class: 'palette-label' }, item.label),
    item.id && h('span', { class: 'palette-id' }, item.id),
  );
}

function show(state) {
  state.items = ranked(state.all, state.input.value);
  state.active = 0;
  state.list.replaceChildren(
    ...(state.items.length ? state.items.map((item, i) => optionEl(item, i, state.active)) : [h('li', { class: 'palette-empty muted', role: 'presentation' }, 'No match')]),
  );
  highlight(state);
}

function highlight(state) {
  for (const el of state.list.querySelectorAll('[role="option"]')) {
    el.setAttribute('aria-selected', String(Number(el.dataset.index) === state.active));
  }
  const current = state.list.querySelector(`#palette-option-${state.active}`);
  if (current) {
    state.input.setAttribute('aria-activedescendant', current.id);
    current.scrollIntoView({ block: 'nearest' });
  } else {
    state.input.removeAttribute('aria-activedescendant');
  }
}

function onKey(state, e) {
  const n = state.items.length;
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    if (n) state.active = (state.active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
    highlight(state);
  } else if (e.key === 'Enter') {
    e.preventDefault();
    if (n) choose(state, state.active);
  }
}

function choose(state, index) {
  const item = state.items[index];
  if (!item) return;
  state.back = null; // the choice decides where the focus goes (a page, a dialog)
  state.dialog.close();
  item.run();
}

/** A new board answer while the palette is open: its matches follow (a project just added shows). */
export function refreshPalette(ctx) {
  if (!palette?.dialog.open) return;
  const chosen = palette.items[palette.active];
  const held = new Set(boardCards(ctx.board).map((card) => card.id));
  const found = palette.all.filter((item) => item.kind === 'Project' && !held.has(item.id)); // from the server
  palette.all = [...choices(ctx), ...found];
  show(palette);
  keepChoice(palette, chosen);
}

/** Opens the palette over the current page (a second Ctrl-K while it is open does nothing). */
export function openPalette(ctx) {
  palette ??= build();
  if (palette.dialog.open) return;
  if (document.querySelector('dialog[open]')) return; // another dialog is in the way
  palette.back = document.activeElement;
  palette.ctx = ctx;
  palette.all = choices(ctx);
  palette.input.value = '';
  palette.dialog.showModal();
  show(palette);
  palette.input.focus();
}
