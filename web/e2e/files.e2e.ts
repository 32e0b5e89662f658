// Files, against the real server: alice attaches two images and a PDF (tus uploads), a big
// file shows its progress bar and is cancelled, she sends with a link; bob sees the images,
// opens the viewer (arrows, Escape, focus back), downloads the PDF (same bytes), and the link
// preview card appears. An upload cut off by a network drop resumes. Screenshots in light and
// dark, desktop and phone.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, CDPSession, Page, Route } from 'playwright-core';
import { apiCall, axeViolations, launch, openPage, overflowX, registerUser, Server, shots, signInUi, sleep, until, type Watched } from './harness';
import { makePdf, makePng, randomFile, startPreviewSite } from './filefixtures';

const server = new Server();
let browser: Browser;
let alice: Watched;
let bob: Watched;
let site: Awaited<ReturnType<typeof startPreviewSite>>;
let channelId = '';
let aliceToken = '';

const photo = { name: 'harbour.png', mimeType: 'image/png', buffer: makePng(1200, 800) };
const second = { name: 'lighthouse.png', mimeType: 'image/png', buffer: makePng(600, 900, 90) };
const pdf = { name: 'report.pdf', mimeType: 'application/pdf', buffer: makePdf('Quarterly report') };
const big = { name: 'big.bin', mimeType: 'application/octet-stream', buffer: randomFile(6 * 1024 * 1024) };
const resumable = { name: 'resume.bin', mimeType: 'application/octet-stream', buffer: randomFile(10 * 1024 * 1024) };

const timeline = (p: Page) => p.getByRole('log');
const message = (p: Page, text: string | RegExp) => timeline(p).locator('li.msg').filter({ hasText: text });
const box = (p: Page) => p.getByRole('textbox', { name: 'Message', exact: true });
const tray = (p: Page) => p.getByRole('list', { name: /^Attachments/ });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function attach(p: Page, files: { name: string; mimeType: string; buffer: Buffer }[]) {
  const chooser = p.waitForEvent('filechooser');
  await p.getByRole('button', { name: 'Attach files' }).click();
  await (await chooser).setFiles(files);
}

/** Upload speed of a page (bytes/s; -1: unlimited), through the DevTools protocol. */
async function throttle(cdp: CDPSession, uploadBytesPerSecond: number) {
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: uploadBytesPerSecond });
}

async function progressValue(p: Page, name: string): Promise<number> {
  const v = await p.getByRole('progressbar', { name: `Uploading ${name}` }).getAttribute('aria-valuenow', { timeout: 1000 });
  return Number(v ?? -1);
}

const MAX_FILE = 20_000_000;
const QUOTA = 30_000_000;

