import { describe, expect, it } from "vitest";
import { currentAfter, firstPage, hasPreviousPage, nextPage, previousPage } from "./cursorStack";

describe("the paging cursor stack", () => {
  it("starts on the first page, with nothing before it", () => {
    expect(currentAfter(firstPage)).toBeNull();
    expect(hasPreviousPage(firstPage)).toBe(false);
  });

  it("asks for the next page after the shown page's end cursor", () => {
    const second = nextPage(firstPage, "c20");
    const third = nextPage(second, "c40");

    expect(currentAfter(third)).toBe("c40");
  });

  it("goes back to the exact page it came from", () => {
    const third = nextPage(nextPage(firstPage, "c20"), "c40");

    expect(currentAfter(previousPage(third))).toBe("c20");
    expect(currentAfter(previousPage(previousPage(third)))).toBeNull();
  });

  it("stays on the first page when asked to go before it", () => {
    expect(previousPage(firstPage)).toBe(firstPage);
  });
});
