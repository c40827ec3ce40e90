import { describe, expect, it } from "vitest";
import { balanceIfApproved, changeRows, changeSummary } from "./change";

describe("a proposed change, field by field", () => {
  it("names each field in words and shows roles as staff say them", () => {
    expect(changeRows({ firstName: "Ada", role: "PRODUCT_MANAGER" })).toEqual([
      { field: "firstName", label: "First name", current: null, proposed: "Ada" },
      { field: "role", label: "Role", current: null, proposed: "Product manager" },
    ]);
  });

  it("sets the current value beside the proposed one when the user is known", () => {
    const current = { email: "a@x.test", firstName: "Ada", lastName: "King", role: "USER" };
    expect(changeRows({ role: "MANAGER" }, current)).toEqual([
      { field: "role", label: "Role", current: "Customer", proposed: "Manager" },
    ]);
  });

  it("keeps a field it does not know under its own name", () => {
    expect(changeRows({ nickname: "Ada" })).toEqual([
      { field: "nickname", label: "nickname", current: null, proposed: "Ada" },
    ]);
  });

  it("has no rows for a change that is not an object (a delete proposes nothing)", () => {
    expect(changeRows({})).toEqual([]);
    expect(changeRows(null)).toEqual([]);
  });
});

describe("the balance a points adjustment would leave", () => {
  it("adds, deducts or overrides from the balance as it is now", () => {
    expect(balanceIfApproved({ action: "ADD", amount: 50 }, 100)).toBe(150);
    expect(balanceIfApproved({ action: "DEDUCT", amount: 30 }, 100)).toBe(70);
    expect(balanceIfApproved({ action: "OVERRIDE", amount: 5 }, 100)).toBe(5);
  });

  it("is unknown without a balance or with a change it cannot read", () => {
    expect(balanceIfApproved({ action: "ADD", amount: 50 }, null)).toBeNull();
    expect(balanceIfApproved({ action: "MULTIPLY", amount: 2 }, 100)).toBeNull();
    expect(balanceIfApproved({ action: "ADD", amount: "50" }, 100)).toBeNull();
  });
});

describe("a request in one line, for the inbox", () => {
  it("says what each kind would do", () => {
    expect(changeSummary("ENROLL_USER", { email: "new@example.com", role: "USER" })).toBe("new@example.com");
    expect(changeSummary("UPDATE_USER", { lastName: "King", role: "MANAGER" })).toBe("Last name, Role");
    expect(changeSummary("OPEN_ACCOUNT", { program: "gold" })).toBe("Program gold");
    expect(changeSummary("ADJUST_POINTS", { action: "DEDUCT", amount: 1500, reason: null })).toBe("Deduct 1,500 points");
    expect(changeSummary("DELETE_USER", {})).toBe("");
  });

  it("says nothing of a change it cannot read", () => {
    expect(changeSummary("ADJUST_POINTS", null)).toBe("");
    expect(changeSummary("ENROLL_USER", { email: 42 })).toBe("");
  });
});
