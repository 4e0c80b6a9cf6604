// Keyboard shortcuts: moving between cards, opening and moving the focused project,
// the other views, search, the key list (?) and the command palette (Ctrl-K / Cmd-K).
// A key typed into a form control is text, never a shortcut.

import { h } from './dom.js';
import { LANES } from './badges.js';
import { hrefFor, navigate, parseHash } from './router.js';
import { openPalette } from './palette.js';
import { openNewProject } from './newproject.js';

/** Views reachable with "g" and a letter (g b: the board). */
const GO = { b: 'board', t: 'tasks', c: 'calendar', a: 'activity', m: 'metrics' };
const CHORD_MS = 1500;

/** [keys, what they do]: the key list (?) shows these. */
export const KEY_HELP = [
  [['↑', '↓', 'k', 'j'], 'Previous / next card in the lane'],
  [['←', '→', 'h', 'l'], 'Card in the lane to the left / right'],
  [['Enter'], 'Open the focused project'],
  [['m'], 'Move the focused project (its “Move to…” list)'],
  [['n'], 'New project'],
  [['/'], 'Search the board'],
  [['g b', 'Esc'], 'Back to the board'],
  [['g t', 'g c', 'g a', 'g m'], 'Tasks, calendar, activity, metrics'],
  [['Ctrl K', '⌘ K'], 'Command palette: find a project or an action'],
  [['?'], 'This list'],
];

/** Whether the key went to something the person types into. */
export function isTyping(target) {
  if (!(target instanceof Element)) return false;
  return Boolean(target.closest('input, textarea, select, [contenteditable]:not([contenteditable="false"])'));
}

/** Listens on the document; `ctx` is the page's shared state (session, board). */
export function installKeys(ctx) {
  let pendingG = 0;
  document.addEventListener('keydown', (e) => {
    if (e.defaultPrevented || e.isComposing) return;
    if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === 'k') {
      e.preventDefault();
      openPalette(ctx);
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target) || document.querySelector('dialog[open]')) return;
    const chord = pendingG && Date.now() - pendingG < CHORD_MS;
    pendingG = 0;
    if (chord && GO[e.key]) {
      e.preventDefault();
      navigate(hrefFor(GO[e.key]));
      return;
    }
    if (e.key === 'g') {
      pendingG = Date.now();
      return;
    }
    const action = plainKey(e.key, ctx);
    if (action) {
      e.preventDefault();
      action();
    }
  });
}

/** Is the page showing the board of the past (history.js)? It is read-only there. */
export function inThePast() {
  return document.body.classList.contains('time-travel');
}

/** The action of a key pressed outside any form control, or null. */
function plainKey(key, ctx) {
  const onBoard = document.getElementById('main')?.dataset.view === 'board' && parseHash().name === 'board';
  const step = { ArrowUp: [0, -1], k: [0, -1], ArrowDown: [0, 1], j: [0, 1], ArrowLeft: [-1, 0], h: [-1, 0], ArrowRight: [1, 0], l: [1, 0] }[key];
  if (step && onBoard) return () => moveFocus(...step);
  switch (key) {
    case 'm':
      return onBoard ? openMoveSelect : null;
    case 'n':
      return ctx.isHuman && !inThePast() ? () => openNewProject(ctx) : null;
    case '/':
      return focusSearch;
    case 'Escape':
      return onBoard ? null : () => navigate(hrefFor('board'));
    case '?':
      return showKeys;
    default:
      return null;
  }
}

// --- cards -------------------------------------------------------------------
function laneCards() {
  return LANES.map((lane) => [...document.querySelectorAll(`.lane[data-lane="${lane}"] .card[data-project]`)]);
}

/** Moves the focus one card up/down in its lane, or to the nearest non-empty lane left/right. */
function moveFocus(dx, dy) {
  const lanes = laneCards();
  const current = document.activeElement?.closest?.('.card[data-project]');
  let col = lanes.findIndex((cards) => cards.includes(current));
  if (col === -1) {
    lanes.find((cards) => cards.length)?.[0]?.focus();
    return;
  }
  let row = lanes[col].indexOf(current);
  if (dy) row = Math.min(Math.max(row + dy, 0), lanes[col].length - 1);
  if (dx) {
    let next = col + dx;
    while (next >= 0 && next < lanes.length && !lanes[next].length) next += dx;
    if (next < 0 || next >= lanes.length) return;
    col = next;
    row = Math.min(row, lanes[col].length - 1);
  }
  const card = lanes[col][row];
  card.focus();
  card.scrollIntoView({ block: 'nearest', inline: 'nearest' });
}

/** "m": the focused card's "Move to…" list, opened where the browser allows it. */
function openMoveSelect() {
  const select = document.activeElement?.closest?.('.card[data-project]')?.querySelector('.move-select');
  if (!select) return;
  select.focus();
  try {
    select.showPicker();
  } catch {
    // showPicker needs a recent browser and a user gesture: focused is enough to use it
  }
}

/**
 * "/": the board's search box (going to the board first from another view). The route
 * decides, not what the page shows: right after "g t" the board is still on screen for a
 * moment while the URL already says tasks.
 */
function focusSearch() {
  const search = () => document.querySelector('.filters input[name="q"]');
  const wanted = parseHash().name;
  const shown = document.getElementById('main')?.dataset.view;
  if (wanted === 'board' && shown === 'board') {
    search()?.focus();
    return;
  }
  window.addEventListener('hashchange', () => setTimeout(() => search()?.focus()), { once: true });
  if (wanted !== 'board') navigate(hrefFor('board'));
}

// --- the key list ----------------------------------------------------------------
let keysDialog = null;

function buildKeys() {
  const rows = KEY_HELP.flatMap(([keys, what]) => [
    h('dt', null, keys.map((k, i) => [i ? ' ' : null, h('kbd', null, k)])),
    h('dd', null, what),
  ]);
  const close = h('button', { type: 'button', class: 'btn', dataset: { action: 'close' } }, 'Close');
  const dialog = h(
    'dialog',
    { id: 'keys-dialog', class: 'dialog', 'aria-labelledby': 'keys-title', 'aria-modal': 'true' },
    h('h2', { class: 'dialog-title', id: 'keys-title' }, 'Keyboard shortcuts'),
    h('dl', { class: 'keys-list' }, rows),
    h('p', { class: 'muted' }, 'Keys do nothing while you type in a field.'),
    h('div', { class: 'dialog-actions' }, close),
  );
  close.addEventListener('click', () => dialog.close());
  document.body.append(dialog);
  return dialog;
}

/** "?": the dialog listing the keys; focus goes back where it was when it closes. */
export function showKeys() {
  keysDialog ??= buildKeys();
  if (keysDialog.open) return;
  const back = document.activeElement;
  keysDialog.addEventListener('close', () => back?.focus?.({ preventScroll: true }), { once: true });
  keysDialog.showModal();
  keysDialog.querySelector('[data-action="close"]').focus();
}
