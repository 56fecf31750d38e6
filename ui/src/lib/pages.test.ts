import { describe, expect, it } from 'vitest';

import { pagesToDrop } from './pages';

describe('the case list pages kept in memory', () => {
  it('keeps the pages on screen and a few on each side', () => {
    const held = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    // Rows 1,200..1,230 are on page 6: pages 1..11 stay.
    expect(pagesToDrop(held, 1200, 1230, 200)).toEqual([0, 12]);
  });

  it('drops every page read on the way down a long scroll', () => {
    const held = Array.from({ length: 500 }, (_, p) => p);
    const dropped = pagesToDrop(held, 99_980, 99_999, 200);
    expect(held.length - dropped.length).toBe(6); // pages 494..499: the last one and five before it
  });

  it('drops nothing while everything held is near the screen', () => {
    expect(pagesToDrop([0, 1], 0, 30, 200)).toEqual([]);
  });
});
