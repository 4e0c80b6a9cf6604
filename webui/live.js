// Keeps the page current: an EventSource while it works, polling while it does not.
//
// States: "live" (stream open), "polling" (stream down, polling works), "offline" (both fail).

const COALESCE_MS = 50;
const POLL_MS = 2000;
const REOPEN_MS = 3000;
const REFRESH_EVENTS = ['board', 'job']; // an activity event comes with its board event

/**
 * refresh(): re-fetches the board (rejects when the server cannot be reached).
 * onEvent(type, data): every stream event, plus "reconnect" after the stream comes back.
 * onState(state): the connection state changed.
 */
export function startLive({ refresh, onEvent, onState }) {
  let source = null;
  let state = null;
  let pollTimer = null;
  let reopenTimer = null;
  let refreshTimer = null;
  let openedBefore = false;

  const setState = (next) => {
    if (next === state) return;
    state = next;
    onState(next);
  };

  // A commit produces several events at once. The first one fetches at once (the
  // figure that matters is "commit -> card moved"); more within COALESCE_MS are
  // folded into one more fetch at the end of that window.
  let windowOpen = false;
  let dirty = false;
  const scheduleRefresh = () => {
    if (windowOpen) {
      dirty = true;
      return;
    }
    windowOpen = true;
    refresh().catch(() => {});
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      windowOpen = false;
      if (dirty) {
        dirty = false;
        scheduleRefresh();
      }
    }, COALESCE_MS);
  };

  const pollOnce = async () => {
    try {
      await refresh();
      if (state !== 'live') setState('polling');
    } catch {
      if (state !== 'live') setState('offline');
    }
  };

  const startPolling = () => {
    if (pollTimer !== null) return;
    pollTimer = setInterval(pollOnce, POLL_MS);
    pollOnce();
  };

  const stopPolling = () => {
    clearInterval(pollTimer);
    pollTimer = null;
  };

  const parse = (text) => {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  };

  const open = () => {
    reopenTimer = null;
    if (source) return;
    const es = new EventSource('/api/events');
    source = es;
    es.onopen = () => {
      stopPolling();
      setState('live');
      // Events may have been missed while the stream was down: catch up once.
      if (openedBefore) onEvent('reconnect', null);
      openedBefore = true;
      scheduleRefresh();
    };
    es.onerror = () => {
      if (state === 'live') setState('polling');
      startPolling();
      // CONNECTING means the browser retries by itself (resending Last-Event-ID);
      // CLOSED means it gave up, so open a new stream later.
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        source = null;
        if (reopenTimer === null) reopenTimer = setTimeout(open, REOPEN_MS);
      }
    };
    for (const type of REFRESH_EVENTS) {
      es.addEventListener(type, (e) => {
        onEvent(type, parse(e.data));
        scheduleRefresh();
      });
    }
    es.addEventListener('log', (e) => onEvent('log', parse(e.data)));
    // The feed, the calendar and the project page follow activity (comments included).
    es.addEventListener('activity', (e) => onEvent('activity', parse(e.data)));
  };

  setState('offline');
  if (typeof EventSource === 'function') open();
  else startPolling();

  return {
    stop() {
      source?.close();
      source = null;
      stopPolling();
      clearTimeout(reopenTimer);
      clearTimeout(refreshTimer);
    },
  };
}
