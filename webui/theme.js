// Light and dark: the browser's preference unless the person picked one here. The
// choice (system, light or dark) is kept per browser in localStorage; style.css keys
// its colours on html[data-theme], which always holds the theme in force.

const STORAGE_KEY = 'mc-theme';
const CHOICES = ['system', 'light', 'dark'];
const LABELS = { system: 'System theme', light: 'Light theme', dark: 'Dark theme' };
const ICONS = { system: '◐', light: '☀', dark: '☾' };
const media = window.matchMedia('(prefers-color-scheme: light)');
let unsaved = null; // a choice made while storage is refused: shown until the page reloads

/** The stored choice; anything unknown (or storage refused) counts as "system". */
export function themeChoice() {
  let stored = unsaved;
  try {
    stored = localStorage.getItem(STORAGE_KEY) ?? unsaved;
  } catch {
    // storage disabled (private mode, policy): follow the system
  }
  return CHOICES.includes(stored) ? stored : 'system';
}

function resolved(choice) {
  if (choice !== 'system') return choice;
  return media.matches ? 'light' : 'dark';
}

function apply() {
  const choice = themeChoice();
  const root = document.documentElement;
  root.dataset.theme = resolved(choice);
  root.dataset.themeChoice = choice;
  const button = document.getElementById('theme-toggle');
  if (button) {
    const next = CHOICES[(CHOICES.indexOf(choice) + 1) % CHOICES.length];
    button.textContent = ICONS[choice];
    button.setAttribute('aria-label', `${LABELS[choice]} (switch to ${next})`);
    button.title = `${LABELS[choice]} — click for ${next}`;
    button.dataset.theme = choice;
  }
}

/** Saves a choice and shows it at once. */
export function setTheme(choice) {
  try {
    if (choice === 'system') localStorage.removeItem(STORAGE_KEY);
    else localStorage.setItem(STORAGE_KEY, choice);
    unsaved = null;
  } catch {
    unsaved = choice; // not kept across reloads, but still shown now
  }
  apply();
}

/** system → light → dark → system. */
export function cycleTheme() {
  const choice = themeChoice();
  setTheme(CHOICES[(CHOICES.indexOf(choice) + 1) % CHOICES.length]);
}

/** Applies the theme now and whenever the system preference (or another tab's choice) changes. */
export function initTheme() {
  apply();
  media.addEventListener('change', apply);
  window.addEventListener('storage', (e) => {
    if (e.key === STORAGE_KEY || e.key === null) apply();
  });
  document.getElementById('theme-toggle')?.addEventListener('click', cycleTheme);
}
