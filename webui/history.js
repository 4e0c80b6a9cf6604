// Time travel (#/board?at=<commit|date>, /?at=…, #/history): the board as it was, read-only, from
// git, with a slider over the board branch's commits. The board view is board.js's own,
// given a read-only context of its own: the live feed never reaches it (this view has no
// onBoard), so the past stays on screen until the person moves the slider or goes back.

import { api } from './api.js';
import { h, coalesce } from './dom.js';
import { mountBoard } from './board.js';
import { fmtDateTime } from './format.js';
import { hrefFor } from './router.js';
import { errorText } from './toast.js';

const PAGE = 100;
const MAX_PAGES_TO_FIND = 20; // how far back the slider looks for the commit shown

/** /?at=2026-11-20 is the same page as #/board?at=2026-11-20 (the hash is where routes live). */
export function adoptQueryAt() {
  const at = new URLSearchParams(location.search).get('at');
  if (at) history.replaceState(null, '', `/${hrefFor('board', null, { at })}`);
}

export function mountHistory(root, ctx, route) {
  const past = { ...ctx, isHuman: false, board: null, refreshBoard: async () => {} };
  const tt = {
    past,
    banner: h('div', { class: 'banner banner-warn time-travel-banner', role: 'status' }, 'Loading the board of the past…'),
    slider: h('input', { type: 'range', class: 'history-slider', min: 0, max: 0, step: 1, value: 0, 'aria-label': 'The board’s history, oldest to newest' }),
    position: h('span', { class: 'history-position muted' }),
    earlier: h('button', { type: 'button', class: 'btn btn-ghost', hidden: true }, 'Earlier…'),
    commits: [], // oldest first
    next: null, // the `before` of the next older page of /api/history
    shown: null, // the commit on screen
    asked: 0, // answers to an older request are dropped
    gone: false,
  };
  const slot = h('div', { class: 'time-travel-board' });
  root.append(h('div', { class: 'time-travel' }, tt.banner, h('div', { class: 'history-bar' }, tt.earlier, tt.slider, tt.position), slot));
  document.body.classList.add('time-travel');
  tt.board = mountBoard(slot, past, route);
  wireSlider(tt);
  start(tt, route.params.get('at'));
  return {
    unmount() {
      tt.gone = true;
      document.body.classList.remove('time-travel');
      tt.board.unmount?.();
    },
  };
}

/** The board at `at`, or (#/history) at the newest commit; then the slider around it. */
async function start(tt, at) {
  if (!at) {
    await loadPage(tt);
    if (!tt.commits.length) return;
    at = tt.commits[tt.commits.length - 1].commit;
  }
  await show(tt, at, false);
  await findOnSlider(tt);
}

/** Fetches the board at `at` and shows it; `remember` writes its commit into the URL. */
async function show(tt, at, remember) {
  const asked = ++tt.asked;
  try {
    const board = await api.boardAt(at);
    if (asked !== tt.asked || tt.gone) return;
    tt.past.board = board;
    tt.shown = board.at.commit;
    tt.board.onBoard(board);
    showBanner(tt, board.at);
    if (remember) history.replaceState(null, '', hrefFor('board', null, { at: board.at.commit }));
    placeSlider(tt);
  } catch (err) {
    if (asked !== tt.asked || tt.gone) return;
    tt.banner.className = 'banner banner-error time-travel-banner';
    tt.banner.setAttribute('role', 'alert');
    tt.banner.replaceChildren(`No board to show for “${at}”: ${errorText(err)} · `, backToNow());
  }
}

function showBanner(tt, at) {
  tt.banner.className = 'banner banner-warn time-travel-banner';
  tt.banner.setAttribute('role', 'status');
  tt.banner.replaceChildren(
    h('strong', null, `The board as of ${fmtDateTime(at.time)}`),
    ` — ${at.subject} `,
    h('code', { class: 'muted' }, at.commit.slice(0, 10)),
    ' · read-only · ',
    backToNow(),
  );
}

function backToNow() {
  return h('a', { href: hrefFor('board'), class: 'back-to-now' }, 'Back to now');
}

// --- the slider ---------------------------------------------------------------
function wireSlider(tt) {
  const follow = coalesce(() => go(tt), 150); // dragging: one fetch per pause, not per pixel
  tt.slider.addEventListener('input', follow);
  tt.slider.addEventListener('change', () => {
    follow.cancel();
    go(tt);
  });
  tt.earlier.addEventListener('click', () => loadPage(tt).then(() => placeSlider(tt)));
}

function go(tt) {
  const point = tt.commits[Number(tt.slider.value)];
  if (point && point.commit !== tt.shown) show(tt, point.commit, true);
}

/** Loads the commits until the one shown is among them (or the history ends). */
async function findOnSlider(tt) {
  if (!tt.commits.length) await loadPage(tt);
  for (let i = 0; i < MAX_PAGES_TO_FIND && tt.next && !tt.commits.some((p) => p.commit === tt.shown); i++) await loadPage(tt);
  placeSlider(tt);
}

/** One more (older) page of the board branch's commits, in front of those loaded. */
async function loadPage(tt) {
  if (tt.commits.length && !tt.next) return;
  try {
    const page = await api.history({ limit: PAGE, before: tt.next });
    tt.commits = [...page.commits.slice().reverse(), ...tt.commits];
    tt.next = page.next;
  } catch (err) {
    tt.position.textContent = `History unavailable: ${errorText(err)}`;
  }
}

function placeSlider(tt) {
  if (tt.gone || !tt.commits.length) return;
  const index = tt.commits.findIndex((p) => p.commit === tt.shown);
  tt.slider.max = String(tt.commits.length - 1);
  if (index >= 0) tt.slider.value = String(index);
  tt.earlier.hidden = !tt.next;
  const point = tt.commits[Number(tt.slider.value)];
  tt.position.textContent = index >= 0 ? `${index + 1} of ${tt.commits.length}${tt.next ? '+' : ''} commits · ${fmtDateTime(point.time)}` : '';
}
