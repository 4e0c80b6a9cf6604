// Wires the page together: session, board state, live updates, routes, header.

import { api, setCsrf, onUnauthorized } from './api.js';
import { h, serialized } from './dom.js';
import { startClock } from './format.js';
import { startLive } from './live.js';
import { markEdge, patchBoard } from './boarddata.js';
import { parseHash } from './router.js';
import { showToast } from './toast.js';
import { mountBoard } from './board.js';
import { mountDetail } from './detail.js';
import { mountTasks } from './tasks.js';
import { mountCalendar } from './calendar.js';
import { mountActivity } from './activity.js';
import { mountMetrics } from './metrics.js';
import { openNewProject } from './newproject.js';
import { showAttention } from './attention.js';
import { mountHistory, adoptQueryAt } from './history.js';
import { initTheme } from './theme.js';
import { installKeys } from './keys.js';
import { refreshPalette } from './palette.js';

const VIEWS = {
  board: mountBoard,
  project: mountDetail,
  tasks: mountTasks,
  calendar: mountCalendar,
  activity: mountActivity,
  metrics: mountMetrics,
  history: mountHistory, // #/history: the newest commit, and the slider back from it
};

const STATE_LABELS = { live: 'Live', polling: 'Polling', offline: 'Offline' };

const main = document.getElementById('main');

// --- board state --------------------------------------------------------------
/** Fetches the board; concurrent calls share one request plus at most one follow-up. */
const refreshBoard = serialized(async () => {
  const board = await api.board();
  board.lanes.forEach(markEdge);
  ctx.board = board;
  showConfigRefused(board.config_refused);
  showAttention(board);
  refreshPalette(ctx);
  view?.onBoard?.(board);
});

/**
 * A board event: its changed cards patched into the board we hold, and only they
 * re-rendered. False when it cannot be (a version gap, a reload): the caller refetches.
 */
function applyBoardEvent(data) {
  if (!patchBoard(ctx.board, data)) return false;
  showAttention(ctx.board);
  refreshPalette(ctx);
  if (view?.onPatch) view.onPatch(ctx.board, data);
  else view?.onBoard?.(ctx.board);
  return true;
}

/** A refused mc.yaml is in git but not in force: say which commit and why. */
function showConfigRefused(refused) {
  const slot = document.getElementById('config-warning');
  slot.hidden = !refused;
  if (!refused) return;
  slot.replaceChildren(
    h('strong', null, 'A newer mc.yaml is refused; the board runs with the last accepted one. '),
    `Commit ${refused.commit.slice(0, 12)}: ${refused.reason}`,
  );
}

// Shared with every view: who is signed in, the latest board, and a way to refresh it.
const ctx = {
  session: null,
  isHuman: false,
  board: null,
  refreshBoard,
};

let view = null;
let live = null;
let signedOut = false;


// --- routing ------------------------------------------------------------------
function route() {
  if (signedOut) return;
  const current = parseHash();
  const past = current.name === 'board' && current.params.get('at'); // time travel: history.js
  const mount = past ? mountHistory : VIEWS[current.name] || VIEWS.board;
  view?.unmount?.();
  view = null;
  main.replaceChildren();
  main.dataset.view = VIEWS[current.name] ? current.name : 'board';
  for (const link of document.querySelectorAll('[data-nav]')) {
    const active = link.dataset.nav === current.name || (current.name === 'project' && link.dataset.nav === 'board');
    if (active) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  view = mount(main, ctx, current) || {};
}

// --- header -------------------------------------------------------------------
function setConnection(state) {
  const el = document.getElementById('connection');
  el.dataset.state = state;
  el.querySelector('.conn-label').textContent = STATE_LABELS[state] || state;
  el.title =
    state === 'live' ? 'Live updates are on' : state === 'polling' ? 'Live stream lost; checking every 2 s' : 'Cannot reach the server';
}

function showSignedOut() {
  if (signedOut) return;
  signedOut = true;
  live?.stop();
  view?.unmount?.();
  view = null;
  setConnection('offline');
  document.getElementById('new-project').hidden = true;
  main.replaceChildren(
    h(
      'section',
      { class: 'page page-narrow login-panel', id: 'login-panel' },
      h('h1', null, 'Not signed in'),
      h('p', null, 'Open the login link that ', h('code', null, 'mc up'), ' printed, then come back to this tab.'),
      h('button', { type: 'button', class: 'btn', onclick: () => location.reload() }, 'Reload'),
    ),
  );
}

/** Agents that are not confined are the one thing the page never lets a person forget. */
function showSandboxWarning(sandbox) {
  const slot = document.getElementById('sandbox-warning');
  if (!sandbox || sandbox.state === 'on') {
    slot.hidden = true;
    return;
  }
  slot.dataset.state = sandbox.state;
  slot.replaceChildren(h('strong', null, sandbox.state === 'off' ? 'Agents are not confined. ' : 'Agents cannot run. '), sandbox.message);
  slot.hidden = false;
}

async function start() {
  onUnauthorized(showSignedOut);
  setConnection('offline');
  // The board is asked for alongside the session (not after it): the view shows it once mounted.
  const firstBoard = refreshBoard();
  firstBoard.catch(() => {}); // reported below, once the page can show it
  try {
    ctx.session = await api.session();
  } catch (err) {
    if (err.status !== 401) {
      main.replaceChildren(h('section', { class: 'page page-narrow' }, h('h1', null, 'Mission Control is unreachable'), h('p', { class: 'form-error', role: 'alert' }, err.message)));
    }
    return;
  }
  setCsrf(ctx.session.csrf);
  ctx.isHuman = ctx.session.role === 'human';
  document.body.classList.toggle('read-only', !ctx.isHuman);
  document.getElementById('whoami').textContent = `${ctx.session.name} · ${ctx.session.role}`;
  const logout = document.getElementById('logout');
  logout.hidden = ctx.session.via !== 'session';
  logout.addEventListener('click', async () => {
    try {
      await api.logout();
    } finally {
      logout.hidden = true;
      showSignedOut();
    }
  });
  showSandboxWarning(ctx.session.sandbox);
  const newProject = document.getElementById('new-project');
  newProject.hidden = !ctx.isHuman;
  newProject.addEventListener('click', () => openNewProject(ctx));

  startClock();
  adoptQueryAt();
  installKeys(ctx);
  window.addEventListener('hashchange', route);
  route();
  firstBoard.catch((err) => {
    if (err.status !== 401) showToast(`Could not load the board: ${err.message}`, { kind: 'error' });
  });
  live = startLive({
    refresh: refreshBoard,
    patch: applyBoardEvent,
    onEvent: (type, data) => view?.onEvent?.(type, data),
    onState: setConnection,
  });
}

initTheme();
start();
