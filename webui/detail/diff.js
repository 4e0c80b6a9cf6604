// The project page's Changes panel (coder projects): the change of the project's branch
// as the server parsed it (GET /api/projects/ID/diff, paged), a file list, unified or
// side-by-side lines, line comments (click a line number; shift-click a range) and
// "Request changes", which sends the project back with the open comments.

import { api } from '../api.js';
import { h, errorLine, showMessage } from '../dom.js';
import { errorText, showToast } from '../toast.js';
import { anchorKey, fileTable } from './difflines.js';

const VIEW_KEY = 'mc.diff.view';

function storedMode() {
  try {
    return localStorage.getItem(VIEW_KEY) === 'split' ? 'split' : 'unified';
  } catch {
    return 'unified';
  }
}

/** The panel (el); load() fetches the diff and its comments again. */
export function createDiffPanel(page) {
  const view = {
    page,
    mode: storedMode(),
    pageNo: 1,
    data: null,
    comments: [],
    commentsAt: new Map(),
    expanded: new Map(), // path -> the file with its lines, fetched by "Show file"
    selection: null,
    canComment: page.canWrite,
    el: h('div', { class: 'diff-viewer', dataset: { view: storedMode() } }, h('p', { class: 'muted' }, 'Loading the change…')),
  };
  view.onLine = (file, side, line, extend) => selectLine(view, file, side, line, extend);
  view.commentCard = (c) => commentCard(view, c);
  view.commentForm = (file) => commentForm(view, file);
  return {
    el: view.el,
    load: ({ quiet = false } = {}) => (quiet && typing(view) ? null : load(view)),
    prefetch: () => (view.pending = fetchBoth(view)),
  };
}

/** The diff page and the comments, asked for together. */
function fetchBoth(view) {
  return Promise.all([api.diff(view.page.id, { page: view.pageNo, view: view.mode }), api.diffComments(view.page.id)]);
}

/** The person is writing in the panel (a comment, a note): a live refresh waits. */
function typing(view) {
  return view.el.contains(document.activeElement) && document.activeElement.tagName === 'TEXTAREA';
}

async function load(view) {
  try {
    // The first load takes what prefetch() started while the project loaded.
    const pending = view.pending || fetchBoth(view);
    view.pending = null;
    const [data, comments] = await pending;
    // A live refresh that finds the same change and comments leaves the drawn lines be.
    const signature = JSON.stringify([data.head, data.source, data.page, data.view, comments.comments]);
    if (signature === view.signature) return;
    view.signature = signature;
    view.data = data;
    setComments(view, comments.comments);
  } catch (err) {
    view.signature = null;
    view.el.replaceChildren(h('p', { class: 'form-error' }, errorText(err)));
    return;
  }
  render(view);
}

function setComments(view, comments) {
  view.comments = comments;
  view.commentsAt = new Map();
  for (const c of comments) {
    const key = anchorKey(c.path, c.side, c.end_line);
    view.commentsAt.set(key, [...(view.commentsAt.get(key) || []), c]);
  }
}

function render(view) {
  const d = view.data;
  view.el.dataset.view = view.mode;
  if (d.source === 'none') {
    view.el.replaceChildren(h('p', { class: 'muted diff-none' }, `No change yet: the branch ${d.branch} of the workspace shows here after a run.`));
    return;
  }
  const shown = h('div', { class: 'diff-files-shown' });
  view.el.replaceChildren(
    toolbar(view),
    d.notice && h('p', { class: 'diff-notice', role: 'status' }, d.notice),
    d.source === 'artifact' && h('p', { class: 'muted' }, 'The workspace is not on this machine: this is the patch the last run committed.'),
    fileList(view),
    shown,
    pager(view),
    commentList(view),
    view.canComment && view.page.project?.lane === 'review' && requestChangesForm(view),
  );
  drawFiles(view, shown, d.shown.map((f) => view.expanded.get(f.path) || f));
}

const FIRST_ROWS = 400; // rows drawn before the page shows; the rest follow frame by frame

function rowCount(f) {
  return (f.hunks || []).reduce((n, hunk) => n + (hunk.lines || hunk.rows).length, 0);
}

/** The files' blocks into ``into``: the first ones at once, the others in later frames,
 * so the first lines of a long change show without waiting for the last ones. */
function drawFiles(view, into, files) {
  const generation = (view.generation = (view.generation || 0) + 1);
  view.blocks = new Map();
  let next = 0;
  const drawSome = (budget) => {
    let rows = 0;
    while (next < files.length && (rows === 0 || rows < budget)) {
      const f = files[next++];
      const block = fileBlock(view, f);
      view.blocks.set(f.path, { file: f, el: block });
      into.append(block);
      rows += rowCount(f) + 1;
    }
    if (next < files.length) requestAnimationFrame(() => generation === view.generation && drawSome(FIRST_ROWS * 2));
  };
  drawSome(FIRST_ROWS);
}

