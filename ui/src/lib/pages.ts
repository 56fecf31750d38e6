// Which pages of the case list stay in memory: those around the rows on screen. Scrolling through
// 100k cases would otherwise keep every page read on the way (500 pages of 200 summaries); far
// pages are dropped and read again if the list is scrolled back to them.

/** Pages kept on each side of the ones on screen. */
export const PAGES_KEPT_AROUND = 5;

/** The pages in `held` to drop when rows `firstIndex`..`lastIndex` are on screen. */
export function pagesToDrop(
  held: Iterable<number>,
  firstIndex: number,
  lastIndex: number,
  pageSize: number,
  around = PAGES_KEPT_AROUND,
): number[] {
  const lo = Math.floor(firstIndex / pageSize) - around;
  const hi = Math.floor(lastIndex / pageSize) + around;
  return [...held].filter((p) => p < lo || p > hi);
}
