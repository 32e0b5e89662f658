import { describe, expect, it } from 'vitest';
import { menuMove } from '../src/menu';

describe('menuMove', () => {
  it('arrows move and wrap around', () => {
    expect(menuMove('ArrowDown', 0, 3)).toBe(1);
    expect(menuMove('ArrowDown', 2, 3)).toBe(0);
    expect(menuMove('ArrowUp', 0, 3)).toBe(2);
    expect(menuMove('ArrowUp', 2, 3)).toBe(1);
  });
  it('from no focused item: down is the first, up the last', () => {
    expect(menuMove('ArrowDown', -1, 4)).toBe(0);
    expect(menuMove('ArrowUp', -1, 4)).toBe(3);
  });
  it('Home and End go to the ends; other keys and empty menus do not move', () => {
    expect(menuMove('Home', 2, 4)).toBe(0);
    expect(menuMove('End', 0, 4)).toBe(3);
    expect(menuMove('a', 1, 4)).toBeNull();
    expect(menuMove('ArrowDown', -1, 0)).toBeNull();
  });
});
