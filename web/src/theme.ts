import { signal } from '@preact/signals';

export type Theme = 'system' | 'light' | 'dark';

function load(): Theme {
  try {
    const t = localStorage.getItem('parley.theme');
    return t === 'light' || t === 'dark' ? t : 'system';
  } catch {
    return 'system';
  }
}

export const theme = signal<Theme>(load());

export function applyTheme() {
  const t = theme.value;
  const dark = t === 'dark' || (t === 'system' && matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
}

export function setTheme(t: Theme) {
  theme.value = t;
  try {
    localStorage.setItem('parley.theme', t);
  } catch {
    /* ignore */
  }
  applyTheme();
}

matchMedia('(prefers-color-scheme: dark)').addEventListener?.('change', applyTheme);
