"""The board's cards in memory, lane by lane, kept current one change at a time.

At 10,000 projects, building /api/board again from every row on each commit costs more
than the commit. So the server reads all cards once, then the live feed's listener hands
each notification's project ids to ``apply``: those few rows are read again, their cards
replaced in their lane's order, and the change comes back as the patch the page applies
(changed cards, removed ids, lane counts, the new ``version`` and the ``previous`` one).

A lane's order is a sorted list of rank tuples (bisect keeps it sorted: an insert moves a
few thousand pointers, cheaper than a sortedcontainers dependency for this one use).
Ranks are what the page sorts by too (each card's ``rank``): done lists the most recently
done first; every other lane keeps the board's order (priority, then time in the lane).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime as dt
import itertools
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mc.board.layout import LANE_NAMES_ORDERED, Lane
from mc.errors import BadQuery
from mc.mirror import db

Rank = tuple[Any, ...]
CardMaker = Callable[[Mapping[str, Any], dt.datetime], dict[str, Any]]

FIRST_PAGE = {Lane.DONE.value: 25}  # done starts collapsed to its most recent
PAGE = 100  # the first page of every other lane, and the default page size
PAGE_MAX = 500
SEARCH_MAX = 200  # matching cards sent per lane (with the lane's full match count)
CLOCK_SECONDS = 30.0  # "overdue" changes with the clock, not only with commits
NO_PRIORITY = 99  # sorts after 1..4, as the board's SQL order (NULLS LAST)


def rank_of(row: Mapping[str, Any]) -> Rank:
    """Where a card sorts in its lane (smaller first)."""
    since = row["lane_since"].timestamp()
    if row["lane"] == Lane.DONE:
        return (-since, row["id"])
    return (row["priority"] or NO_PRIORITY, since, row["id"])


def encode_cursor(rank: Rank) -> str:
    return base64.urlsafe_b64encode(json.dumps(rank).encode()).decode().rstrip("=")


def decode_cursor(lane: str, text: str) -> Rank:
    """The rank a ``before`` cursor names; a one-line 400 for anything this board did not give."""
    bad = BadQuery(f"before: {text[:40]!r} is not a cursor of lane {lane}")
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error):
        raise bad from None
    shape = (float, str) if lane == Lane.DONE else (int, float, str)
    if not isinstance(value, list) or len(value) != len(shape):
        raise bad
    # JSON gives ints for whole floats: compare as numbers, never across types
    pairs = list(zip(value, shape, strict=True))
    fixed = [float(v) if t is float and isinstance(v, int) else v for v, t in pairs]
    if not all(
        isinstance(v, t) and not isinstance(v, bool) for v, (_, t) in zip(fixed, pairs, strict=True)
    ) or not all(math.isfinite(v) for v in fixed if isinstance(v, float)):
        raise bad
    return tuple(fixed)


def _haystack(card: Mapping[str, Any]) -> str:
    """What the words of a search look in: the same fields as the page's filter bar."""
    parts = [card["id"], card["title"], card["archetype"], card["model"], card["owner"]]
    return " ".join(str(p or "").lower() for p in [*parts, *card["labels"]])


class Filters:
    """The filter bar's filters (archetype, label, owner, words), as the server applies them."""

    def __init__(self, query: Mapping[str, str]) -> None:
        self.archetype = query.get("archetype", "")
        self.label = query.get("label", "").lower()
        self.owner = query.get("owner", "").lower()
        self.words = query.get("q", "").lower().split()
        for key in ("q", "archetype", "label", "owner"):
            if len(query.get(key, "")) > 500:
                raise BadQuery(f"{key}: longer than 500 characters")

    def __bool__(self) -> bool:
        return bool(self.archetype or self.label or self.owner or self.words)

    def match(self, card: Mapping[str, Any], hay: str) -> bool:
        if self.archetype and card["archetype"] != self.archetype:
            return False
        if self.label and not any(str(x).lower() == self.label for x in card["labels"]):
            return False
        if self.owner and str(card["owner"] or "").lower() != self.owner:
            return False
        return all(w in hay for w in self.words)


class Entry:
    """One card and what the lanes need to find, sort and search it."""

    __slots__ = ("card", "hay", "lane", "rank", "row")

    def __init__(self, row: Mapping[str, Any], card: dict[str, Any]) -> None:
        self.row = row
        self.lane: str = row["lane"]
        self.rank = rank_of(row)
        card["rank"] = list(self.rank)  # the page sorts a patched card in with it
        self.card = card
        self.hay = _haystack(card)


