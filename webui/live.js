// Keeps the page current: an EventSource while it works, polling while it does not.
//
// States: "live" (stream open), "polling" (stream down, polling works), "offline" (both fail).

const COALESCE_MS = 50;
const POLL_MS = 2000;
const REOPEN_MS = 3000;

/**
 * refresh(): re-fetches the board (rejects when the server cannot be reached).
 * patch(data): applies a board event's changes; false when it cannot (then refresh()).
 * onEvent(type, data): every stream event, plus "reconnect" after the stream comes back.
 * onState(state): the connection state changed.
 */
export function startLive({ refresh, patch, onEvent, onState }) {
  const live = {
    patch,
    onEvent,
    onState,
    state: null,
    source: null, // the open EventSource
    reopenTimer: null,
    openedBefore: false, // a later open is a reconnect
    refreshSoon: foldedRefresh(refresh),
    poller: null,
  };
  live.poller = poller(live, refresh);
  setState(live, 'offline');
  if (typeof EventSource === 'function') openStream(live);
  else live.poller.start();

  return {
    stop() {
      live.source?.close();
      live.source = null;
      live.poller.stop();
      clearTimeout(live.reopenTimer);
      live.refreshSoon.cancel();
    },
  };
}

function setState(live, next) {
  if (next === live.state) return;
  live.state = next;
  live.onState(next);
}

/**
 * A commit produces several events at once. The first one fetches at once (the figure
 * that matters is "commit -> card moved"); more within COALESCE_MS are folded into one
 * more fetch at the end of that window.
 */
function foldedRefresh(refresh) {
  let timer = null;
  let windowOpen = false;
  let dirty = false;
  const schedule = () => {
    if (windowOpen) {
      dirty = true;
      return;
    }
    windowOpen = true;
    refresh().catch(() => {});
    timer = setTimeout(() => {
      timer = null;
      windowOpen = false;
      if (dirty) {
        dirty = false;
        schedule();
      }
    }, COALESCE_MS);
  };
  schedule.cancel = () => clearTimeout(timer);
  return schedule;
}

/** Fetches the board every POLL_MS while the stream is down; its outcome sets the state then. */
function poller(live, refresh) {
  let timer = null;
  const pollOnce = async () => {
    try {
      await refresh();
      if (live.state !== 'live') setState(live, 'polling');
    } catch {
      if (live.state !== 'live') setState(live, 'offline');
    }
  };
  return {
    start() {
      if (timer !== null) return;
      timer = setInterval(pollOnce, POLL_MS);
      pollOnce();
    },
    stop() {
      clearInterval(timer);
      timer = null;
    },
  };
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function openStream(live) {
  live.reopenTimer = null;
  if (live.source) return;
  const es = new EventSource('/api/events');
  live.source = es;
  es.onopen = () => {
    live.poller.stop();
    setState(live, 'live');
    // Events may have been missed while the stream was down: catch up once.
    if (live.openedBefore) live.onEvent('reconnect', null);
    live.openedBefore = true;
    live.refreshSoon();
  };
  es.onerror = () => {
    if (live.state === 'live') setState(live, 'polling');
    live.poller.start();
    // CONNECTING means the browser retries by itself (resending Last-Event-ID);
    // CLOSED means it gave up, so open a new stream later.
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      live.source = null;
      if (live.reopenTimer === null) live.reopenTimer = setTimeout(() => openStream(live), REOPEN_MS);
    }
  };
  // A board event carries the cards a commit (or a job) changed; only when it cannot be
  // applied (a missed event, a reload) is the board fetched again. A job's card comes
  // as a board event of its own.
  es.addEventListener('board', (e) => {
    const data = parse(e.data);
    live.onEvent('board', data);
    if (!live.patch(data)) live.refreshSoon();
  });
  es.addEventListener('job', (e) => live.onEvent('job', parse(e.data)));
  es.addEventListener('log', (e) => live.onEvent('log', parse(e.data)));
  // The feed, the calendar and the project page follow activity (comments included).
  es.addEventListener('activity', (e) => live.onEvent('activity', parse(e.data)));
}
