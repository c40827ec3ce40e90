import { describe, expect, it } from "vitest";
import type { Page } from "../../api/usePages";
import { findInPages } from "./findRequest";

/** Pages of numbers, three a page, recording which cursors were asked for. */
function pagesOf(...pages: number[][]) {
  const asked: (string | null)[] = [];
  const fetchPage = async (after: string | null): Promise<Page<number>> => {
    asked.push(after);
    const index = after === null ? 0 : Number(after);
    return { items: pages[index], endCursor: String(index + 1), hasNextPage: index + 1 < pages.length };
  };
  return { asked, fetchPage };
}

describe("finding an approval request by id in the list's pages", () => {
  it("stops at the page that holds it", async () => {
    const { asked, fetchPage } = pagesOf([1, 2, 3], [4, 5, 6], [7, 8, 9]);
    expect(await findInPages(fetchPage, (n) => n === 5)).toBe(5);
    expect(asked).toEqual([null, "1"]);
  });

  it("answers null after the last page", async () => {
    const { asked, fetchPage } = pagesOf([1, 2, 3], [4]);
    expect(await findInPages(fetchPage, (n) => n === 42)).toBeNull();
    expect(asked).toEqual([null, "1"]);
  });

  it("gives up after the most pages it may read", async () => {
    const { asked, fetchPage } = pagesOf([1], [2], [3], [4]);
    expect(await findInPages(fetchPage, (n) => n === 4, 2)).toBeNull();
    expect(asked).toHaveLength(2);
  });
});
