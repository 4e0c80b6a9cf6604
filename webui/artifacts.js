// A project's artifacts: text as-is, patches as a coloured diff, binaries as a size.

import { api } from './api.js';
import { h } from './dom.js';
import { fmtBytes } from './format.js';
import { errorText } from './toast.js';

function diffLineClass(line) {
  if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('diff ') || line.startsWith('index ')) return 'diff-file';
  if (line.startsWith('@@')) return 'diff-hunk';
  if (line.startsWith('+')) return 'diff-add';
  if (line.startsWith('-')) return 'diff-del';
  return 'diff-ctx';
}

function renderDiff(text) {
  return h(
    'pre',
    { class: 'diff' },
    text.split('\n').map((line) => h('span', { class: `diff-line ${diffLineClass(line)}` }, `${line}\n`)),
  );
}

function artifactBody(a) {
  if (a.kind === 'binary' || a.text == null) return h('p', { class: 'muted' }, `Binary file, ${fmtBytes(a.size)}.`);
  if (a.kind === 'patch') return renderDiff(a.text);
  return h('pre', { class: 'artifact-text' }, a.text);
}

function renderArtifacts(list) {
  if (!list.length) return h('p', { class: 'muted' }, 'No artifacts yet.');
  return h(
    'div',
    { class: 'artifacts' },
    list.map((a, i) => artifactItem(a, i === 0 && list.length < 4)),
  );
}

/** One artifact; its body is built when it is first opened (a closed 5,000-line patch
 * costs the page nothing). */
function artifactItem(a, open) {
  const item = h(
    'details',
    { class: `artifact artifact-${a.kind}`, dataset: { path: a.path }, open },
    h('summary', null, h('span', { class: 'artifact-path' }, a.path), h('span', { class: 'muted' }, ` ${a.kind} · ${fmtBytes(a.size)}`)),
  );
  let built = false;
  const build = () => {
    if (item.open && !built) {
      built = true;
      item.append(artifactBody(a));
    }
  };
  item.addEventListener('toggle', build);
  build();
  return item;
}

/** The project page's Artifacts panel (el); load() fetches them again, keeping open what the person opened. */
export function createArtifactsPanel(projectId) {
  const el = h('div');
  async function load() {
    const open = new Set([...el.querySelectorAll('details[open]')].map((d) => d.dataset.path));
    try {
      const rendered = renderArtifacts(await api.projectArtifacts(projectId));
      if (open.size) for (const d of rendered.querySelectorAll('details')) d.open = open.has(d.dataset.path);
      el.replaceChildren(rendered);
    } catch (err) {
      el.replaceChildren(h('p', { class: 'form-error' }, errorText(err)));
    }
  }
  return { el, load };
}
