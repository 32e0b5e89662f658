import { describe, expect, it } from 'vitest';
import { deviceName, muteUntil, validTime } from '../src/notifications';

describe('notification helpers', () => {
  it('names devices by browser and system', () => {
    expect(deviceName('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36')).toBe('Chrome on Linux');
    expect(deviceName('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1')).toBe('Safari on iOS');
    expect(deviceName('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0')).toBe('Firefox on Windows');
    expect(deviceName('curl/8')).toBe('Browser');
  });

  it('turns mute choices into an end time', () => {
    const now = 1_700_000_000_000;
    expect(muteUntil('1h', now)).toBe(now + 3_600_000);
    expect(muteUntil('7d', now)).toBe(now + 7 * 24 * 3_600_000);
    expect(muteUntil('forever', now)).toBe(4102444800000);
    expect(muteUntil('off', now)).toBeNull();
  });

  it('accepts only HH:MM times', () => {
    expect(validTime('22:00')).toBe(true);
    expect(validTime('07:30')).toBe(true);
    expect(validTime('24:00')).toBe(false);
    expect(validTime('7:30')).toBe(false);
  });
});
