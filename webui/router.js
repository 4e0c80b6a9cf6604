// Hash routes: #/board?archetype=coder, #/project/MC-3, #/calendar?month=2025-05 ...

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#/, '');
  const cut = raw.indexOf('?');
  const path = cut === -1 ? raw : raw.slice(0, cut);
  const params = new URLSearchParams(cut === -1 ? '' : raw.slice(cut + 1));
  const parts = path.split('/').filter(Boolean).map(safeDecode);
  return { name: parts[0] || 'board', arg: parts[1] ?? null, params };
}

export function hrefFor(name, arg = null, params = null) {
  let href = `#/${name}`;
  if (arg != null) href += `/${encodeURIComponent(arg)}`;
  const qs = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v != null && v !== '')).toString() : '';
  return qs ? `${href}?${qs}` : href;
}

export function projectHref(id) {
  return hrefFor('project', id);
}

/** Rewrites the query of the current route without a navigation (no hashchange, no history entry). */
export function replaceParams(params) {
  const { name, arg, params: current } = parseHash();
  const at = current.get('at'); // a board of the past stays in the past while it is filtered
  history.replaceState(null, '', hrefFor(name, arg, at ? { at, ...params } : params));
}

export function navigate(href) {
  if (location.hash === href) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = href;
}

function safeDecode(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return part; // a malformed escape in a hand-typed URL: take it as it is
  }
}
