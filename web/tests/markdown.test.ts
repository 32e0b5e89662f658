import { describe, expect, it } from 'vitest';
import { parseInline, parseMarkdown, plainText, safeHref } from '../src/markdown';
import { unescapeHtml } from '../src/format';

describe('markdown subset', () => {
  it('parses bold, italics and code', () => {
    expect(parseInline('a **b** *c* _d_ `e`')).toEqual([
      { t: 'text', v: 'a ' },
      { t: 'b', c: [{ t: 'text', v: 'b' }] },
      { t: 'text', v: ' ' },
      { t: 'i', c: [{ t: 'text', v: 'c' }] },
      { t: 'text', v: ' ' },
      { t: 'i', c: [{ t: 'text', v: 'd' }] },
      { t: 'text', v: ' ' },
      { t: 'code', v: 'e' },
    ]);
  });

  it('leaves snake_case and lone asterisks alone', () => {
    expect(parseInline('snake_case_name and 2 * 3')).toEqual([{ t: 'text', v: 'snake_case_name and 2 * 3' }]);
  });

  it('keeps markup inside code as text', () => {
    expect(parseInline('`**not bold**`')).toEqual([{ t: 'code', v: '**not bold**' }]);
  });

  it('parses links and bare URLs, only http(s) and mailto', () => {
    expect(parseInline('[site](https://example.org/a?b=c)')).toEqual([
      { t: 'link', href: 'https://example.org/a?b=c', c: [{ t: 'text', v: 'site' }] },
    ]);
    expect(parseInline('see https://example.org/x.')).toEqual([
      { t: 'text', v: 'see ' },
      { t: 'link', href: 'https://example.org/x', c: [{ t: 'text', v: 'https://example.org/x' }] },
      { t: 'text', v: '.' },
    ]);
    expect(parseInline('[x](javascript:alert(1))')).toEqual([{ t: 'text', v: '[x](javascript:alert(1))' }]);
    expect(safeHref('javascript:alert(1)')).toBeNull();
    expect(safeHref('data:text/html,<b>')).toBeNull();
    expect(safeHref('mailto:a@b.c')).toBe('mailto:a@b.c');
  });

  it('parses quotes, code blocks and line breaks', () => {
    expect(parseMarkdown('> quoted\n> more\n\nafter')).toEqual([
      { t: 'quote', c: [{ t: 'p', c: [{ t: 'text', v: 'quoted' }, { t: 'br' }, { t: 'text', v: 'more' }] }] },
      { t: 'p', c: [{ t: 'text', v: 'after' }] },
    ]);
    expect(parseMarkdown('```\nlet a = **1**;\n```')).toEqual([{ t: 'pre', v: 'let a = **1**;' }]);
  });

  it('treats HTML as text: the tree has only text for it', () => {
    const tree = parseMarkdown('<img src=x onerror=alert(1)>');
    expect(tree).toEqual([{ t: 'p', c: [{ t: 'text', v: '<img src=x onerror=alert(1)>' }] }]);
    expect(plainText(tree)).toBe('<img src=x onerror=alert(1)>');
  });

  it('unescapes search highlights into text', () => {
    expect(unescapeHtml('&lt;img src=x&gt; &amp; &quot;q&quot; &#39;s')).toBe('<img src=x> & "q" \'s');
  });
});

describe('markdown: lists, strikethrough, headings and mentions', () => {
  it('parses - and 1. lists into items', () => {
    expect(parseMarkdown('- one\n- **two**\n\n1. first\n2. second')).toEqual([
      { t: 'list', ordered: false, start: 1, items: [[{ t: 'text', v: 'one' }], [{ t: 'b', c: [{ t: 'text', v: 'two' }] }]] },
      { t: 'list', ordered: true, start: 1, items: [[{ t: 'text', v: 'first' }], [{ t: 'text', v: 'second' }]] },
    ]);
    expect(parseMarkdown('*not a list*')[0].t).toBe('p');
  });
  it('parses ~~strikethrough~~, # headings and @mentions', () => {
    expect(parseInline('a ~~gone~~ b')).toEqual([{ t: 'text', v: 'a ' }, { t: 's', c: [{ t: 'text', v: 'gone' }] }, { t: 'text', v: ' b' }]);
    expect(parseMarkdown('## Plan')).toEqual([{ t: 'h', level: 2, c: [{ t: 'text', v: 'Plan' }] }]);
    expect(parseInline('hi @Erin.Lee, and mail a@b.com')).toEqual([
      { t: 'text', v: 'hi ' },
      { t: 'mention', v: 'erin.lee' },
      { t: 'text', v: ', and mail a@b.com' },
    ]);
    expect(parseMarkdown('#hashtag')[0].t).toBe('p');
  });
});

describe('markdown: #channel references', () => {
  it('parses #name at a word start, not digits, headings or fragments of words', () => {
    expect(parseInline('see #general, ok')).toEqual([{ t: 'text', v: 'see ' }, { t: 'channel', v: 'general' }, { t: 'text', v: ', ok' }]);
    expect(parseInline('C# and #1 and https://x.example/#frag')).toEqual([
      { t: 'text', v: 'C# and #1 and ' },
      { t: 'link', href: 'https://x.example/#frag', c: [{ t: 'text', v: 'https://x.example/#frag' }] },
    ]);
  });
});
