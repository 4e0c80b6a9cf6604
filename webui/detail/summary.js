// The project page's read-only parts: the header, the banners for what is wrong, the review.

import { h, fill } from '../dom.js';
import { setTitle } from '../attention.js';
import { laneBadge, priorityBadge, dueBadge, statusBadges } from '../badges.js';

/** The project's review: on the card once it has one, else in its file. */
export function reviewOf(p) {
  return p.review || p.data?.review;
}

export function renderHeader(header, p) {
  header.replaceChildren(
    h('div', { class: 'detail-kicker' }, h('span', { class: 'card-id' }, p.id), laneBadge(p.lane), h('span', { class: 'chip chip-archetype' }, p.archetype), p.model && h('span', { class: 'chip chip-model' }, p.model), priorityBadge(p.priority), dueBadge(p.due, p.overdue)),
    h('h1', { class: 'detail-title' }, p.title),
    h('div', { class: 'card-badges' }, statusBadges(p)),
  );
  setTitle(`${p.title} · Mission Control`);
}

export function renderBanners(banners, p) {
  fill(
    banners,
    p.invalid && h('div', { class: 'banner banner-error', role: 'alert' }, h('strong', null, 'Invalid project file: '), p.invalid),
    p.violation && h('div', { class: 'banner banner-error', role: 'alert' }, h('strong', null, 'Rule violation: '), p.violation),
    p.needs_human && h('div', { class: 'banner banner-warn' }, h('strong', null, 'Needs a person: '), p.needs_human),
  );
}

export function renderReview(body, p) {
  const review = reviewOf(p);
  if (!review) {
    body.replaceChildren(h('p', { class: 'muted' }, 'No review yet.'));
    return;
  }
  const pass = review.verdict === 'pass';
  body.replaceChildren(
    h('p', null, h('span', { class: `badge badge-review-${pass ? 'pass' : 'fail'}`, dataset: { badge: `review-${pass ? 'pass' : 'fail'}` } }, pass ? '✓ Passed' : '✗ Failed')),
    review.notes ? h('div', { class: 'review-notes prose' }, review.notes) : h('p', { class: 'muted' }, 'No notes.'),
  );
}
