// The e2e harness: a real `parley serve` on a free loopback port with a throw-away data folder
// (restartable on the same port), and Debian's Chromium driven by playwright-core.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { beforeEach } from 'vitest';

export const WEB = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
export const RESULTS = join(WEB, 'test-results');

/** Limits relaxed for tests that post thousands of messages; names a binary does not know
 * (an older build) are left out, as it would refuse to start. */
function rateLimits(bin: string): string {
  const help = spawnSync(bin, ['--help'], { encoding: 'utf8' });
  const known = `${help.stdout ?? ''}${help.stderr ?? ''}`;
  const wanted: [string, string][] = [
    ['register_per_ip', '1000/1m'],
    ['login_per_ip', '1000/1m'],
    ['login_per_account', '1000/1m'],
    ['messages_per_user', '100000/1s'],
    ['refresh_per_ip', '10000/1m'],
    ['mutations_per_user', '100000/1s'],
    ['conversations_per_user', '10000/1m'],
    ['search_per_user', '10000/1m'],
  ];
  return wanted
    .filter(([name]) => known.includes(name))
    .map(([name, v]) => `${name}=${v}`)
    .join(',');
}

/** Options of the server's help text (flags a binary does not know are left out). */
function helpText(bin: string): string {
  const help = spawnSync(bin, ['--help'], { encoding: 'utf8' });
  return `${help.stdout ?? ''}${help.stderr ?? ''}`;
}

