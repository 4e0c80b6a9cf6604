// What waits for the person: a count in the tab's title, a browser notification when a
// project becomes ready for approval or needs them, and a banner when the board's own
// notifications (mc.yaml's notifications:) cannot be delivered.

import { h } from './dom.js';

const ASKED = 'mc-notify-asked';
let seen = null; // ids that were waiting when last looked (null: not looked yet)

/** Projects waiting for the person: ready for approval, or needing them. */
function waiting(board) {
  const out = new Map();
  for (const lane of board.lanes) {
    for (const card of lane.projects) {
      if (card.ready_for_human || card.needs_human) out.set(card.id, card);
    }
  }
  return out;
}

let count = 0;
let base = 'Mission Control';

/** The view's title ("Alpha · Mission Control"), with the waiting count before it. */
export function setTitle(title) {
  base = title;
  document.title = count ? `(${count}) ${base}` : base;
}

function titleCount(n) {
  count = n;
  setTitle(base);
}

/** Ask once (per browser) whether the page may raise notifications. */
function askOnce() {
  if (!('Notification' in window) || Notification.permission !== 'default') return;
  if (localStorage.getItem(ASKED)) return;
  localStorage.setItem(ASKED, '1');
  Notification.requestPermission().catch(() => {});
}

function notify(card) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  const title = card.ready_for_human ? `Ready for your approval: ${card.title}` : `Needs you: ${card.title}`;
  const body = card.ready_for_human ? `The reviewer passed ${card.id}.` : card.needs_human || '';
  const note = new Notification(title, { body, tag: `mc-${card.id}` });
  note.onclick = () => {
    window.focus();
    location.hash = `#/project/${encodeURIComponent(card.id)}`;
  };
}

function showUndelivered(items) {
  const slot = document.getElementById('notify-warning');
  if (!slot) return;
  slot.hidden = !items || !items.length;
  if (slot.hidden) return;
  const first = items[0];
  slot.replaceChildren(
    h('strong', null, `${items.length} notification${items.length === 1 ? '' : 's'} not delivered. `),
    `${first.event} to ${first.target}: ${first.error || 'failing'} (mc status lists them).`,
  );
}

/** Called with every board answer. */
export function showAttention(board) {
  const now = waiting(board);
  titleCount(now.size);
  showUndelivered(board.undelivered);
  if (seen === null) {
    askOnce();
  } else {
    for (const [id, card] of now) {
      if (!seen.has(id)) notify(card);
    }
  }
  seen = new Set(now.keys());
}
