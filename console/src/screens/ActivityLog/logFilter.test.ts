import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildLogFilter, emptyLogFilterForm, isEmail } from "./logFilter";

describe("the activity log's filter form", () => {
  const zone = process.env.TZ;
  beforeEach(() => {
    process.env.TZ = "America/New_York";
  });
  afterEach(() => {
    process.env.TZ = zone;
  });

  it("sends nothing for empty fields", () => {
    expect(buildLogFilter(emptyLogFilterForm)).toEqual({
      filter: { search: null, action: null, outcome: null, actorId: null, targetId: null, since: null, until: null },
      problem: null,
    });
  });

  it("trims text and sends the time range as UTC instants, To through its whole minute", () => {
    const built = buildLogFilter({
      ...emptyLogFilterForm,
      search: "  ada ",
      action: "user.update",
      outcome: "DENIED",
      actor: " 42 ",
      from: "2026-11-30T09:00",
      to: "2026-11-30T17:30",
    });
    expect(built.filter).toEqual({
      search: "ada",
      action: "user.update",
      outcome: "DENIED",
      actorId: "42",
      targetId: null,
      since: "2026-11-30T14:00:00.000Z",
      until: "2026-11-30T22:30:59.999Z",
    });
  });

  it("refuses a From after To instead of asking for an empty page", () => {
    expect(buildLogFilter({ ...emptyLogFilterForm, from: "2026-11-30T18:00", to: "2026-11-30T09:00" })).toEqual({
      filter: null,
      problem: "From must be before To.",
    });
  });

  it("accepts From and To in the same minute", () => {
    expect(buildLogFilter({ ...emptyLogFilterForm, from: "2026-11-30T09:00", to: "2026-11-30T09:00" }).problem).toBeNull();
  });

  it("tells an actor's email from an id", () => {
    expect(isEmail("ada@example.com")).toBe(true);
    expect(isEmail("3f2c0c4e-0000-4000-8000-000000000000")).toBe(false);
    expect(isEmail(null)).toBe(false);
  });
});
