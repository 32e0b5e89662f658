// Voice messages in the web app, against the real server with PocketSphinx: Chromium's fake
// microphone plays a sentence espeak-ng spoke; the record button records it (MediaRecorder,
// Opus/WebM) with a live waveform, Stop puts it in the tray, Send posts it, and the transcript
// appears under the audio player once the server has made it. Screenshots at desktop and phone
// sizes, light and dark.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { apiCall, launch, openPage, overflowX, registerUser, Server, shots, signInUi, type Watched } from './harness';

const SENTENCE = 'the meeting is moved to friday afternoon';
const server = new Server();
let browser: Browser;
let alice: Watched;
const CHANNEL = 'voice-general';

beforeAll(async () => {
  const wav = join(mkdtempSync(join(tmpdir(), 'parley-voice-')), 'speech.wav');
  // A second of silence after the sentence: the fake device loops the file.
  execFileSync('espeak-ng', ['-v', 'en-us+f2', '-s', '150', '-w', wav, `${SENTENCE} [[_:]]`]);
  await server.start();
  browser = await launch([`--use-file-for-fake-audio-capture=${wav}`]);
  alice = await openPage(browser, server.url, { viewport: { width: 1280, height: 800 }, permissions: ['microphone'] });
  const a = await registerUser(server.url, 'alice');
  await apiCall(server.url, '/conversations', {
    method: 'POST',
    token: a.access_token,
    body: { type: 'channel', name: CHANNEL, visibility: 'public' },
  });
});

afterAll(async () => {
  await browser?.close();
  await server.stop();
  server.cleanup();
});

describe.sequential('voice messages in the web app', () => {
  it('records a voice message with a waveform and shows its transcript under the player', async () => {
    const p = alice.page;
    await signInUi(alice, 'alice');
    await p.getByRole('link', { name: new RegExp(CHANNEL) }).first().click();
    await p.getByRole('button', { name: 'Record a voice message' }).first().click();
    const rec = p.getByRole('group', { name: 'Recording a voice message' });
    await rec.waitFor();
    expect(await rec.locator('canvas.waveform').count()).toBe(1);
    await p.waitForTimeout(4_000);
    await shots(p, 'voice-recording');
    await rec.getByRole('button', { name: 'Stop recording' }).click();
    await p.getByRole('button', { name: 'Send' }).first().waitFor();
    // The recording uploads into the tray; Send waits for it.
    await expect
      .poll(async () => p.getByRole('button', { name: 'Send' }).first().isEnabled(), { timeout: 20_000 })
      .toBe(true);
    await p.getByRole('button', { name: 'Send' }).first().click();
    const msg = p.getByRole('log').locator('li.msg').filter({ has: p.locator('audio') }).last();
    await msg.waitFor();
    const transcript = msg.getByLabel('Transcript');
    await transcript.waitFor({ timeout: 120_000 });
    const text = (await transcript.innerText()).toLowerCase();
    const words = SENTENCE.split(' ').filter((w) => w.length > 3);
    const heard = words.filter((w) => text.includes(w));
    console.log(`transcript of the recording: "${text}" (${heard.length}/${words.length} long words heard)`);
    expect(heard.length).toBeGreaterThan(0);
    expect(await msg.locator('audio').count()).toBe(1);
    await shots(p, 'voice-message');
    expect(await overflowX(p)).toBe(0);
  });
});
