// Password reset by email and the email/phone settings, against the real server and a real SMTP
// server on loopback (scripts/smtp-capture.sh: Debian's aiosmtpd), whose captured mail the test
// reads from its folder. Skipped with one line where python3-aiosmtpd is not installed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { apiCall, axeViolations, launch, openPage, overflowX, PASSWORD, registerUser, Server, shots, signInUi, until, WEB, type Watched } from './harness';

const SCRIPT = resolve(WEB, '../scripts/smtp-capture.sh');
const hasSmtp = spawnSync('/usr/bin/python3', ['-c', 'import aiosmtpd']).status === 0;
if (!hasSmtp) console.log('mail.e2e: skipped (python3-aiosmtpd is not installed; scripts/install-deps.sh installs it)');

const mailDir = mkdtempSync(join(tmpdir(), 'parley-e2e-mail-'));
const server = new Server();
let browser: Browser;
const opened: Watched[] = [];
const NEW_PASSWORD = 'a fresh reset password';

type Mail = { rcpt_tos: string[]; subject: string; text: string; html: string };

// A loopback SMS provider in Twilio's shape: keeps each form POST.
const texts: URLSearchParams[] = [];
let provider: HttpServer | null = null;

function mails(): Mail[] {
  return readdirSync(mailDir)
    .filter((f) => /^mail-\d+\.json$/.test(f))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(mailDir, f), 'utf8')) as Mail);
}

async function mailTo(address: string, subject: RegExp): Promise<Mail> {
  let found: Mail | undefined;
  await until(`a mail to ${address}`, async () => {
    found = mails().find((m) => m.rcpt_tos.includes(address) && subject.test(m.subject));
    return !!found;
  });
  return found!;
}

function linkIn(m: Mail, key: string): string {
  const r = new RegExp(`(http://127\\.0\\.0\\.1:\\d+/#${key}=[A-Za-z0-9_-]+)`).exec(m.text);
  if (!r) throw new Error(`no ${key} link in: ${m.text}`);
  return r[1];
}

function freePort(): Promise<number> {
  return new Promise((done) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => done(port));
    });
  });
}

async function open(size = { width: 1280, height: 800 }): Promise<Watched> {
  const w = await openPage(browser, server.url, { viewport: size });
  opened.push(w);
  return w;
}

beforeAll(async () => {
  if (!hasSmtp) return;
  const started = spawnSync(SCRIPT, ['start', mailDir], { encoding: 'utf8' });
  if (started.status !== 0) throw new Error(`smtp-capture: ${started.stderr}`);
  provider = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      texts.push(new URLSearchParams(body));
      res.writeHead(201, { 'Content-Type': 'application/json' }).end('{"sid":"SM1"}');
    });
  });
  await new Promise<void>((r) => provider!.listen(0, '127.0.0.1', () => r()));
  const smsPort = (provider.address() as { port: number }).port;
  server.port = await freePort();
  server.extraArgs = [
    '--smtp', started.stdout.trim(), '--mail-from', 'parley@example.test', '--public-url', `http://127.0.0.1:${server.port}`,
    '--sms-url', `http://127.0.0.1:${smsPort}/Accounts/{account}/Messages.json`, '--sms-account', 'AC1', '--sms-token', 'secret', '--sms-from', '+15005550006',
  ];
  await server.start();
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await server.stop();
  server.cleanup();
  spawnSync(SCRIPT, ['stop', mailDir]);
  provider?.close();
  rmSync(mailDir, { recursive: true, force: true });
});

