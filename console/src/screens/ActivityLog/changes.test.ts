import { describe, expect, it } from "vitest";
import { beforeAndAfter, otherDetails } from "./changes";

describe("a log entry's before and after side by side", () => {
  it("pairs each field's values and marks the ones that changed", () => {
    const details = { before: { role: "USER", email: "a@x.test" }, after: { role: "MANAGER", email: "a@x.test" } };
    expect(beforeAndAfter(details)).toEqual([
      { field: "role", before: "USER", after: "MANAGER", changed: true },
      { field: "email", before: "a@x.test", after: "a@x.test", changed: false },
    ]);
  });

  it("shows a field present on one side only as absent on the other", () => {
    expect(beforeAndAfter({ after: { email: "new@x.test" } })).toEqual([
      { field: "email", before: "—", after: "new@x.test", changed: true },
    ]);
    expect(beforeAndAfter({ before: { firstName: "Ada" } })).toEqual([
      { field: "firstName", before: "Ada", after: "—", changed: true },
    ]);
  });

  it("shows numbers, nulls and nested values as JSON", () => {
    expect(beforeAndAfter({ before: { balance: 10, reason: null }, after: { balance: 25, reason: { a: 1 } } })).toEqual([
      { field: "balance", before: "10", after: "25", changed: true },
      { field: "reason", before: "null", after: '{"a":1}', changed: true },
    ]);
  });

  it("has no rows for details without before or after, or none at all", () => {
    expect(beforeAndAfter({ reason: "x" })).toEqual([]);
    expect(beforeAndAfter(null)).toEqual([]);
    expect(beforeAndAfter("text")).toEqual([]);
  });

  it("lists the other details by name", () => {
    expect(otherDetails({ action: "ADD", amount: 5, before: {}, after: {} })).toEqual([
      ["action", "ADD"],
      ["amount", "5"],
    ]);
    expect(otherDetails(null)).toEqual([]);
  });

  it("finds the before and after a part of the details holds (an approved request's result)", () => {
    const details = {
      kind: "UPDATE_USER",
      change: { lastName: "King" },
      result: { before: { lastName: "Byron" }, after: { lastName: "King" } },
    };
    expect(beforeAndAfter(details)).toEqual([{ field: "lastName", before: "Byron", after: "King", changed: true }]);
    expect(otherDetails(details)).toEqual([
      ["kind", "UPDATE_USER"],
      ["change", '{"lastName":"King"}'],
    ]);
  });

  it("keeps what else that part holds", () => {
    const details = { result: { before: { balance: 1 }, after: { balance: 2 }, transactionId: "t1" } };
    expect(otherDetails(details)).toEqual([["result", '{"transactionId":"t1"}']]);
  });
});
