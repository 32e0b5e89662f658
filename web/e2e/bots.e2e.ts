// Slash commands in the web composer against the real server: typing "/" offers the server's
// commands, choosing one fills the trigger, and sending asks the command's URL (a small HTTP
// server in the test, on loopback, which --outbound-allow lets the server reach) and shows its
// ephemeral answer without posting anything; an in_channel answer appears in the timeline.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { apiCall, launch, openPage, overflowX, registerUser, reportPagesOnFailure, Server, shots, signInUi, type Watched } from './harness';

const server = new Server();
let browser: Browser;
let app: HttpServer;
const opened: Watched[] = [];
let visibility = 'ephemeral';
reportPagesOnFailure(() => opened.map((w) => w.page));

beforeAll(async () => {
  server.extraArgs = ['--outbound-allow', '127.0.0.0/8'];
  await server.start();
  browser = await launch();
  app = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const cmd = JSON.parse(body);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ text: `Sunny in ${cmd.text}`, visibility }));
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const owner = await registerUser(server.url, 'cora', 'Cora');
  await apiCall(server.url, '/conversations', { method: 'POST', token: owner.access_token, body: { type: 'channel', name: 'ops' } });
  const port = (app.address() as AddressInfo).port;
  await apiCall(server.url, '/commands', { method: 'POST', token: owner.access_token, body: { trigger: 'weather', url: `http://127.0.0.1:${port}/` } });
  await apiCall(server.url, '/commands', { method: 'POST', token: owner.access_token, body: { trigger: 'deploy', url: `http://127.0.0.1:${port}/` } });
});

afterAll(async () => {
  for (const w of opened) await w.context.close();
  await browser?.close();
  app?.close();
  await server.stop();
  server.cleanup();
});

describe.sequential('slash commands in the composer', () => {
  for (const [label, viewport] of [
    ['desktop', { width: 1280, height: 800 }],
    ['phone', { width: 390, height: 844 }],
  ] as const) {
    it(`"/" offers the commands and an ephemeral answer is shown, not posted (${label})`, async () => {
      const w = await openPage(browser, server.url, { viewport });
      opened.push(w);
      const p = w.page;
      await signInUi(w, 'cora');
      await p.getByRole('navigation', { name: 'Conversations' }).getByRole('link', { name: /ops/ }).click();
      const box = p.getByRole('textbox', { name: 'Message', exact: true });
      await box.pressSequentially('/', { delay: 30 });
      const list = p.getByRole('listbox', { name: 'Commands' });
      await list.waitFor();
      expect(await list.getByRole('option').allTextContents()).toEqual(['/deploy', '/weather']);
      await box.pressSequentially('we', { delay: 30 });
      expect(await list.getByRole('option').allTextContents()).toEqual(['/weather']);
      expect(await overflowX(p)).toBe(0);
      await shots(p, `bots-commands-${label}`);
      await box.press('Enter'); // accepts the suggestion
      expect(await box.inputValue()).toBe('/weather ');
      await box.pressSequentially(label === 'phone' ? 'Oslo' : 'Paris', { delay: 20 });
      await box.press('Enter');
      const alert = p.getByRole('alert');
      await alert.getByText(`/weather: Sunny in ${label === 'phone' ? 'Oslo' : 'Paris'}`).waitFor();
      await shots(p, `bots-ephemeral-${label}`);
      expect(await p.getByText(/^\/weather (Paris|Oslo)$/).count()).toBe(0);
      expect(w.problems).toEqual([]);
    });
  }

  it('an in_channel answer is posted in the conversation', async () => {
    visibility = 'in_channel';
    const w = opened[0];
    const p = w.page;
    const box = p.getByRole('textbox', { name: 'Message', exact: true });
    await box.fill('/weather Rome');
    await box.press('Enter');
    await p.getByText('Sunny in Rome').first().waitFor();
    await shots(p, 'bots-in-channel-desktop');
  });
});
