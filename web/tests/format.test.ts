import { describe, expect, it } from 'vitest';
import { avatarHue, dayLabel, formatClock, friendlyError, plural, ssoErrorText, stripMarkdown } from '../src/format';

describe('formatClock (bug: follow-on hover time cut to "01 AM")', () => {
  it('keeps the hour, minutes and AM/PM whole', () => {
    const t = new Date(2026, 0, 5, 1, 7).getTime();
    expect(formatClock(t, 'en-US')).toBe('1:07 AM');
    expect(formatClock(new Date(2026, 0, 5, 13, 45).getTime(), 'en-US')).toBe('1:45 PM');
    expect(formatClock(t, 'en-GB')).toMatch(/^0?1:07$/);
  });
});

describe('dayLabel', () => {
  const now = new Date(2026, 5, 10, 12, 0).getTime();
  it('says Today, Yesterday, then dates', () => {
    expect(dayLabel(new Date(2026, 5, 10, 0, 1).getTime(), now, 'en-US')).toBe('Today');
    expect(dayLabel(new Date(2026, 5, 9, 23, 59).getTime(), now, 'en-US')).toBe('Yesterday');
    expect(dayLabel(new Date(2026, 5, 1, 9).getTime(), now, 'en-US')).toBe('Monday, June 1');
    expect(dayLabel(new Date(2025, 11, 31, 9).getTime(), now, 'en-US')).toBe('Wednesday, December 31, 2025');
  });
});

describe('plural (bug: "1 members")', () => {
  it('uses the singular for one', () => {
    expect(plural(1, 'member')).toBe('1 member');
    expect(plural(0, 'member')).toBe('0 members');
    expect(plural(2, 'reply', 'replies')).toBe('2 replies');
  });
});

describe('avatarHue (bug: the avatar colour changed with the display name)', () => {
  it('depends on the user id only, and spreads ids over the palette', () => {
    expect(avatarHue('u_123')).toBe(avatarHue('u_123'));
    const seen = new Set(Array.from({ length: 64 }, (_, i) => avatarHue(`user-${i}`)));
    expect(seen.size).toBeGreaterThanOrEqual(6);
    for (const h of seen) expect(h).toBeGreaterThanOrEqual(0), expect(h).toBeLessThan(8);
  });
});

describe('friendlyError (bug: raw lowercase server errors on the sign-in form)', () => {
  it('turns codes into sentences', () => {
    expect(friendlyError({ status: 401, code: 'unauthorized', message: 'invalid credentials' }, 'sign-in')).toBe('Wrong username or password.');
    expect(friendlyError({ status: 409, code: 'conflict', message: 'username taken' }, 'sign-up')).toBe('That username is taken. Try another one.');
    expect(friendlyError({ status: 429, code: 'rate_limited', message: 'too many requests' }, 'sign-in')).toMatch(/^Too many attempts/);
    expect(friendlyError({ status: 0, code: 'network', message: 'x' })).toMatch(/^The server cannot be reached/);
    expect(friendlyError({ status: 422, code: 'validation_failed', message: 'bad thing', field: 'topic' })).toBe('Bad thing.');
    expect(friendlyError({ status: 422, code: 'validation_failed', message: 'x', field: 'username' }, 'sign-up')).toMatch(/^Usernames are/);
  });
});

describe('stripMarkdown (bug: search results showed raw markdown)', () => {
  it('removes markup and keeps the words and the highlight marks', () => {
    expect(stripMarkdown('**bold** and _it_ and `code` and [a link](https://x.example/y)')).toBe('bold and it and code and a link');
    expect(stripMarkdown('> quoted\n- item')).toBe('quoted\nitem');
    expect(stripMarkdown('**\uE000hello\uE001** world')).toBe('\uE000hello\uE001 world');
    expect(stripMarkdown('~~gone~~ 2*3*4')).toBe('gone 2*3*4');
  });
});

import { fuzzyScore } from '../src/format';

describe('fuzzyScore (quick switcher, mentions)', () => {
  it('matches letters in order, best first', () => {
    expect(fuzzyScore('gen', 'general')).toBeGreaterThan(fuzzyScore('gen', 'the-general'));
    expect(fuzzyScore('gnrl', 'general')).toBeGreaterThan(0);
    expect(fuzzyScore('xyz', 'general')).toBe(0);
    expect(fuzzyScore('#gen', 'general')).toBeGreaterThan(0);
    expect(fuzzyScore('bo', 'Bob')).toBeGreaterThan(fuzzyScore('bo', 'Tom Bowen'));
    expect(fuzzyScore('tb', 'Tom Bowen')).toBeGreaterThan(fuzzyScore('tb', 'stubborn'));
  });
});

import { isTimeZone, localTimeIn, timeZoneOptions } from '../src/format';

describe('time zones (profile: the person’s local time)', () => {
  const t = Date.UTC(2026, 0, 15, 12, 5); // 12:05 UTC, winter
  it('shows the clock in the zone, 24-hour', () => {
    expect(localTimeIn('UTC', t, 'en-GB')).toBe('12:05');
    expect(localTimeIn('Europe/Paris', t, 'en-GB')).toBe('13:05');
    expect(localTimeIn('Asia/Kolkata', t, 'en-GB')).toBe('17:35');
    expect(localTimeIn('America/New_York', t, 'en-GB')).toBe('07:05');
  });
  it('says nothing for no zone or an unknown one', () => {
    expect(localTimeIn('', t)).toBe('');
    expect(localTimeIn('Mars/Olympus', t)).toBe('');
    expect(isTimeZone('Mars/Olympus')).toBe(false);
    expect(isTimeZone('Europe/Paris')).toBe(true);
  });
  it('offers the browser list, sorted, with UTC and the current choice', () => {
    const list = timeZoneOptions('Etc/GMT+5');
    expect(list).toContain('UTC');
    expect(list).toContain('Etc/GMT+5');
    expect(list).toContain('Europe/Paris');
    expect([...list].sort((a, b) => a.localeCompare(b))).toEqual(list);
  });
});

describe('ssoErrorText', () => {
  it('says in words why a single sign-on did not sign in', () => {
    expect(ssoErrorText('sign_in_refused', 'state')).toMatch(/expired or was started elsewhere/);
    expect(ssoErrorText('sign_in_refused', 'binding')).toMatch(/expired or was started elsewhere/);
    expect(ssoErrorText('sign_in_refused', 'provider')).toMatch(/did not sign you in/);
    expect(ssoErrorText('sign_in_refused', 'signature')).toMatch(/could not be trusted/);
    expect(ssoErrorText('provider_unavailable', '')).toMatch(/cannot be reached/);
    expect(ssoErrorText('something_new', '')).toBe('Single sign-on did not work. Try again.');
  });
});
