// What the board answer (/api/board) holds: its cards, lane by lane.

/** Every card on the board, lane after lane (none before it has loaded). */
export function boardCards(board) {
  return (board?.lanes || []).flatMap((lane) => lane.projects);
}

/** The card of project `id`, or null. */
export function findCard(board, id) {
  return boardCards(board).find((card) => card.id === id) ?? null;
}

/**
 * The lanes the signed-in person may move `card` to: the board answer's `moves` (per lane,
 * from the server's rules.allowed_moves for this principal), with done only where the card
 * can be approved. The project page gets the same list as its project's `moves`.
 */
export function movesFor(board, card) {
  return (board?.moves?.[card.lane] || []).filter((lane) => lane !== 'done' || card.approvable);
}

/** Cards in a lane sort by their `rank` (arrays compared item by item), as the server sorts. */
export function compareRank(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] < b[i]) return -1;
    if (a[i] > b[i]) return 1;
  }
  return a.length - b.length;
}

/** Where a lane's loaded cards end: a card ranked after it is in a page not loaded yet. */
export function markEdge(lane) {
  lane.edge = lane.next && lane.projects.length ? lane.projects[lane.projects.length - 1].rank : null;
}

/**
 * Applies a board event's patch ({version, previous, cards, removed, counts}) to `board`
 * in place. False when the board is not the version the patch follows (an event was
 * missed, the stream came back, the server restarted): then the board must be fetched.
 */
export function patchBoard(board, patch) {
  if (!board || !patch || patch.reload || !patch.version || patch.previous !== board.version) return false;
  const gone = new Set([...(patch.removed || []), ...patch.cards.map((c) => c.id)]);
  for (const lane of board.lanes) {
    if (lane.projects.some((c) => gone.has(c.id))) lane.projects = lane.projects.filter((c) => !gone.has(c.id));
  }
  for (const card of patch.cards) {
    const lane = board.lanes.find((l) => l.name === card.lane);
    if (!lane || (lane.edge && compareRank(card.rank, lane.edge) > 0)) continue;
    const at = lane.projects.findIndex((c) => compareRank(card.rank, c.rank) < 0);
    lane.projects.splice(at < 0 ? lane.projects.length : at, 0, card);
  }
  for (const lane of board.lanes) lane.count = patch.counts?.[lane.name] ?? lane.count;
  board.version = patch.version;
  return true;
}
