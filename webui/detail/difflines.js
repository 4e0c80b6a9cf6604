// The lines of one file of a diff, as a table (unified or side by side), with line
// comments under the lines they end on and a selection of lines to comment on.
// Every piece of code and every file name goes in as a text node (h()), never as HTML.

import { h } from '../dom.js';

/** The key that puts a comment (or a selection) under the line it ends on. */
export function anchorKey(path, side, line) {
  return `${side}:${line}:${path}`;
}

function lineButton(view, file, side, line) {
  if (line == null) return h('td', { class: 'ln' });
  const selected = view.selection?.isSelected(file.path, side, line);
  return h(
    'td',
    { class: selected ? 'ln ln-selected' : 'ln' },
    h(
      'button',
      {
        type: 'button',
        class: 'ln-btn',
        title: 'Comment on this line (shift-click: a range)',
        dataset: { side, line },
        disabled: !view.canComment,
        onclick: (event) => view.onLine(file, side, line, event.shiftKey),
      },
      String(line),
    ),
  );
}

function codeCell(line, extra = '') {
  if (!line) return h('td', { class: `code code-empty ${extra}` });
  const kind = line.kind === '+' ? 'diff-add' : line.kind === '-' ? 'diff-del' : 'diff-ctx';
  return h('td', { class: `code ${kind} ${extra}` }, h('span', { class: 'sign' }, line.kind), line.text);
}

function unifiedRow(view, file, line) {
  return h(
    'tr',
    { class: 'diff-row' },
    lineButton(view, file, 'old', line.old),
    lineButton(view, file, 'new', line.new),
    codeCell(line),
  );
}

function splitRow(view, file, row) {
  return h(
    'tr',
    { class: 'diff-row' },
    lineButton(view, file, 'old', row.old?.old),
    codeCell(row.old, 'code-old'),
    lineButton(view, file, 'new', row.new?.new),
    codeCell(row.new, 'code-new'),
  );
}

/** The anchors a rendered row carries: its old line, its new line. */
function rowAnchors(file, oldLine, newLine) {
  const keys = [];
  if (oldLine != null) keys.push(anchorKey(file.old_path || file.path, 'old', oldLine));
  if (newLine != null) keys.push(anchorKey(file.path, 'new', newLine));
  return keys;
}

function extrasAfter(view, file, keys, columns) {
  const out = [];
  for (const key of keys) {
    for (const comment of view.commentsAt.get(key) || []) out.push(wideRow(columns, view.commentCard(comment)));
    if (view.selection?.endsAt(key)) out.push(wideRow(columns, view.commentForm(file)));
  }
  return out;
}

function wideRow(columns, content) {
  return h('tr', { class: 'diff-extra' }, h('td', { colspan: columns }, content));
}

/** A <table> of the file's hunks in ``view.mode`` ("unified" or "split"). */
export function fileTable(view, file) {
  const split = view.mode === 'split';
  const columns = split ? 4 : 3;
  const rows = [];
  for (const hunk of file.hunks) {
    rows.push(h('tr', { class: 'diff-hunk-row' }, h('td', { colspan: columns, class: 'diff-hunk' }, hunk.header)));
    if (split) {
      for (const row of hunk.rows) {
        rows.push(splitRow(view, file, row));
        rows.push(...extrasAfter(view, file, rowAnchors(file, row.old?.old, row.new?.new), columns));
      }
    } else {
      for (const line of hunk.lines) {
        rows.push(unifiedRow(view, file, line));
        rows.push(...extrasAfter(view, file, rowAnchors(file, line.old, line.new), columns));
      }
    }
  }
  return h('table', { class: `diff-table diff-${view.mode}` }, h('tbody', null, rows));
}
