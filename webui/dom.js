// Small DOM helpers. Every piece of user text goes in through text nodes, never innerHTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

// Properties rather than attributes, so form controls show the value set from JS.
const PROPERTIES = new Set(['value', 'checked', 'selected', 'indeterminate']);

function applyAttrs(el, attrs, isSvg) {
  const late = [];
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) if (v != null) el.dataset[k] = String(v);
    } else if (!isSvg && PROPERTIES.has(key)) {
      late.push([key, value]);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  return late;
}

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false || child === true) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function build(el, attrs, children, isSvg) {
  const late = applyAttrs(el, attrs, isSvg);
  appendChildren(el, children);
  // A <select>'s value can only be set once its options exist.
  for (const [key, value] of late) el[key] = value;
  return el;
}

/** h('div', {class: 'x', onclick: fn, dataset: {id: 1}}, 'text', child, [more]) */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children, false);
}

/** Same as h() for SVG elements. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children, true);
}

/** Replaces el's children, skipping null/false like h() does. */
export function fill(el, ...children) {
  el.replaceChildren();
  appendChildren(el, children);
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function $$(selector, root = document) {
  return [...root.querySelectorAll(selector)];
}

/** A labelled form control, with an optional hint under it. */
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control, hint && h('span', { class: 'field-hint' }, hint));
}

/** A titled panel of a page. */
export function panel(title, ...children) {
  return h('section', { class: 'panel' }, h('h2', { class: 'panel-title' }, title), ...children);
}

/** An error line (role="alert"), hidden until showMessage() gives it something to say. */
export function errorLine(extraClass = null) {
  return h('p', { class: extraClass ? `form-error ${extraClass}` : 'form-error', role: 'alert', hidden: true });
}

/** Shows a message in a status or error element; an empty message hides it. */
export function showMessage(el, message) {
  el.textContent = message || '';
  el.hidden = !message;
}

/** <select> options from [value, label] pairs or plain strings. */
export function options(items, selected) {
  return items.map((item) => {
    const [value, label] = Array.isArray(item) ? item : [item, item];
    return h('option', { value: String(value), selected: String(value) === String(selected ?? '') }, label);
  });
}

/**
 * An async fn that never runs twice at once: a call while it runs is answered by one
 * more run after it (however many calls came), and gets that same promise.
 */
export function serialized(fn) {
  let running = null;
  let again = false;
  return function call() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await fn();
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  };
}

/** Calls fn at most once per `ms`, at the end of the window (coalesces bursts). */
export function coalesce(fn, ms) {
  let timer = null;
  const run = () => {
    timer = null;
    fn();
  };
  const schedule = () => {
    if (timer === null) timer = setTimeout(run, ms);
  };
  schedule.cancel = () => {
    clearTimeout(timer);
    timer = null;
  };
  return schedule;
}

/** Copies text to the clipboard; falls back to selecting it for a manual copy. */
export async function copyText(text, selectEl) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (selectEl) {
      const range = document.createRange();
      range.selectNodeContents(selectEl);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }
    return false;
  }
}