/** Draw one file again (a selection changed in it), leaving the others as they are. */
function redrawFile(view, path) {
  const drawn = view.blocks?.get(path);
  if (!drawn) return;
  const block = fileBlock(view, drawn.file);
  drawn.el.replaceWith(block);
  drawn.el = block;
}

function toolbar(view) {
  const d = view.data;
  const added = d.files.reduce((n, f) => n + f.added, 0);
  const removed = d.files.reduce((n, f) => n + f.removed, 0);
  const modeButton = (mode, label) =>
    h(
      'button',
      { type: 'button', class: view.mode === mode ? 'btn btn-small active' : 'btn btn-small', 'aria-pressed': String(view.mode === mode), dataset: { mode }, onclick: () => setMode(view, mode) },
      label,
    );
  return h(
    'div',
    { class: 'diff-toolbar' },
    h('span', { class: 'diff-summary' }, `${d.files.length} files `, h('span', { class: 'added' }, `+${added}`), ' ', h('span', { class: 'removed' }, `−${removed}`), ` · ${d.branch}`),
    h('span', { class: 'diff-modes', role: 'group', 'aria-label': 'Diff view' }, modeButton('unified', 'Unified'), modeButton('split', 'Side by side')),
  );
}

function setMode(view, mode) {
  view.mode = mode;
  view.expanded.clear();
  try {
    localStorage.setItem(VIEW_KEY, mode);
  } catch {
    // private mode: the choice lasts for this page only
  }
  load(view);
}

function fileName(f) {
  return f.old_path ? `${f.old_path} → ${f.path}` : f.path;
}

function counts(f) {
  if (f.binary) return h('span', { class: 'diff-binary' }, 'binary');
  return h('span', { class: 'diff-counts' }, h('span', { class: 'added' }, `+${f.added}`), ' ', h('span', { class: 'removed' }, `−${f.removed}`));
}

function fileList(view) {
  return h(
    'ul',
    { class: 'diff-file-list' },
    view.data.files.map((f) =>
      h(
        'li',
        { dataset: { path: f.path, status: f.status } },
        h('span', { class: `diff-status diff-status-${f.status}` }, f.status),
        ' ',
        h('button', { type: 'button', class: 'link diff-file-link', onclick: () => goToFile(view, f) }, fileName(f)),
        ' ',
        counts(f),
      ),
    ),
  );
}

async function goToFile(view, f) {
  if (f.page !== view.pageNo) {
    view.pageNo = f.page;
    await load(view);
  }
  [...view.el.querySelectorAll('.diff-filebox')].find((el) => el.dataset.path === f.path)?.scrollIntoView();
}

function fileBlock(view, f) {
  let body;
  if (f.omitted) body = h('p', { class: 'muted diff-omitted-note' }, 'Not shown: this file comes after the point where the change was cut.');
  else if (f.binary) body = h('p', { class: 'muted diff-binary-note' }, 'Binary file: content not shown.');
  else if (f.hunks) body = fileTable(view, f);
  else
    body = h(
      'button',
      { type: 'button', class: 'btn btn-small diff-show-file', onclick: () => showFile(view, f) },
      `Show file (${f.added + f.removed} changed lines)`,
    );
  return h(
    'div',
    { class: 'diff-filebox', dataset: { path: f.path } },
    h('div', { class: 'diff-file-header' }, h('span', { class: 'diff-file-name' }, fileName(f)), ' ', counts(f)),
    body,
  );
}

async function showFile(view, f) {
  try {
    const got = await api.diff(view.page.id, { view: view.mode, file: f.path });
    view.expanded.set(f.path, got.shown[0]);
    render(view);
  } catch (err) {
    showToast(errorText(err), { kind: 'error' });
  }
}

function pager(view) {
  const d = view.data;
  if (d.pages < 2) return null;
  const go = (n) => {
    view.pageNo = n;
    view.expanded.clear();
    load(view);
  };
  return h(
    'nav',
    { class: 'diff-pager', 'aria-label': 'Pages of the change' },
    h('button', { type: 'button', class: 'btn btn-small', disabled: d.page <= 1, dataset: { go: 'prev' }, onclick: () => go(d.page - 1) }, '‹ Previous'),
    h('span', { class: 'diff-page' }, `Page ${d.page} of ${d.pages}`),
    h('button', { type: 'button', class: 'btn btn-small', disabled: d.page >= d.pages, dataset: { go: 'next' }, onclick: () => go(d.page + 1) }, 'Next ›'),
  );
}

