// Notification settings: this device's push switch, the global levels, quiet hours, keywords
// and the devices list (Settings dialog); per conversation level and mute (its own dialog); and
// the banner that offers notifications after the user's first message.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { friendlyError } from '../format';
import {
  type ConversationNotificationSettings,
  type NotificationSettings as Settings,
  type PushDevice,
  disablePush,
  dismissPushBanner,
  enablePush,
  muteUntil,
  pushBanner,
  pushState,
  thisDeviceId,
  validTime,
} from '../notifications';
import { conversationName, current, dialog } from '../state/store';
import { Modal } from './Dialog';

const enc = encodeURIComponent;

function errText(e: unknown) {
  return e instanceof ApiError ? friendlyError(e) : (e as Error).message;
}

function localZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

export function NotificationSettings() {
  const [s, setS] = useState<Settings | null>(null);
  const [devices, setDevices] = useState<PushDevice[]>([]);
  const [keywords, setKeywords] = useState('');
  const [msg, setMsg] = useState('');
  const [error, setError] = useState('');
  const load = () => {
    api<Settings>('/users/me/notification-settings')
      .then((r) => {
        setS(r);
        setKeywords(r.keywords.join(', '));
      })
      .catch((e) => setError(errText(e)));
    api<{ subscriptions: PushDevice[] }>('/push/subscriptions')
      .then((r) => setDevices(r.subscriptions))
      .catch(() => {});
  };
  useEffect(load, []);
  const patch = async (body: Partial<Settings>) => {
    setMsg('');
    setError('');
    try {
      const r = await api<Settings>('/users/me/notification-settings', { method: 'PATCH', body });
      setS(r);
      setKeywords(r.keywords.join(', '));
      setMsg('Saved.');
    } catch (e) {
      setError(errText(e));
    }
  };
  const toggleThisDevice = async () => {
    setError('');
    try {
      if (pushState.value === 'on') await disablePush();
      else await enablePush();
      load();
    } catch (e) {
      setError(errText(e));
    }
  };
  const setDevice = async (d: PushDevice, enabled: boolean) => {
    try {
      await api(`/push/subscriptions/${enc(d.id)}`, { method: 'PATCH', body: { enabled } });
      load();
    } catch (e) {
      setError(errText(e));
    }
  };
  const removeDevice = async (d: PushDevice) => {
    try {
      if (d.id === thisDeviceId()) await disablePush();
      else await api(`/push/subscriptions/${enc(d.id)}`, { method: 'DELETE' });
      load();
    } catch (e) {
      setError(errText(e));
    }
  };
  const state = pushState.value;
  const quiet = s?.quiet_hours ?? null;
  return (
    <section class="stack" aria-labelledby="notif-h">
      <h3 id="notif-h">Notifications</h3>
      <div class="row">
        <button type="button" onClick={() => void toggleThisDevice()} disabled={state === 'unsupported' || state === 'denied'}>
          {state === 'on' ? 'Turn off notifications on this device' : 'Turn on notifications on this device'}
        </button>
        {state === 'denied' && <span class="muted small">Blocked in the browser’s site settings.</span>}
        {state === 'unsupported' && <span class="muted small">This browser cannot show notifications.</span>}
      </div>
      {s && (
        <>
          <label>
            Push notifications for
            <select aria-label="Push notifications for" value={s.push} onChange={(e) => void patch({ push: e.currentTarget.value as Settings['push'] })}>
              <option value="all">All messages</option>
              <option value="mentions">Direct messages and mentions</option>
              <option value="none">Nothing</option>
            </select>
          </label>
          <label>
            Email me about
            <select aria-label="Email me about" value={s.email} onChange={(e) => void patch({ email: e.currentTarget.value as Settings['email'] })}>
              <option value="all">All unread messages</option>
              <option value="mentions">Unread direct messages and mentions</option>
              <option value="none">Nothing</option>
            </select>
          </label>
          <label>
            …when still unread after (minutes)
            <input
              type="number"
              min={0}
              max={10080}
              aria-label="Email delay in minutes"
              value={s.email_delay_minutes}
              onChange={(e) => void patch({ email_delay_minutes: Number(e.currentTarget.value) })}
            />
          </label>
          <label class="check">
            <input type="checkbox" checked={s.push_previews} onChange={(e) => void patch({ push_previews: e.currentTarget.checked })} /> Show message text in notifications
          </label>
          <fieldset class="stack">
            <legend>Quiet hours</legend>
            <label class="check">
              <input
                type="checkbox"
                checked={!!quiet}
                onChange={(e) => void patch({ quiet_hours: e.currentTarget.checked ? { start: '22:00', end: '07:00', tz: localZone() } : null })}
              />{' '}
              No push notifications during quiet hours
            </label>
            {quiet && (
              <div class="row wrap">
                <label>
                  From
                  <input type="time" aria-label="Quiet hours start" value={quiet.start} onChange={(e) => validTime(e.currentTarget.value) && void patch({ quiet_hours: { ...quiet, start: e.currentTarget.value } })} />
                </label>
                <label>
                  to
                  <input type="time" aria-label="Quiet hours end" value={quiet.end} onChange={(e) => validTime(e.currentTarget.value) && void patch({ quiet_hours: { ...quiet, end: e.currentTarget.value } })} />
                </label>
                <span class="muted small">{quiet.tz}</span>
              </div>
            )}
          </fieldset>
          <form
            class="stack"
            onSubmit={(e) => {
              e.preventDefault();
              void patch({ keywords: keywords.split(',').map((k) => k.trim()).filter(Boolean) });
            }}
          >
            <label>
              Keywords that notify me (comma-separated)
              <input aria-label="Keywords that notify me" value={keywords} onInput={(e) => setKeywords(e.currentTarget.value)} />
            </label>
            <div>
              <button type="submit">Save keywords</button>
            </div>
          </form>
        </>
      )}
      {devices.length > 0 && (
        <ul class="sessions" aria-label="Devices with notifications">
          {devices.map((d) => (
            <li key={d.id}>
              <label class="check">
                <input type="checkbox" checked={d.enabled} aria-label={`Push to ${d.device_name || 'device'}`} onChange={(e) => void setDevice(d, e.currentTarget.checked)} />{' '}
                <strong>{d.device_name || 'Browser'}</strong> {d.id === thisDeviceId() && <span class="tag">this device</span>}
              </label>
              <button type="button" class="danger small" aria-label={`Remove ${d.device_name || 'device'}`} onClick={() => void removeDevice(d)}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      {msg && (
        <span role="status" class="muted small">
          {msg}
        </span>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

export function ConversationNotificationsDialog() {
  const conv = current.value;
  const [s, setS] = useState<ConversationNotificationSettings | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    if (!conv) return;
    api<ConversationNotificationSettings>(`/conversations/${enc(conv.id)}/notification-settings`)
      .then(setS)
      .catch((e) => setError(errText(e)));
  }, [conv?.id]);
  if (!conv) return null;
  const put = async (next: ConversationNotificationSettings) => {
    setError('');
    try {
      setS(await api<ConversationNotificationSettings>(`/conversations/${enc(conv.id)}/notification-settings`, { method: 'PUT', body: next }));
    } catch (e) {
      setError(errText(e));
    }
  };
  const muted = s?.muted_until && s.muted_until > Date.now() ? s.muted_until : null;
  const title = conv.type === 'channel' ? `#${conv.name}` : conversationName(conv);
  return (
    <Modal title={`Notifications for ${title}`} onClose={() => (dialog.value = null)}>
      <div class="stack">
        {s && (
          <>
            <label>
              Notify me about
              <select aria-label="Notify me about" value={s.level} onChange={(e) => void put({ ...s, level: e.currentTarget.value as ConversationNotificationSettings['level'] })}>
                <option value="default">My default</option>
                <option value="all">All messages</option>
                <option value="mentions">Mentions only</option>
                <option value="none">Nothing</option>
              </select>
            </label>
            <label>
              Mute
              <select aria-label="Mute" value="" onChange={(e) => void put({ ...s, muted_until: muteUntil(e.currentTarget.value) })}>
                <option value="" disabled>
                  {muted ? (muted >= 4102444800000 ? 'Muted until you unmute' : `Muted until ${new Date(muted).toLocaleString()}`) : 'Not muted'}
                </option>
                <option value="1h">For 1 hour</option>
                <option value="8h">For 8 hours</option>
                <option value="24h">For 24 hours</option>
                <option value="7d">For a week</option>
                <option value="forever">Until I unmute</option>
                <option value="off">Unmute</option>
              </select>
            </label>
          </>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </div>
    </Modal>
  );
}

export function PushBanner() {
  if (!pushBanner.value) return null;
  const enable = () => void enablePush().catch(() => (pushBanner.value = false));
  return (
    <div class="push-banner" role="region" aria-label="Notifications">
      <span>Get a notification when someone mentions you or sends you a message?</span>
      <button type="button" onClick={enable}>
        Turn on
      </button>
      <button type="button" class="secondary" onClick={dismissPushBanner}>
        Not now
      </button>
    </div>
  );
}
