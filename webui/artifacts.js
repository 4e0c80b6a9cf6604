// A project's artifacts: text as-is, patches as a coloured diff, binaries as a size.

import { h } from './dom.js';
import { fmtBytes } from './format.js';

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

export function renderArtifacts(list) {
  if (!list.length) return h('p', { class: 'muted' }, 'No artifacts yet.');
  return h(
    'div',
    { class: 'artifacts' },
    list.map((a, i) =>
      h(
        'details',
        { class: `artifact artifact-${a.kind}`, dataset: { path: a.path }, open: i === 0 && list.length < 4 },
        h('summary', null, h('span', { class: 'artifact-path' }, a.path), h('span', { class: 'muted' }, ` ${a.kind} · ${fmtBytes(a.size)}`)),
        artifactBody(a),
      ),
    ),
  );
}