describe.skipIf(!hasSmtp).sequential('password reset by email', () => {
  it('forgot password on the sign-in screen mails a link; the link opens the reset page, which changes the password once', async () => {
    const a = await registerUser(server.url, 'mara', 'Mara');
    const address = 'mara@example.test';
    await apiCall(server.url, '/users/me/email', { method: 'PUT', token: a.access_token, body: { email: address } });
    const verifyLink = linkIn(await mailTo(address, /Confirm/), 'verify-email');
    await apiCall(server.url, '/auth/email/verify', { method: 'POST', body: { token: verifyLink.split('=')[1] } });

    for (const size of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      const w = await open(size);
      const p = w.page;
      await p.goto('/');
      await p.getByRole('button', { name: 'Forgot password?' }).click();
      await p.getByRole('heading', { name: 'Reset your password' }).waitFor();
      await shots(p, `m01-forgot-${size.width}`);
      // An address nobody confirmed gets the same answer.
      await p.getByLabel('Email address').fill(size.width === 390 ? address : 'nobody@example.test');
      await p.getByRole('button', { name: 'Send reset link' }).click();
      await p.getByText('a link to choose a new password is on its way').waitFor();
      expect(await overflowX(p)).toBe(0);
      await shots(p, `m02-forgot-sent-${size.width}`);
      expect(await axeViolations(p)).toEqual([]);
      expect(w.problems).toEqual([]);
    }
    expect(mails().some((m) => m.rcpt_tos.includes('nobody@example.test'))).toBe(false);

    const link = linkIn(await mailTo(address, /Reset/), 'reset');
    const token = link.split('#reset=')[1];
    const w = await open({ width: 390, height: 844 });
    const p = w.page;
    await p.goto(link);
    await p.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    // The token is wiped from the address bar at once, and never reached the server.
    expect(new URL(p.url()).hash).toBe('');
    expect(server.output).not.toContain(token);
    await p.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await p.getByLabel('Confirm new password').fill('does not match');
    await p.getByRole('button', { name: 'Change password' }).click();
    await p.getByRole('alert').getByText('do not match').waitFor();
    await p.getByLabel('Confirm new password').fill(NEW_PASSWORD);
    expect(await overflowX(p)).toBe(0);
    await shots(p, `m03-reset-${390}`);
    await p.getByRole('button', { name: 'Change password' }).click();
    await p.getByText('Your password is changed').waitFor();
    await shots(p, `m04-reset-done-${390}`);
    await p.getByRole('button', { name: 'Go to sign in' }).click();
    await p.getByLabel('Username').fill('mara');
    await p.getByLabel('Password').fill(NEW_PASSWORD);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('navigation', { name: 'Conversations' }).waitFor();

    // The same link a second time: refused, and the password stays.
    const again = await open();
    await again.page.goto(link);
    await again.page.getByLabel('New password', { exact: true }).fill('another new password');
    await again.page.getByLabel('Confirm new password').fill('another new password');
    await again.page.getByRole('button', { name: 'Change password' }).click();
    await again.page.getByText('invalid, already used or expired').waitFor();
    const old = await fetch(`${server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'mara', password: PASSWORD }),
    });
    expect(old.status).toBe(401);
    expect(server.output).not.toContain(token);
    for (const o of [w, again]) expect(o.problems).toEqual([]);
  });

  it('settings: an address is confirmed by its mailed link, and the phone section explains itself', async () => {
    await registerUser(server.url, 'niko', 'Niko');
    const w = await open();
    const p = w.page;
    await signInUi(w, 'niko');
    await p.getByRole('button', { name: 'Profile and settings' }).click();
    const s = p.getByRole('dialog', { name: 'Settings' });
    await s.getByRole('heading', { name: 'Email' }).waitFor();
    await s.getByText('No confirmed address.').waitFor();
    await s.getByLabel('Email address').fill('niko@example.test');
    await s.getByRole('button', { name: 'Send confirmation link' }).click();
    await s.getByText('Waiting for confirmation').waitFor();
    for (const size of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      await p.setViewportSize(size);
      await s.getByRole('heading', { name: 'Phone (SMS)' }).scrollIntoViewIfNeeded();
      expect(await overflowX(p)).toBe(0);
      await shots(p, `m05-settings-email-phone-${size.width}`);
    }
    await p.setViewportSize({ width: 1280, height: 800 });
    expect(await axeViolations(p)).toEqual([]);

    const link = linkIn(await mailTo('niko@example.test', /Confirm/), 'verify-email');
    await p.goto(link);
    await p.getByText('Your email address is confirmed.').waitFor();
    expect(new URL(p.url()).hash).toBe('');
    // The link opened in this tab while Settings was open: it shows the confirmed address.
    await s.getByText('niko@example.test', { exact: true }).waitFor();
    await s.getByText('confirmed', { exact: true }).waitFor();
    expect(w.problems).toEqual([]);
  });

  it('settings: a phone number is confirmed with the texted code, then SMS notifications can be turned on', async () => {
    await registerUser(server.url, 'omar', 'Omar');
    const w = await open({ width: 390, height: 844 });
    const p = w.page;
    await signInUi(w, 'omar');
    await p.getByRole('button', { name: 'Profile and settings' }).click();
    const s = p.getByRole('dialog', { name: 'Settings' });
    await s.getByLabel('Phone number').fill('+33 6 12 34 56 78');
    await s.getByRole('button', { name: 'Send code' }).click();
    await until('the text', async () => texts.some((t) => t.get('To') === '+33612345678'));
    const code = /^(\d{6}) /.exec(texts.find((t) => t.get('To') === '+33612345678')!.get('Body') ?? '')?.[1];
    expect(code).toMatch(/^\d{6}$/);
    await s.getByLabel('Code sent to +33612345678').fill(code === '000000' ? '111111' : '000000');
    await s.getByRole('button', { name: 'Confirm number' }).click();
    await s.getByRole('alert').getByText('does not match').waitFor();
    await s.getByLabel('Code sent to +33612345678').fill(code!);
    await s.getByRole('button', { name: 'Confirm number' }).click();
    await s.getByText('+33612345678', { exact: true }).waitFor();
    const box = s.getByLabel('Text me about direct messages and mentions');
    await box.check();
    await until('SMS on', async () => (await apiCallAs('omar', '/users/me/phone')).sms_notifications === true);
    await s.getByRole('heading', { name: 'Phone (SMS)' }).scrollIntoViewIfNeeded();
    expect(await overflowX(p)).toBe(0);
    await shots(p, 'm06-settings-phone-390');
    expect(await axeViolations(p)).toEqual([]);
    expect(w.problems).toEqual([]);
  });
});

async function apiCallAs(username: string, path: string) {
  const a = await apiCall<{ access_token: string }>(server.url, '/auth/login', { method: 'POST', body: { username, password: PASSWORD } });
  return apiCall(server.url, path, { token: a.access_token });
}