export class Server {
  proc: ChildProcess | null = null;
  /** Extra command-line arguments (e.g. `--max-file-bytes`), appended to the defaults. */
  extraArgs: string[] = [];
  port = 0;
  output = '';
  readonly dataDir = mkdtempSync(join(tmpdir(), 'parley-e2e-'));

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const bin = process.env.PARLEY_BIN ?? resolve(WEB, '../build/parley');
    const args = [
      'serve',
      '--listen',
      `127.0.0.1:${this.port}`,
      '--data-dir',
      this.dataDir,
      '--web-root',
      process.env.E2E_WEB_ROOT ?? join(WEB, 'dist'),
      '--rate-limits',
      rateLimits(bin),
    ];
    // Link previews fetch pages the tests serve on loopback, which the outbound rule refuses
    // unless allowed (API-EXTENSIONS: "Outbound requests").
    if (helpText(bin).includes('outbound-allow')) args.push('--outbound-allow', '127.0.0.0/8');
    args.push(...this.extraArgs);
    // PARLEY_* variables configure the server: pass none of ours (PARLEY_BIN) through.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PARLEY_')));
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.proc = proc;
    const offset = this.output.length;
    const onData = (d: Buffer) => {
      this.output += d.toString();
      if (this.output.length > 2_000_000) this.output = this.output.slice(-1_000_000);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const m = /listening\b.*?port[=":]+(\d+)/.exec(this.output.slice(offset));
      if (m) {
        this.port = Number(m[1]);
        return;
      }
      if (proc.exitCode !== null) throw new Error(`parley exited ${proc.exitCode}:\n${this.output.slice(offset)}`);
      await sleep(25);
    }
    throw new Error(`parley did not start:\n${this.output.slice(offset)}`);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
    this.proc = null;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  cleanup() {
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

/** extraArgs: more Chromium flags (the voice test's fake microphone). */
export async function launch(extraArgs: string[] = []): Promise<Browser> {
  mkdirSync(RESULTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    // Fake camera and microphone (a test pattern and a beep), granted without a prompt, and
    // sound that plays without a click: what the call tests need, harmless to the others.
    args: [
      '--no-sandbox',
      '--disable-dev-shm-usage',
      '--disable-gpu',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--autoplay-policy=no-user-gesture-required',
      // Host candidates as addresses, not mDNS names: the tests' Janus only sees loopback.
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      ...extraArgs,
    ],
  });
}

/** Problems a page reports: script errors, CSP violations, alerts. Checked at the end. */
export interface Watched {
  page: Page;
  context: BrowserContext;
  problems: string[];
  dialogs: string[];
}

export async function openPage(browser: Browser, baseURL: string, opts: Parameters<Browser['newContext']>[0] = {}): Promise<Watched> {
  const context = await browser.newContext({ baseURL, ...opts });
  const page = await context.newPage();
  const w: Watched = { page, context, problems: [], dialogs: [] };
  page.on('pageerror', (e) => w.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    const t = m.text();
    if (/Content Security Policy|Refused to (load|execute|apply|connect|create|frame)/.test(t)) w.problems.push(`csp: ${t}`);
  });
  page.on('dialog', (d) => {
    w.dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  return w;
}

const JANUS_SCRIPT = resolve(WEB, '../scripts/janus.sh');

/** A throw-away Janus (scripts/janus.sh) in dir with this VideoRoom admin key: its HTTP API URL,
 * or null (with a line saying why) where Janus is not installed. */
export function startJanus(dir: string, adminKey: string, who: string): string | null {
  const started = spawnSync(JANUS_SCRIPT, ['start', dir], { encoding: 'utf8', env: { ...process.env, JANUS_ADMIN_KEY: adminKey } });
  if (started.status === 3) {
    console.log(`${who}: skipped (${started.stderr.trim()})`);
    return null;
  }
  if (started.status !== 0) throw new Error(`scripts/janus.sh: ${started.stderr}`);
  return started.stdout.trim();
}

export function stopJanus(dir: string) {
  spawnSync(JANUS_SCRIPT, ['stop', dir]);
}

/** When a test fails, prints what each page showed (URL, title, headings, open dialogs, the
 * focused element) and keeps a screenshot, so a CI log says more than "timed out". */
export function reportPagesOnFailure(pages: () => (Page | undefined)[]) {
  beforeEach((ctx) => {
    ctx.onTestFailed(async () => {
      for (const [i, p] of pages().entries()) {
        if (!p || p.isClosed()) continue;
        const seen = await p
          .evaluate(() => ({
            headings: [...document.querySelectorAll('h1, h2')].map((h) => h.textContent?.trim()).slice(0, 6),
            dialogs: [...document.querySelectorAll('[role="dialog"], [role="alertdialog"], [role="listbox"]')].map((d) => d.getAttribute('aria-label') ?? d.id),
            focused: document.activeElement ? `${document.activeElement.tagName} ${document.activeElement.getAttribute('aria-label') ?? ''}` : '',
            status: [...document.querySelectorAll('[role="status"], [role="alert"]')].map((s) => s.textContent?.trim()).filter(Boolean).slice(0, 4),
          }))
          .catch((e) => ({ unreadable: String(e) }));
        console.log(`[failed: ${ctx.task.name}] page ${i}: ${p.url()} "${await p.title().catch(() => '?')}" ${JSON.stringify(seen)}`);
        await shot(p, `failed-${i}-${ctx.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`).catch(() => {});
      }
    });
  });
}

export async function shot(page: Page, name: string) {
  await page.screenshot({ path: join(RESULTS, `${name}.png`), fullPage: false });
}

/** Direct API calls from the test (a third client): e.g. messages sent while the browsers are away. */
export async function apiCall<T = any>(base: string, path: string, opts: { method?: string; token?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(`${base}/api/v1${path}`, {
    method: opts.method ?? 'GET',
    headers: {
      ...(opts.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${opts.method ?? 'GET'} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

export const PASSWORD = 'correct horse battery';

/** Registers a user over the API; returns the user and an access token. */
export async function registerUser(base: string, username: string, display_name?: string): Promise<{ user: { id: string }; access_token: string }> {
  return apiCall(base, '/auth/register', { method: 'POST', body: { username, password: PASSWORD, display_name } });
}

export async function signInUi(w: Watched, username: string, path = '/') {
  await w.page.goto(path);
  await w.page.getByLabel('Username').fill(username);
  await w.page.getByLabel('Password').fill(PASSWORD);
  await w.page.getByRole('button', { name: 'Sign in' }).click();
  await w.page.getByRole('navigation', { name: 'Conversations' }).waitFor();
}

export async function until(what: string, f: () => Promise<boolean>, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await f().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Horizontal overflow of the page in CSS pixels (0 when nothing sticks out). */
export async function overflowX(page: Page): Promise<number> {
  return page.evaluate(() => {
    const d = document.documentElement;
    return Math.max(d.scrollWidth - d.clientWidth, document.body.scrollWidth - document.body.clientWidth);
  });
}

let axeSource: string | null = null;

/** Runs axe-core in the page; returns the serious and critical violations as short strings. */
export async function axeViolations(page: Page): Promise<string[]> {
  if (!axeSource) {
    const { createRequire } = await import('node:module');
    const { readFileSync } = await import('node:fs');
    axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  }
  // evaluate() runs outside the page's CSP (no inline <script> is added).
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const r = await page.evaluate(async () => {
    const axe = (window as any).axe;
    const res = await axe.run(document, { resultTypes: ['violations'] });
    return res.violations
      .filter((v: any) => v.impact === 'serious' || v.impact === 'critical')
      .map((v: any) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n: any) => n.target.join(' ')).join(' | ')}`);
  });
  return r as string[];
}

/** Screenshots in light and dark. */
export async function shots(page: Page, name: string) {
  const before = await page.evaluate(() => document.documentElement.dataset.theme ?? 'light');
  for (const theme of ['light', 'dark']) {
    await page.evaluate((t) => (document.documentElement.dataset.theme = t), theme);
    await page.screenshot({ path: join(RESULTS, `${name}-${theme}.png`), fullPage: false });
  }
  await page.evaluate((t) => (document.documentElement.dataset.theme = t), before);
}
