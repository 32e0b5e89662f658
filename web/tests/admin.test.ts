// The admin console's pure helpers: invite links (the token in the fragment, never sent to the
// server), the domain list as typed, audit targets.
import { describe, expect, it } from 'vitest';
import { describeTarget, inviteFromHash, inviteLink, parseDomains } from '../src/components/admin/adminApi';

describe('invite links', () => {
  it('put the token in the fragment and read it back', () => {
    const token = 'Ab3_-xYz0123456789abcdefghijklmnop';
    const link = inviteLink(token, 'https://chat.example.com');
    expect(link).toBe(`https://chat.example.com/#invite=${token}`);
    expect(new URL(link).search).toBe('');
    expect(inviteFromHash(new URL(link).hash)).toBe(token);
  });

  it('ignore fragments that are not invites', () => {
    expect(inviteFromHash('')).toBeNull();
    expect(inviteFromHash('#invite=')).toBeNull();
    expect(inviteFromHash('#invite=short')).toBeNull();
    expect(inviteFromHash('#other=Ab3_-xYz0123456789')).toBeNull();
    expect(inviteFromHash('#invite=<script>alert(1)</script>')).toBeNull();
  });
});

describe('allowed email domains as typed', () => {
  it('splits on lines, commas and spaces, lower-cases, drops blanks and a leading @', () => {
    expect(parseDomains('Example.com\n\n corp.test, @Other.ORG  ')).toEqual(['example.com', 'corp.test', 'other.org']);
    expect(parseDomains('   ')).toEqual([]);
  });
});

describe('audit targets', () => {
  it('split kind, id and detail', () => {
    expect(describeTarget('user:01ABC')).toEqual({ kind: 'user', id: '01ABC', rest: '' });
    expect(describeTarget('user:01ABC role:admin')).toEqual({ kind: 'user', id: '01ABC', rest: 'role:admin' });
    expect(describeTarget('plain')).toEqual({ kind: '', id: 'plain', rest: '' });
  });
});
