// The emoji picker: searchable (names, tags, shortcodes), recent emoji first, grouped; the
// data set is fetched on first use (its own chunk), not with the app.
import { useEffect, useState } from 'preact/hooks';
import { emojiTarget, toggleReaction } from '../state/store';
import { Modal } from './Dialog';

type EmojiModule = typeof import('../emoji');

let loading: Promise<EmojiModule> | null = null;
export function loadEmoji(): Promise<EmojiModule> {
  loading ??= import('../emoji');
  return loading;
}

export function EmojiPickerDialog() {
  const target = emojiTarget.value;
  const [mod, setMod] = useState<EmojiModule | null>(null);
  const [q, setQ] = useState('');
  useEffect(() => {
    void loadEmoji().then(setMod);
  }, []);
  if (!target) return null;
  const close = () => (emojiTarget.value = null);
  const choose = (u: string) => {
    mod?.useEmoji(u);
    close();
    if (target.kind === 'reaction') void toggleReaction(target.message, u);
    else target.insert(u);
  };
  const results = mod ? (q.trim() ? mod.searchEmoji(q, 120) : null) : null;
  const recent = mod ? mod.recentEmoji() : [];
  const button = (u: string, label: string) => (
    <button key={u} type="button" class="emoji-btn" aria-label={label} title={label} onClick={() => choose(u)}>
      {u}
    </button>
  );
  return (
    <Modal title={target.kind === 'reaction' ? 'Add a reaction' : 'Insert an emoji'} onClose={close}>
      <div class="emoji-picker">
        <input type="search" aria-label="Search emoji" placeholder="Search emoji" value={q} autoFocus onInput={(e) => setQ(e.currentTarget.value)} />
        {!mod && <p class="muted">Loading…</p>}
        {results && (
          <section aria-label="Matches">
            <div class="emoji-grid">{results.map((e) => button(e.u, e.codes[0] ? `${e.label} :${e.codes[0]}:` : e.label))}</div>
            {results.length === 0 && <p class="muted">No emoji match.</p>}
          </section>
        )}
        {mod && !results && (
          <div class="emoji-groups">
            {recent.length > 0 && (
              <section aria-labelledby="emoji-recent">
                <h3 id="emoji-recent">Recent</h3>
                <div class="emoji-grid">{recent.map((u) => button(u, mod.EMOJI.find((e) => e.u === u)?.label ?? u))}</div>
              </section>
            )}
            {mod.GROUPS.map((g, i) => {
              const list = mod.EMOJI.filter((e) => e.group === i);
              if (!list.length) return null;
              return (
                <section key={g} aria-labelledby={`emoji-g${i}`}>
                  <h3 id={`emoji-g${i}`}>{g}</h3>
                  <div class="emoji-grid">{list.map((e) => button(e.u, e.label))}</div>
                </section>
              );
            })}
          </div>
        )}
      </div>
    </Modal>
  );
}
