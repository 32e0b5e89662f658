// The admin console's Analytics tab (daily activity and messages by conversation type as SVG
// charts, DAU/WAU/MAU, median DM first response, a table of the days' figures with calls and
// files, busiest channels, CSV downloads) and Data tab (the server's retention policy, conversation exports).
// Counts only: the server never sends message text here.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, enc } from '../../api';
import { saveAuthed as saveAs } from '../../downloads';
import { chartBars, duration, isoDay, stackedBars, TYPES, type DayCount } from './analyticsChart';

interface Summary {
  days: DayCount[];
  dau: number;
  wau: number;
  mau: number;
  dm_responses?: number;
  dm_first_response_median_ms?: number | null;
}
interface ChannelCount {
  conversation_id: string;
  name: string;
  messages: number;
  active_users: number;
}

/** The first and last day under a chart. */
function DateAxis({ days }: { days: readonly { date: string }[] }) {
  if (days.length === 0) return null;
  return (
    <div class="analytics-axis muted small" aria-hidden="true">
      <span>{days[0].date}</span>
      <span>{days[days.length - 1].date}</span>
    </div>
  );
}

function errText(e: unknown) {
  return e instanceof ApiError ? e.message : String(e);
}

function Chart({ days }: { days: DayCount[] }) {
  const w = 600;
  const h = 160;
  const bars = chartBars(days, w, h);
  const max = Math.max(1, ...days.map((d) => d.messages));
  return (
    <figure class="analytics-chart">
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`Messages per day, at most ${max}`} preserveAspectRatio="none">
        <line x1="0" y1={h} x2={w} y2={h} class="axis" />
        {bars.map((b) => (
          <g key={b.date}>
            <rect x={b.x} y={b.y} width={b.width} height={b.height} class="bar">
              <title>{`${b.date}: ${b.messages} messages, ${b.active} active`}</title>
            </rect>
            <circle cx={b.x + b.width / 2} cy={b.activeY} r="2.5" class="dot" />
          </g>
        ))}
      </svg>
      <DateAxis days={days} />
      <figcaption class="muted small">Bars: messages per day (peak {max}). Dots: active users.</figcaption>
    </figure>
  );
}

const TYPE_LABEL = { dm: 'Direct messages', group: 'Groups', channel: 'Channels' } as const;