// ---------------------------------------------------------------------- line comments

function selectLine(view, file, side, line, extend) {
  const path = side === 'old' ? file.old_path || file.path : file.path;
  const sel = view.selection;
  let start = line;
  let end = line;
  if (extend && sel && sel.path === path && sel.side === side) {
    start = Math.min(sel.start, line);
    end = Math.max(sel.end, line);
  }
  view.selection = {
    file: file.path,
    path,
    side,
    start,
    end,
    isSelected: (p, s, n) => s === side && (p === path || p === file.path) && n >= start && n <= end,
    endsAt: (key) => key === anchorKey(path, side, end),
  };
  if (sel && sel.file !== file.path) redrawFile(view, sel.file);
  redrawFile(view, file.path);
}

function clearSelection(view) {
  const sel = view.selection;
  view.selection = null;
  if (sel) redrawFile(view, sel.file);
}

function commentForm(view, file) {
  const sel = view.selection;
  const text = h('textarea', { name: 'text', rows: 3, required: true, 'aria-label': 'Comment', placeholder: 'What should change here?' });
  const status = errorLine();
  const where = `${sel.path}:${sel.start}${sel.end !== sel.start ? `-${sel.end}` : ''}${sel.side === 'old' ? ' (old)' : ''}`;
  const form = h(
    'form',
    { class: 'diff-comment-form', dataset: { file: file.path } },
    h('span', { class: 'muted' }, `Comment on ${where}`),
    text,
    h(
      'div',
      { class: 'action-row' },
      h('button', { type: 'submit', class: 'btn btn-small btn-primary' }, 'Comment'),
      h('button', { type: 'button', class: 'btn btn-small', onclick: () => clearSelection(view) }, 'Cancel'),
    ),
    status,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api.addDiffComment(view.page.id, { path: sel.path, side: sel.side, start: sel.start, end: sel.end, text: text.value });
    } catch (err) {
      showMessage(status, errorText(err));
      return;
    }
    view.selection = null;
    await load(view);
  });
  queueMicrotask(() => text.focus());
  return form;
}

function commentWhere(c) {
  return `${c.path}:${c.start_line}${c.end_line !== c.start_line ? `-${c.end_line}` : ''}${c.side === 'old' ? ' (old)' : ''}`;
}

function commentCard(view, c) {
  const mine = view.canComment && c.author === view.page.ctx.session?.name;
  const act = (label, fn) => h('button', { type: 'button', class: 'btn btn-small', onclick: fn }, label);
  return h(
    'div',
    { class: c.resolved_at ? 'diff-comment resolved' : 'diff-comment', dataset: { comment: c.id } },
    h('div', { class: 'diff-comment-head' }, h('strong', null, c.author), ' ', h('span', { class: 'muted' }, commentWhere(c)), c.resolved_at && h('span', { class: 'badge diff-resolved' }, c.resolved_by === 'run' ? 'resolved by a later run' : 'resolved')),
    h('pre', { class: 'diff-quote' }, c.quote),
    h('p', { class: 'diff-comment-text' }, c.text),
    mine && !c.resolved_at && act('Resolve', () => commentAction(view, () => api.resolveDiffComment(view.page.id, c.id))),
    mine && act('Delete', () => commentAction(view, () => api.deleteDiffComment(view.page.id, c.id))),
  );
}

async function commentAction(view, call) {
  try {
    await call();
  } catch (err) {
    showToast(errorText(err), { kind: 'error' });
  }
  await load(view);
}

function commentList(view) {
  if (!view.comments.length) return null;
  const open = view.comments.filter((c) => !c.resolved_at);
  const done = view.comments.filter((c) => c.resolved_at);
  return h(
    'div',
    { class: 'diff-comment-list' },
    h('h3', null, `Line comments: ${open.length} open, ${done.length} resolved`),
    [...open, ...done].map((c) => commentCard(view, c)),
  );
}

function requestChangesForm(view) {
  const notes = h('textarea', { name: 'notes', rows: 3, 'aria-label': 'General note', placeholder: 'A general note for the next run (optional)' });
  const status = errorLine();
  const open = view.comments.filter((c) => !c.resolved_at).length;
  const form = h(
    'form',
    { class: 'diff-request-changes' },
    notes,
    h('button', { type: 'submit', class: 'btn btn-primary', dataset: { action: 'request-changes' } }, `Request changes (${open} line comments)`),
    status,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      view.page.applyProject(await api.requestChanges(view.page.id, notes.value));
    } catch (err) {
      showMessage(status, errorText(err));
      return;
    }
    showToast('Sent back for rework with the line comments');
    view.page.ctx.refreshBoard?.();
    render(view);
  });
  return form;
}
