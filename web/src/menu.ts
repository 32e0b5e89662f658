// Keyboard movement in a menu (the WAI-ARIA menu button pattern), kept pure for unit tests.

/** The item to focus after `key` in a menu of `n` items where item `i` has focus (-1: none);
 * null when the key does not move. Arrows wrap; Home and End go to the ends. */
export function menuMove(key: string, i: number, n: number): number | null {
  if (n <= 0) return null;
  switch (key) {
    case 'ArrowDown':
      return i < 0 ? 0 : (i + 1) % n;
    case 'ArrowUp':
      return i < 0 ? n - 1 : (i - 1 + n) % n;
    case 'Home':
      return 0;
    case 'End':
      return n - 1;
    default:
      return null;
  }
}
