import { render } from 'preact';
import { App } from './components/App';
import { listenForNotificationClicks } from './notifications';
import { navigate, restoreSession } from './state/store';
import { applyTheme } from './theme';
import './styles.css';

applyTheme();
render(<App />, document.getElementById('app')!);
void restoreSession();
listenForNotificationClicks((id) => navigate(id));

if ('serviceWorker' in navigator && import.meta.env.PROD) {
  window.addEventListener('load', () => {
    navigator.serviceWorker.register('/sw.js').catch(() => {});
  });
}