class Lanes:
    """Every card in memory, per lane in order; one lock for the listener and the readers."""

    def __init__(self, make_card: CardMaker) -> None:
        self.make_card = make_card
        self.lock = threading.Lock()
        self.entries: dict[str, Entry] = {}
        self.order: dict[str, list[Rank]] = {name: [] for name in LANE_NAMES_ORDERED}
        self.built = False
        self._boot = secrets.token_hex(4)  # a restarted server's versions never match old ones
        self._seq = itertools.count(1)
        self.version = ""
        self._clock = 0.0
        self._texts: dict[str, tuple[str, tuple[list[Entry], str, list[int]]]] = {}

    # ------------------------------------------------------------------ changes

    def build(self, conn: db.Connection) -> None:
        """Read every card (the first answer, and after a rebuild of the mirror)."""
        with self.lock:
            rows = db.fetch_all(conn, "board_cards")
            conn.commit()
            now = dt.datetime.now(dt.UTC)
            self.entries = {r["id"]: Entry(r, self.make_card(r, now)) for r in rows}
            self.order = {name: [] for name in LANE_NAMES_ORDERED}
            for entry in self.entries.values():
                self.order[entry.lane].append(entry.rank)
            for ranks in self.order.values():
                ranks.sort()
            self.built = True
            self._clock = time.monotonic()
            self._bump()

    def apply(self, conn: db.Connection, ids: Iterable[str]) -> dict[str, Any] | None:
        """Read ``ids`` again; the patch for the page, or None when no card changed (or
        nothing is built yet: no page holds a version of this server then)."""
        wanted = sorted(set(ids))
        with self.lock:
            if not self.built or not wanted:
                return None
            rows = {r["id"]: r for r in db.fetch_all(conn, "board_cards_by_ids", {"ids": wanted})}
            now = dt.datetime.now(dt.UTC)
            changed, removed = [], []
            for pid in wanted:
                row = rows.get(pid)
                if row is None:
                    if self._drop(pid) is not None:
                        removed.append(pid)
                    continue
                entry = Entry(row, self.make_card(row, now))
                old = self.entries.get(pid)
                if old is not None and old.card == entry.card and old.rank == entry.rank:
                    continue
                self._drop(pid)
                self._put(entry)
                changed.append(entry.card)
            if not changed and not removed:
                return None
            return self._patch(changed, removed)

    def tick(self) -> dict[str, Any] | None:
        """Every CLOCK_SECONDS: the cards whose "overdue" the clock changed, made again and
        returned as a patch (the feed's clock sends it, see Hub._clock)."""
        if time.monotonic() - self._clock < CLOCK_SECONDS:
            return None
        with self.lock:
            self._clock = time.monotonic()
            now = dt.datetime.now(dt.UTC)
            flipped = []
            for entry in self.entries.values():
                if entry.card.get("due") is None or entry.lane == Lane.DONE:
                    continue
                card = self.make_card(entry.row, now)
                if card["overdue"] != entry.card["overdue"]:
                    entry.card = {**card, "rank": entry.card["rank"]}
                    flipped.append(entry.card)
            if not flipped:
                return None
            return self._patch(flipped, [])

    def _patch(self, cards: list[dict[str, Any]], removed: list[str]) -> dict[str, Any]:
        """A new board version, and the patch from the one before (caller holds the lock)."""
        previous = self.version
        self._bump()
        return {
            "version": self.version,
            "previous": previous,
            "cards": cards,
            "removed": removed,
            "counts": self.counts(),
        }

    def _bump(self) -> None:
        self.version = f"{self._boot}.{next(self._seq)}"

    def _drop(self, pid: str) -> Entry | None:
        entry = self.entries.pop(pid, None)
        if entry is not None:
            ranks = self.order[entry.lane]
            i = bisect.bisect_left(ranks, entry.rank)
            if i < len(ranks) and ranks[i] == entry.rank:
                del ranks[i]
        return entry

    def _put(self, entry: Entry) -> None:
        self.entries[entry.card["id"]] = entry
        bisect.insort(self.order[entry.lane], entry.rank)

    # ------------------------------------------------------------------ reads (under lock)

    def counts(self) -> dict[str, int]:
        return {name: len(ranks) for name, ranks in self.order.items()}

    def page(self, lane: str, before: Rank | None, limit: int) -> dict[str, Any]:
        """Up to ``limit`` cards of ``lane`` after the ``before`` cursor, and the next cursor."""
        ranks = self.order[lane]
        start = 0 if before is None else bisect.bisect_right(ranks, before)
        shown = ranks[start : start + limit]
        more = start + limit < len(ranks)
        return {
            "count": len(ranks),
            "projects": [self.entries[r[-1]].card for r in shown],
            "next": encode_cursor(shown[-1]) if more and shown else None,
        }

    def first_pages(self) -> list[dict[str, Any]]:
        return [
            {"name": name, **self.page(name, None, FIRST_PAGE.get(name, PAGE))}
            for name in LANE_NAMES_ORDERED
        ]

    def search(self, filters: Filters) -> list[dict[str, Any]]:
        """Every card (loaded by the page or not) that passes the filters, lane by lane."""
        out = []
        for name in LANE_NAMES_ORDERED:
            found = [e for e in self._candidates(name, filters) if filters.match(e.card, e.hay)]
            out.append(
                {
                    "name": name,
                    "count": len(found),
                    "projects": [e.card for e in found[:SEARCH_MAX]],
                    "next": None,
                }
            )
        return out

    def _candidates(self, lane: str, filters: Filters) -> list[Entry]:
        """The lane's cards (in order) that may match: with words, only those whose text
        holds the longest word, found by str.find over the lane's text joined once per
        version (C speed; a Python loop over 10,000 cards per keystroke was the cost)."""
        entries, text, starts = self._text(lane)
        if not filters.words:
            return entries
        word = max(filters.words, key=len)
        hits: list[int] = []
        at = text.find(word)
        while at >= 0:
            i = bisect.bisect_right(starts, at) - 1
            if not hits or hits[-1] != i:
                hits.append(i)
            at = text.find(word, starts[i + 1] if i + 1 < len(starts) else len(text))
        return [entries[i] for i in hits]

    def _text(self, lane: str) -> tuple[list[Entry], str, list[int]]:
        cached = self._texts.get(lane)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        entries = [self.entries[r[-1]] for r in self.order[lane]]
        starts, at = [], 0
        for e in entries:
            starts.append(at)
            at += len(e.hay) + 1
        built = (entries, "\n".join(e.hay for e in entries), starts)
        self._texts[lane] = (self.version, built)
        return built
