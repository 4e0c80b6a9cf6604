// The board's filter bar. The filters live in the URL (#/board?archetype=…&q=…), so a
// filtered board can be reloaded, bookmarked and shared.

import { h, options } from './dom.js';
import { boardCards } from './boarddata.js';
import { replaceParams } from './router.js';

const FILTER_KEYS = ['archetype', 'label', 'owner', 'q'];

function readFilters(params) {
  return Object.fromEntries(FILTER_KEYS.map((k) => [k, params.get(k) || '']));
}

/** The filters as one string ('' when none is set): a search answer is for one key. */
export function filtersKey(f) {
  return FILTER_KEYS.some((k) => f[k]) ? JSON.stringify(FILTER_KEYS.map((k) => f[k])) : '';
}

/** Whether a card passes the filters (label, owner and words compare case-insensitively). */
export function matches(card, f) {
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

/**
 * The filter bar for the route's params. `filters` is kept current as the person types
 * (and written to the URL), then onChange() runs; update(board) refreshes the choices.
 */
export function createFilterBar(params, onChange) {
  const filters = readFilters(params);
  const bar = {
    filters,
    archetypes: h('select', { name: 'archetype', 'aria-label': 'Archetype' }),
    labels: h('datalist', { id: 'filter-labels' }),
    owners: h('datalist', { id: 'filter-owners' }),
    clear: h('button', { type: 'button', class: 'btn btn-ghost', hidden: true }, 'Clear filters'),
  };
  const form = filterForm(bar);
  const apply = (value) => {
    for (const key of FILTER_KEYS) filters[key] = value(key);
    replaceParams(filters);
    onChange();
  };
  form.addEventListener('submit', (e) => e.preventDefault());
  form.addEventListener('input', () => apply((key) => form.elements[key].value.trim()));
  bar.clear.addEventListener('click', () => {
    for (const key of FILTER_KEYS) form.elements[key].value = '';
    apply(() => '');
  });
  return { el: form, filters, update: (board) => updateChoices(bar, board) };
}

function filterForm({ filters, archetypes, labels, owners, clear }) {
  return h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter the board' },
    archetypes,
    h('input', { name: 'label', type: 'text', list: 'filter-labels', placeholder: 'Label', 'aria-label': 'Label', value: filters.label, autocomplete: 'off' }),
    h('input', { name: 'owner', type: 'text', list: 'filter-owners', placeholder: 'Owner', 'aria-label': 'Owner', value: filters.owner, autocomplete: 'off' }),
    h('input', { name: 'q', type: 'search', placeholder: 'Search title, id, label…', 'aria-label': 'Search', value: filters.q, autocomplete: 'off' }),
    clear,
    labels,
    owners,
  );
}

/** The archetypes and the labels and owners on the board, as choices; Clear shows while any filter is set. */
function updateChoices(bar, board) {
  const cards = boardCards(board);
  bar.archetypes.replaceChildren(...options([['', 'All archetypes'], ...board.archetypes], bar.filters.archetype));
  const unique = (values) => [...new Set(values.filter(Boolean))].sort();
  bar.labels.replaceChildren(...unique(cards.flatMap((c) => c.labels)).map((v) => h('option', { value: v })));
  bar.owners.replaceChildren(...unique(cards.map((c) => c.owner)).map((v) => h('option', { value: v })));
  bar.clear.hidden = !FILTER_KEYS.some((k) => bar.filters[k]);
}