function TypeChart({ days }: { days: DayCount[] }) {
  const w = 600;
  const h = 160;
  const segs = stackedBars(days, w, h);
  const sum = (k: (typeof TYPES)[number]) => days.reduce((n, d) => n + (d[`${k}_messages`] ?? 0), 0);
  return (
    <figure class="analytics-chart">
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`Messages per day by conversation type: ${TYPES.map((k) => `${TYPE_LABEL[k]} ${sum(k)}`).join(', ')}`} preserveAspectRatio="none">
        <line x1="0" y1={h} x2={w} y2={h} class="axis" />
        {segs.map((s) => (
          <rect key={`${s.date}-${s.kind}`} x={s.x} y={s.y} width={s.width} height={s.height} class={`seg is-${s.kind}`}>
            <title>{`${s.date}: ${s.count} ${TYPE_LABEL[s.kind].toLowerCase()}`}</title>
          </rect>
        ))}
      </svg>
      <DateAxis days={days} />
      <figcaption class="analytics-legend muted small">
        {TYPES.map((k) => (
          <span key={k}>
            <i class={`swatch is-${k}`} aria-hidden="true" /> {TYPE_LABEL[k]} ({sum(k)})
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

/** The days with any activity, as a table: messages by type, DM first response, calls, files. */
function DayTable({ days }: { days: DayCount[] }) {
  const active = days.filter((d) => d.messages || d.new_users || d.files || d.calls);
  if (active.length === 0) return <p class="muted small">No activity in this range.</p>;
  return (
    <div class="analytics-table-wrap" role="region" aria-label="Daily figures" tabIndex={0}>
      <table class="analytics-table">
        <thead>
          <tr>
            <th scope="col">Date</th>
            <th scope="col">DMs</th>
            <th scope="col">Groups</th>
            <th scope="col">Channels</th>
            <th scope="col" title="Median time to the first reply in direct messages">DM reply</th>
            <th scope="col">Calls</th>
            <th scope="col">Call min</th>
            <th scope="col">Files</th>
          </tr>
        </thead>
        <tbody>
          {active.map((d) => (
            <tr key={d.date}>
              <th scope="row">{d.date}</th>
              <td>{d.dm_messages ?? 0}</td>
              <td>{d.group_messages ?? 0}</td>
              <td>{d.channel_messages ?? 0}</td>
              <td>{duration(d.dm_first_response_median_ms)}</td>
              <td>{d.calls ?? 0}</td>
              <td>{Math.round((d.call_seconds ?? 0) / 60)}</td>
              <td>{d.files ?? 0}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function AnalyticsTab() {
  const [from, setFrom] = useState(isoDay(Date.now() - 29 * 86_400_000));
  const [to, setTo] = useState(isoDay(Date.now()));
  const [summary, setSummary] = useState<Summary | null>(null);
  const [channels, setChannels] = useState<ChannelCount[]>([]);
  const [error, setError] = useState('');
  const range = `from=${enc(from)}&to=${enc(to)}`;
  const load = async () => {
    setError('');
    try {
      const [s, c] = await Promise.all([
        api<Summary>(`/admin/analytics/summary?${range}`),
        api<{ channels: ChannelCount[] }>(`/admin/analytics/channels?${range}&limit=10`),
      ]);
      setSummary(s);
      setChannels(c.channels);
    } catch (e) {
      setError(errText(e));
    }
  };
  useEffect(() => void load(), []);
  const total = summary?.days.reduce((n, d) => n + d.messages, 0) ?? 0;
  const joined = summary?.days.reduce((n, d) => n + d.new_users, 0) ?? 0;
  const calls = summary?.days.reduce((n, d) => n + (d.calls ?? 0), 0) ?? 0;
  const files = summary?.days.reduce((n, d) => n + (d.files ?? 0), 0) ?? 0;
  return (
    <section class="stack" aria-label="Usage analytics">
      <form
        class="analytics-range"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        <label class="small">
          From <input type="date" aria-label="From date" value={from} onInput={(e) => setFrom(e.currentTarget.value)} required />
        </label>
        <label class="small">
          To <input type="date" aria-label="To date" value={to} onInput={(e) => setTo(e.currentTarget.value)} required />
        </label>
        <button type="submit" class="small">
          Show
        </button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {summary && (
        <>
          <dl class="analytics-figures">
            <div>
              <dt>Daily active</dt>
              <dd>{summary.dau}</dd>
            </div>
            <div>
              <dt>Weekly active</dt>
              <dd>{summary.wau}</dd>
            </div>
            <div>
              <dt>Monthly active</dt>
              <dd>{summary.mau}</dd>
            </div>
            <div>
              <dt>Messages</dt>
              <dd>{total}</dd>
            </div>
            <div>
              <dt>New users</dt>
              <dd>{joined}</dd>
            </div>
            <div>
              <dt>DM first reply (median)</dt>
              <dd>{duration(summary.dm_first_response_median_ms)}</dd>
            </div>
            <div>
              <dt>Calls</dt>
              <dd>{calls}</dd>
            </div>
            <div>
              <dt>Files</dt>
              <dd>{files}</dd>
            </div>
          </dl>
          <Chart days={summary.days} />
          <h4>Messages by conversation type</h4>
          <TypeChart days={summary.days} />
          <h4>Daily figures</h4>
          <DayTable days={summary.days} />
          <div class="row">
            <button type="button" class="small" onClick={() => void saveAs(`/admin/analytics/summary?${range}&format=csv`, `parley-days-${from}-${to}.csv`).catch((e) => setError(errText(e)))}>
              Days as CSV
            </button>
            <button type="button" class="small" onClick={() => void saveAs(`/admin/analytics/channels?${range}&format=csv`, `parley-channels-${from}-${to}.csv`).catch((e) => setError(errText(e)))}>
              Channels as CSV
            </button>
          </div>
          <h4>Busiest channels</h4>
          <ol class="admin-list" aria-label="Busiest channels">
            {channels.map((c) => (
              <li key={c.conversation_id} class="admin-item">
                <div class="admin-item-head">
                  <strong>#{c.name}</strong>
                  <span class="muted small">
                    {c.messages} messages · {c.active_users} active
                  </span>
                </div>
              </li>
            ))}
          </ol>
          {channels.length === 0 && <p class="muted small">No channel activity in this range.</p>}
        </>
      )}
    </section>
  );
}

interface ExportJob {
  id: string;
  status: 'pending' | 'ready' | 'failed';
  download_url?: string;
}

export function DataTab() {
  const [days, setDays] = useState('');
  const [msg, setMsg] = useState('');
  const [error, setError] = useState('');
  const [conv, setConv] = useState('');
  const [job, setJob] = useState<ExportJob | null>(null);
  // The field opens once the stored value is in it: a late answer must not replace, or land in
  // the middle of, what the admin types.
  const [loaded, setLoaded] = useState(false);
  useEffect(() => {
    api<{ days: number | null }>('/admin/retention')
      .then((r) => setDays(r.days ? String(r.days) : ''))
      .catch((e) => setError(errText(e)))
      .finally(() => setLoaded(true));
  }, []);
  useEffect(() => {
    if (!job || job.status !== 'pending') return;
    const t = window.setTimeout(() => {
      api<{ export: ExportJob }>(`/exports/${enc(job.id)}`)
        .then((r) => setJob(r.export))
        .catch((e) => setError(errText(e)));
    }, 1000);
    return () => window.clearTimeout(t);
  }, [job]);
  const save = async (e: Event) => {
    e.preventDefault();
    setMsg('');
    setError('');
    try {
      const r = await api<{ days: number | null }>('/admin/retention', { method: 'PUT', body: { days: days.trim() ? Number(days) : null } });
      setMsg(r.days ? `Messages and files older than ${r.days} days are deleted.` : 'Messages and files are kept forever.');
    } catch (err) {
      setError(errText(err));
    }
  };
  const exportConv = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      const r = await api<{ export: ExportJob }>(`/admin/conversations/${enc(conv.trim())}/export`, { method: 'POST', body: {} });
      setJob(r.export);
    } catch (err) {
      setError(errText(err));
    }
  };
  return (
    <section class="stack" aria-label="Data">
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <form class="stack" onSubmit={save} aria-labelledby="admin-retention-h">
        <h4 id="admin-retention-h">Retention</h4>
        <p class="muted small">Messages and files older than this are deleted everywhere; conversations may choose a shorter time.</p>
        <label>
          Days (empty keeps everything)
          <input
            type="number"
            min={1}
            inputMode="numeric"
            aria-label="Server retention in days"
            value={days}
            disabled={!loaded}
            onInput={(e) => setDays(e.currentTarget.value)}
          />
        </label>
        <div class="row">
          <button type="submit" class="small primary">
            Save retention
          </button>
          <span role="status" class="muted small">
            {msg}
          </span>
        </div>
      </form>
      <form class="stack" onSubmit={exportConv} aria-labelledby="admin-export-h">
        <h4 id="admin-export-h">Export a conversation</h4>
        <label>
          Conversation id
          <input aria-label="Conversation id to export" value={conv} onInput={(e) => setConv(e.currentTarget.value)} required />
        </label>
        <div class="row">
          <button type="submit" class="small" disabled={job?.status === 'pending'}>
            Export
          </button>
          {job?.status === 'ready' && job.download_url && (
            <button type="button" class="small primary" onClick={() => void saveAs(job.download_url!.replace(/^\/api\/v1/, ''), `parley-conversation-${job.id}.zip`).catch((e) => setError(errText(e)))}>
              Download ZIP
            </button>
          )}
          <span role="status" class="muted small">
            {job?.status === 'pending' ? 'Preparing…' : job?.status === 'failed' ? 'The export failed.' : ''}
          </span>
        </div>
      </form>
    </section>
  );
}
