// Renders the markdown tree (../markdown.ts) with elements and text nodes only: message text
// never becomes HTML, whatever it contains.
import type { JSX } from 'preact';
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
  return list.map((b, i) =>
    b.t === 'p' ? (
      <p key={i}>{inline(b.c)}</p>
    ) : b.t === 'pre' ? (
      <pre key={i}>
        <code>{b.v}</code>
      </pre>
    ) : (
      <blockquote key={i}>{blocks(b.c)}</blockquote>
    ),
  );
}

export function Markdown({ text }: { text: string }) {
  return <div class="md">{blocks(parseMarkdown(text))}</div>;
}

/** Search highlights: the server escapes the text and wraps matches in <mark>; this splits
 * on exactly those tags and unescapes the rest into text nodes (never innerHTML). */
export function Highlight({ html }: { html: string }) {
  const parts = html.split(/(<mark>|<\/mark>)/);
  const out: (JSX.Element | string)[] = [];
  let marked = false;
  parts.forEach((p, i) => {
    if (p === '<mark>') marked = true;
    else if (p === '</mark>') marked = false;
    else if (p) {
      const t = unescapeHtml(p);
      out.push(marked ? <mark key={i}>{t}</mark> : t);
    }
  });
  return <span>{out}</span>;
}

export function unescapeHtml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|#39|#x27|apos);/g, (_, e: string) =>
    e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'amp' ? '&' : e === 'quot' ? '"' : "'",
  );
}
