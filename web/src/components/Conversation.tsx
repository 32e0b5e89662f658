import { conversationName, currentId, navigate, panel, peersOf, pins, typing, userName, users } from '../state/store';
import type { Conversation } from '../types';
import { PresenceDot } from './Avatar';
import { Composer } from './Composer';
import { Timeline } from './Timeline';

function TypingLine({ id }: { id: string }) {
  const who = Object.keys(typing.value[id] ?? {});
  void users.value;
  const text =
    who.length === 0
      ? ''
      : who.length === 1
        ? `${userName(who[0])} is typing…`
        : who.length === 2
          ? `${userName(who[0])} and ${userName(who[1])} are typing…`
          : 'Several people are typing…';
  return (
    <div class="typing" aria-live="polite">
      {text}
    </div>
  );
}

export function ConversationView({ conv }: { conv: Conversation }) {
  const name = conversationName(conv);
  const peers = conv.type === 'dm' ? peersOf(conv) : [];
  const pinCount = (pins.value[conv.id] ?? []).length;
  const p = panel.value;
  return (
    <section class="conversation" aria-label={`Conversation ${name}`}>
      <header class="conv-head">
        <button type="button" class="icon back" aria-label="Back to conversations" onClick={() => navigate(null)}>
          ←
        </button>
        <div class="title">
          <h2>
            {conv.type === 'channel' ? <span aria-hidden="true">{conv.visibility === 'private' ? '🔒 ' : '# '}</span> : null}
            {name}
            {peers[0] && <PresenceDot userId={peers[0]} />}
          </h2>
          {conv.topic && <p class="topic muted small">{conv.topic}</p>}
          {conv.type === 'dm' && peers[0] && users.value[peers[0]]?.status_text && <p class="topic muted small">{users.value[peers[0]].status_text}</p>}
        </div>
        <div class="head-actions">
          <button
            type="button"
            class="small"
            aria-label="Pinned messages"
            aria-pressed={p?.kind === 'pins'}
            onClick={() => (panel.value = p?.kind === 'pins' ? null : { kind: 'pins', conversationId: conv.id })}
          >
            📌 {pinCount || ''}
          </button>
          <button
            type="button"
            class="small"
            aria-label="Members"
            aria-pressed={p?.kind === 'members'}
            onClick={() => (panel.value = p?.kind === 'members' ? null : { kind: 'members', conversationId: conv.id })}
          >
            👥 {conv.member_count}
          </button>
        </div>
      </header>
      <Timeline key={conv.id} conv={conv} />
      <TypingLine id={conv.id} />
      <Composer
        key={conv.id}
        conversationId={conv.id}
        label="Message"
        placeholder={conv.type === 'channel' ? `Message #${conv.name}` : `Message ${name}`}
        autoFocus
      />
    </section>
  );
}

export function EmptyView() {
  return (
    <section class="conversation empty-state" aria-label="No conversation open">
      <div>
        <h2>Welcome to Parley</h2>
        <p class="muted">Pick a conversation, start a DM, or browse the channels.</p>
      </div>
    </section>
  );
}

export function currentIsOpen() {
  return currentId.value !== null;
}
