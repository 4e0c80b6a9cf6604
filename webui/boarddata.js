// What the board answer (/api/board) holds: its cards, lane by lane.

/** Every card on the board, lane after lane (none before it has loaded). */
export function boardCards(board) {
  return (board?.lanes || []).flatMap((lane) => lane.projects);
}

/** The card of project `id`, or null. */
export function findCard(board, id) {
  return boardCards(board).find((card) => card.id === id) ?? null;
}
