// Transient messages. Errors use role="alert" so assistive tech reads them at once.

import { h } from './dom.js';

const ERROR_MS = 9000;
const INFO_MS = 4000;

/**
 * showToast('Cannot move ...', {kind: 'error'})
 * showToast('Created MC-4', {link: {href: '#/project/MC-4', label: 'Open'}})
 */
export function showToast(message, { kind = 'info', link = null } = {}) {
  const container = document.getElementById('toasts');
  const close = () => toast.remove();
  const toast = h(
    'div',
    { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', { class: 'toast-text' }, message),
    link && h('a', { class: 'toast-link', href: link.href, onclick: close }, link.label),
    h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: close }, '×'),
  );
  container.append(toast);
  setTimeout(close, kind === 'error' ? ERROR_MS : INFO_MS);
  return toast;
}

/** The message a person should see for any failure (ApiError or otherwise). */
export function errorText(err) {
  return err?.message || String(err);
}
