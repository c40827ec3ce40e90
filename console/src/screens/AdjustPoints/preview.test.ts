import { describe, expect, it } from "vitest";
import { newBalance, parseAmount } from "./preview";

describe("the new balance preview", () => {
  it("adds, deducts, or replaces the balance", () => {
    expect(newBalance(500, "ADD", 120)).toBe(620);
    expect(newBalance(500, "DEDUCT", 120)).toBe(380);
    expect(newBalance(500, "OVERRIDE", 120)).toBe(120);
  });

  it("shows a deduction past zero as negative (the server refuses it)", () => {
    expect(newBalance(50, "DEDUCT", 80)).toBe(-30);
  });

  it("reads only whole numbers of points", () => {
    expect(parseAmount(" 250 ")).toBe(250);
    expect(parseAmount("2.5")).toBeNull();
    expect(parseAmount("-3")).toBeNull();
    expect(parseAmount("1e3")).toBeNull();
    expect(parseAmount("")).toBeNull();
    expect(parseAmount("99999999999999999999")).toBeNull();
  });
});