beforeAll(async () => {
  server.extraArgs = ['--max-file-bytes', String(MAX_FILE), '--user-quota-bytes', String(QUOTA)];
  await server.start();
  site = await startPreviewSite();
  browser = await launch();
  const a = await registerUser(server.url, 'alice', 'Alice Moreau');
  const b = await registerUser(server.url, 'bob', 'Bob Okafor');
  aliceToken = a.access_token;
  const ch = await apiCall(server.url, '/conversations', { method: 'POST', token: aliceToken, body: { type: 'channel', name: 'harbour-project', topic: 'Photos, plans and reports' } });
  channelId = ch.id;
  await apiCall(server.url, `/conversations/${channelId}/join`, { method: 'POST', token: b.access_token });
  await apiCall(server.url, `/conversations/${channelId}/messages`, {
    method: 'POST',
    token: b.access_token,
    body: { text: 'Could you share the photos from Saturday and the report?', client_msg_id: 'b-1' },
  });
  alice = await openPage(browser, server.url, { viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  bob = await openPage(browser, server.url, { viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  await signInUi(alice, 'alice', `/c/${channelId}`);
  await signInUi(bob, 'bob', `/c/${channelId}`);
  await timeline(alice.page).waitFor();
  await timeline(bob.page).waitFor();
});

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await server.stop();
  server.cleanup();
});

describe.sequential('files', () => {
  it('the server speaks tus at /api/v1/uploads', async () => {
    const res = await fetch(`${server.url}/api/v1/uploads`, { method: 'OPTIONS', headers: { Authorization: `Bearer ${aliceToken}` } });
    expect(res.status).toBeLessThan(300);
    expect(res.headers.get('tus-version') ?? res.headers.get('tus-resumable')).toContain('1.0.0');
  });

  it('alice attaches two images and a PDF; they upload and show in the tray', async () => {
    const p = alice.page;
    await attach(p, [photo, second, pdf]);
    await tray(p).waitFor();
    await expect(tray(p).getByRole('listitem').count()).resolves.toBe(3);
    for (const f of [photo, second, pdf]) await tray(p).getByText(f.name, { exact: true }).waitFor();
    // Done: no progress bar left, sizes shown, Send enabled (the text may be empty).
    await until('uploads finished', async () => (await p.getByRole('progressbar').count()) === 0, 30_000);
    await tray(p).getByText(/PDF · \d/).waitFor();
    expect(await p.getByRole('button', { name: 'Send' }).isEnabled()).toBe(true);
  });

  it('a big upload shows its progress bar, sending waits for it, and cancel stops it on the server', async () => {
    const p = alice.page;
    const cdp = await alice.context.newCDPSession(p);
    await cdp.send('Network.enable');
    await throttle(cdp, 700_000);
    const deletes: string[] = [];
    p.on('request', (r) => {
      if (r.method() === 'DELETE' && r.url().includes('/api/v1/uploads/')) deletes.push(r.url());
    });
    await attach(p, [big]);
    const bar = p.getByRole('progressbar', { name: `Uploading ${big.name}` });
    await bar.waitFor({ timeout: 15_000 });
    await until('progress moves', async () => (await progressValue(p, big.name)) > 3, 20_000);
    // Sending now is not possible: the button is disabled and Enter says why.
    expect(await p.getByRole('button', { name: 'Send' }).isDisabled()).toBe(true);
    await box(p).fill('not yet');
    await box(p).press('Enter');
    await p.getByText('Still uploading. The message can go once the files are up.').waitFor();
    await box(p).fill('');
    await shots(p, 'files-composer-desktop');
    expect(await axeViolations(p)).toEqual([]);
    await p.getByRole('button', { name: `Cancel upload of ${big.name}` }).click();
    await until('the big file is gone from the tray', async () => (await tray(p).getByText(big.name).count()) === 0);
    await until('DELETE sent (tus termination)', async () => deletes.length > 0, 10_000);
    await throttle(cdp, -1);
    await cdp.detach();
    await expect(tray(p).getByRole('listitem').count()).resolves.toBe(3);
  });

  it('alice sends the files with a link; bob sees the images and the PDF card', async () => {
    const p = alice.page;
    await box(p).fill(`Here are the photos and the report. Background reading: ${site.url}`);
    await box(p).press('Enter');
    await until('the tray is empty', async () => (await p.getByRole('list', { name: /^Attachments/ }).count()) === 0);
    const mine = message(p, 'Here are the photos');
    await mine.getByRole('button', { name: `Download ${pdf.name}` }).waitFor();

    const b = bob.page;
    const msg = message(b, 'Here are the photos');
    await msg.waitFor({ timeout: 15_000 });
    const img = msg.getByRole('button', { name: `View image ${photo.name}` });
    await img.waitFor();
    // The box is reserved from the image's size before it loads (landscape 3:2, portrait 2:3).
    const size = await img.boundingBox();
    expect(size!.width / size!.height).toBeGreaterThan(1.3);
    expect(size!.width / size!.height).toBeLessThan(1.7);
    const tall = await msg.getByRole('button', { name: `View image ${second.name}` }).boundingBox();
    expect(tall!.height).toBeGreaterThan(tall!.width);
    await until('thumbnail loaded', () => img.locator('img').evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0));
    await msg.getByText(pdf.name, { exact: true }).waitFor();
    await msg.getByText(/PDF · \d/).waitFor();
  });

  it('bob downloads the PDF: the same bytes', async () => {
    const b = bob.page;
    const msg = message(b, 'Here are the photos');
    const dl = b.waitForEvent('download');
    await msg.getByRole('button', { name: `Download ${pdf.name}` }).click();
    const d = await dl;
    expect(d.suggestedFilename()).toBe(pdf.name);
    const got = readFileSync((await d.path())!);
    expect(sha(got)).toBe(sha(pdf.buffer));
  });

  it('the link preview card appears (message.updated), with site, title and description', async () => {
    for (const p of [bob.page, alice.page]) {
      const msg = message(p, 'Here are the photos');
      await msg.getByRole('link', { name: 'Harbour lights: a field guide' }).waitFor({ timeout: 30_000 });
      await msg.getByText('Parley Test Gazette').waitFor();
      await msg.getByText(/lighthouse keepers/).waitFor();
    }
    expect(site.hits()).toBeGreaterThan(0);
    await shots(bob.page, 'files-timeline-desktop');
    expect(await axeViolations(bob.page)).toEqual([]);
  });

  it('the image viewer: opens on click, arrows move between the images, Escape closes and the focus returns', async () => {
    const b = bob.page;
    const msg = message(b, 'Here are the photos');
    const img = msg.getByRole('button', { name: `View image ${photo.name}` });
    await img.click();
    const viewer = b.getByRole('dialog', { name: `Image ${photo.name}` });
    await viewer.waitFor();
    await until('full image loaded', () => viewer.getByRole('img', { name: photo.name }).evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth === 1200));
    await viewer.getByText('1 of 2').waitFor();
    await viewer.getByRole('button', { name: `Download ${photo.name}` }).waitFor();
    await shots(b, 'files-lightbox-desktop');
    expect(await axeViolations(b)).toEqual([]);
    await b.keyboard.press('ArrowRight');
    await b.getByRole('dialog', { name: `Image ${second.name}` }).getByText('2 of 2').waitFor();
    await b.keyboard.press('ArrowLeft');
    await b.getByRole('dialog', { name: `Image ${photo.name}` }).waitFor();
    // Download from the viewer: the full image (the server strips metadata, so it is the
    // server's copy, not our bytes: a PNG of the full size).
    const dl = b.waitForEvent('download');
    await b.getByRole('button', { name: `Download ${photo.name}` }).click();
    const d = await dl;
    expect(d.suggestedFilename()).toBe(photo.name);
    const got = readFileSync((await d.path())!);
    expect(got.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect([got.readUInt32BE(16), got.readUInt32BE(20)]).toEqual([1200, 800]);
    await b.keyboard.press('Escape');
    await until('viewer closed', async () => (await b.getByRole('dialog').count()) === 0);
    await until('focus back on the image', () => img.evaluate((el) => el === document.activeElement));
  });

  it('a pasted image and files dropped on the conversation join the tray (the overlay shows while dragging)', async () => {
    const p = alice.page;
    const png = [...makePng(80, 60, 30)];
    // A screenshot pasted into the box: an image file on the clipboard, no text.
    await box(p).evaluate((el, bytes) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(bytes)], 'image.png', { type: 'image/png' }));
      el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    }, png);
    await tray(p).getByText(/^Pasted image .*\.png$/).waitFor();
    expect(await box(p).inputValue()).toBe('');
    // A file dragged from the desktop onto the message list.
    await timeline(p).evaluate((el) => {
      const dt = new DataTransfer();
      dt.items.add(new File(['plain notes\n'], 'notes.txt', { type: 'text/plain' }));
      el.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
      el.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await p.getByText('Drop files to share').waitFor();
    await shots(p, 'files-drop-desktop');
    await timeline(p).evaluate((el) => {
      const dt = new DataTransfer();
      dt.items.add(new File(['plain notes\n'], 'notes.txt', { type: 'text/plain' }));
      el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await tray(p).getByText('notes.txt', { exact: true }).waitFor();
    expect(await p.getByText('Drop files to share').count()).toBe(0);
    await until('both uploaded', async () => (await p.getByRole('progressbar').count()) === 0, 20_000);
    // Removed with the keyboard: the focus stays in the tray, then goes back to the box.
    await p.getByRole('button', { name: /^Remove Pasted image/ }).focus();
    await p.keyboard.press('Enter');
    await until('focus on the next remove button', () => p.getByRole('button', { name: 'Remove notes.txt' }).evaluate((el) => el === document.activeElement));
    await p.keyboard.press('Enter');
    await until('tray gone', async () => (await p.getByRole('list', { name: /^Attachments/ }).count()) === 0);
    await until('focus back in the box', () => box(p).evaluate((el) => el === document.activeElement));
  });

  it("a file over the size limit is refused with the server's message; sending waits until it is removed", async () => {
    const p = alice.page;
    const res = await fetch(`${server.url}/api/v1/uploads`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${aliceToken}`, 'Tus-Resumable': '1.0.0', 'Upload-Length': String(MAX_FILE + 1) },
    });
    expect(res.status).toBe(413);
    const said = ((await res.json()) as { error: { message: string } }).error.message;
    expect(said).toBeTruthy();
    await attach(p, [{ name: 'huge.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(MAX_FILE + 1) }]);
    const item = tray(p).getByRole('listitem').filter({ hasText: 'huge.bin' });
    await item.getByRole('alert').filter({ hasText: said }).waitFor({ timeout: 15_000 });
    expect(await p.getByRole('button', { name: 'Send' }).isDisabled()).toBe(true);
    await shots(p, 'files-too-large-desktop');
    await p.getByRole('button', { name: 'Remove huge.bin' }).click();
    await until('tray gone', async () => (await p.getByRole('list', { name: /^Attachments/ }).count()) === 0);
  });

  it("over the storage quota: the server's quota_exceeded message shows on the file", async () => {
    // bob has stored nothing yet: 18 MB fits in his 30 MB, another 18 MB does not.
    const b = bob.page;
    const first = { name: 'archive-1.bin', mimeType: 'application/octet-stream', buffer: randomFile(18_000_000) };
    const second = { name: 'archive-2.bin', mimeType: 'application/octet-stream', buffer: randomFile(18_000_000) };
    await attach(b, [first]);
    await until('first stored', async () => (await tray(b).getByText(/BIN file · /).count()) === 1, 30_000);
    await attach(b, [second]);
    const item = tray(b).getByRole('listitem').filter({ hasText: second.name });
    const alert = item.getByRole('alert');
    await alert.waitFor({ timeout: 30_000 });
    const text = (await alert.innerText()).trim();
    expect(text.length).toBeGreaterThan(0);
    expect(text).toMatch(/quota/i); // the server's message for quota_exceeded
    expect(await b.getByRole('button', { name: 'Send' }).isDisabled()).toBe(true);
    await b.getByRole('button', { name: `Remove ${second.name}` }).click();
    await b.getByRole('button', { name: `Remove ${first.name}` }).click();
    await until('tray gone', async () => (await b.getByRole('list', { name: /^Attachments/ }).count()) === 0);
  });

  it('an upload cut off by a network drop resumes from the offset the server has; a message of files only (no text) goes', async () => {
    const p = alice.page;
    // 10 MB: two tus chunks (8 MiB, then the rest). The second PATCH is held, the network goes
    // away (the request fails, the browser is offline), then comes back: tus asks the server
    // for its offset (HEAD) and sends the rest from there.
    const seen: string[] = [];
    let held: Route | null = null;
    await p.route('**/api/v1/uploads/**', async (route) => {
      const r = route.request();
      seen.push(`${r.method()} ${r.headers()['upload-offset'] ?? ''}`.trim());
      if (r.method() === 'PATCH' && Number(r.headers()['upload-offset']) > 0 && !held) {
        held = route;
        return;
      }
      await route.continue();
    });
    await attach(p, [resumable]);
    await until('second chunk under way', async () => held !== null, 30_000);
    await alice.context.setOffline(true);
    await held!.abort('internetdisconnected');
    await tray(p).getByText(/Connection lost · resumes at \d+%/).waitFor({ timeout: 20_000 });
    await sleep(500);
    await alice.context.setOffline(false);
    await until('upload resumed and finished', async () => (await p.getByRole('progressbar').count()) === 0 && (await tray(p).getByText(/BIN file/).count()) === 1, 30_000);
    await p.unroute('**/api/v1/uploads/**');
    const chunk = String(8 * 1024 * 1024);
    expect(seen).toContain('HEAD');
    expect(seen.slice(seen.indexOf('HEAD'))).toContain(`PATCH ${chunk}`);
    await p.getByRole('button', { name: 'Send' }).click();
    const b = bob.page;
    const card = timeline(b).getByRole('button', { name: `Download ${resumable.name}` });
    await card.waitFor({ timeout: 15_000 });
    const dl = b.waitForEvent('download');
    await card.click();
    const dd = await dl;
    expect(sha(readFileSync((await dd.path())!))).toBe(sha(resumable.buffer));
  });

  it('phone width: timeline, viewer and tray fit (no horizontal overflow), in light and dark', async () => {
    const b = bob.page;
    await b.setViewportSize({ width: 390, height: 844 });
    const msg = message(b, 'Here are the photos');
    await msg.scrollIntoViewIfNeeded();
    await sleep(300);
    expect(await overflowX(b)).toBe(0);
    await shots(b, 'files-timeline-phone');
    await msg.getByRole('button', { name: `View image ${photo.name}` }).click();
    await b.getByRole('dialog', { name: `Image ${photo.name}` }).waitFor();
    await sleep(300);
    expect(await overflowX(b)).toBe(0);
    await shots(b, 'files-lightbox-phone');
    await b.keyboard.press('Escape');

    const p = alice.page;
    await p.setViewportSize({ width: 390, height: 844 });
    const cdp = await alice.context.newCDPSession(p);
    await cdp.send('Network.enable');
    await throttle(cdp, 500_000);
    await attach(p, [photo, big]);
    await p.getByRole('progressbar', { name: `Uploading ${big.name}` }).waitFor();
    await until('progress moves', async () => (await progressValue(p, big.name)) > 3, 20_000);
    expect(await overflowX(p)).toBe(0);
    await shots(p, 'files-composer-phone');
    await p.getByRole('button', { name: `Cancel upload of ${big.name}` }).click();
    await p.getByRole('button', { name: new RegExp(`^(Remove|Cancel upload of) ${photo.name}$`) }).click();
    await throttle(cdp, -1);
    await cdp.detach();
    await p.setViewportSize({ width: 1280, height: 800 });
  });

  it('nothing broke the CSP and no script failed', () => {
    expect([...alice.problems, ...bob.problems]).toEqual([]);
  });
});
