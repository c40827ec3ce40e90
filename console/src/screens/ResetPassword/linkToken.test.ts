import { describe, expect, it } from "vitest";
import { dropHashFromAddress, tokenFromHash } from "./linkToken";

describe("the token of an emailed link", () => {
  it("is read from the fragment", () => {
    expect(tokenFromHash("#token=abc-DEF_123")).toBe("abc-DEF_123");
  });

  it("is absent when the fragment has none or an empty one", () => {
    expect(tokenFromHash("")).toBeNull();
    expect(tokenFromHash("#")).toBeNull();
    expect(tokenFromHash("#token=")).toBeNull();
    expect(tokenFromHash("#other=1")).toBeNull();
  });

  it("is taken off the address bar without a new history entry, keeping the router's state", () => {
    window.history.replaceState({ idx: 3 }, "", "/reset-password?x=1#token=secret");
    const before = window.history.length;
    dropHashFromAddress();
    expect(window.location.href).toBe(`${window.location.origin}/reset-password?x=1`);
    expect(window.history.length).toBe(before);
    expect(window.history.state).toEqual({ idx: 3 });
  });
});
