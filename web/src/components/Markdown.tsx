// Renders the markdown tree (../markdown.ts) with elements and text nodes only: message text
// never becomes HTML, whatever it contains.
import type { JSX } from 'preact';
import { stripMarkdown, unescapeHtml } from '../format';

export { unescapeHtml };
import { conversations, me, navigate } from '../state/store';
import { parseMarkdown, type Block, type Inline } from '../markdown';

function inline(nodes: Inline[]): (JSX.Element | string)[] {
  return nodes.map((n, i) => {
    switch (n.t) {
      case 'text':
        return n.v;
      case 'code':
        return <code key={i}>{n.v}</code>;
      case 'b':
        return <strong key={i}>{inline(n.c)}</strong>;
      case 'i':
        return <em key={i}>{inline(n.c)}</em>;
      case 's':
        return <s key={i}>{inline(n.c)}</s>;
      case 'channel': {
        const c = Object.values(conversations.value).find((x) => x.type === 'channel' && x.name.toLowerCase() === n.v.toLowerCase());
        return c ? (
          <a
            key={i}
            class="channel-link"
            href={`/c/${encodeURIComponent(c.id)}`}
            onClick={(e) => {
              if (e.ctrlKey || e.metaKey || e.shiftKey) return;
              e.preventDefault();
              navigate(c.id);
            }}
          >
            #{n.v}
          </a>
        ) : (
          `#${n.v}`
        );
      }
      case 'mention':
        return (
          <span key={i} class={`mention ${n.v === me.value?.username.toLowerCase() ? 'is-me' : ''}`}>
            @{n.v}
          </span>
        );
      case 'br':
        return <br key={i} />;
      case 'link':
        return (
          <a key={i} href={n.href} target="_blank" rel="noopener noreferrer nofollow">
            {inline(n.c)}
          </a>
        );
    }
  });
}

function blocks(list: Block[]): JSX.Element[] {
  return list.map((b, i) => {
    switch (b.t) {
      case 'p':
        return <p key={i}>{inline(b.c)}</p>;
      case 'pre':
        // Focusable, so a keyboard can scroll a wide block (the list's roving tabindex makes
        // it a tab stop only in the active message).
        return (
          <pre key={i} tabIndex={0} aria-label="Code">
            <code>{b.v}</code>
          </pre>
        );
      case 'h':
        // Headings in a message are styled text, not <h*>: the page's outline stays the app's.
        return (
          <p key={i} class={`md-h md-h${b.level}`}>
            <strong>{inline(b.c)}</strong>
          </p>
        );
      case 'list':
        return b.ordered ? (
          <ol key={i} start={b.start}>
            {b.items.map((c, j) => (
              <li key={j}>{inline(c)}</li>
            ))}
          </ol>
        ) : (
          <ul key={i}>
            {b.items.map((c, j) => (
              <li key={j}>{inline(c)}</li>
            ))}
          </ul>
        );
      case 'quote':
        return <blockquote key={i}>{blocks(b.c)}</blockquote>;
    }
  });
}

export function Markdown({ text }: { text: string }) {
  return <div class="md">{blocks(parseMarkdown(text))}</div>;
}

/** Search highlights: the server escapes the text and wraps matches in <mark>; this splits
 * on exactly those tags and unescapes the rest into text nodes (never innerHTML). */
export function Highlight({ html }: { html: string }) {
  // Marks become private-use characters so markdown syntax can be taken out around them (a
  // snippet reads as the message does, not as its source), then split back into <mark>s.
  const text = stripMarkdown(unescapeHtml(html.replace(/<mark>/g, '\uE000').replace(/<\/mark>/g, '\uE001')));
  const out: (JSX.Element | string)[] = [];
  let marked = false;
  text.split(/([\uE000\uE001])/).forEach((p, i) => {
    if (p === '\uE000') marked = true;
    else if (p === '\uE001') marked = false;
    else if (p) out.push(marked ? <mark key={i}>{p}</mark> : p);
  });
  return <span>{out}</span>;
}


