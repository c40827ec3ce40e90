import { describe, expect, it } from "vitest";
import { AttemptKeys } from "./attemptKey";

/** Keys k1, k2, ... so a test can tell them apart. */
function numberedKeys() {
  let count = 0;
  return new AttemptKeys(() => `k${++count}`);
}

const ADD_100 = JSON.stringify({ accountId: "a1", action: "ADD", amount: 100, reason: "goodwill" });

describe("the idempotency key of an adjustment", () => {
  it("is the same for a double click on the same request", () => {
    const keys = numberedKeys();

    expect(keys.keyFor(ADD_100)).toBe("k1");
    expect(keys.keyFor(ADD_100)).toBe("k1");
  });

  it("is the same when retrying after a network error (no answer came)", () => {
    const keys = numberedKeys();
    const first = keys.keyFor(ADD_100);
    // the request failed on the way: nothing is marked answered

    expect(keys.keyFor(ADD_100)).toBe(first);
  });

  it("is new for another adjustment after the server answered", () => {
    const keys = numberedKeys();
    keys.keyFor(ADD_100);
    keys.answered();

    expect(keys.keyFor(ADD_100)).toBe("k2");
  });

  it("is new when the request changed before it was sent again", () => {
    const keys = numberedKeys();
    keys.keyFor(ADD_100);

    expect(keys.keyFor(JSON.stringify({ accountId: "a1", action: "ADD", amount: 1000, reason: "goodwill" }))).toBe("k2");
  });

  it("comes from crypto.randomUUID by default", () => {
    const key = new AttemptKeys().keyFor(ADD_100);

    expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
