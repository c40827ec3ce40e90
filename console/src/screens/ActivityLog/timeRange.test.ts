import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { localInputToUtc } from "./timeRange";

describe("a datetime-local value sent as a UTC instant", () => {
  const zone = process.env.TZ;
  beforeEach(() => {
    process.env.TZ = "Europe/Paris"; // UTC+1 in winter, UTC+2 in summer
  });
  afterEach(() => {
    process.env.TZ = zone;
  });

  it("reads the value as local time and answers UTC with its offset", () => {
    expect(localInputToUtc("2026-11-30T10:15")).toBe("2026-11-30T09:15:00.000Z");
  });

  it("follows daylight saving time of the date given, not of today", () => {
    expect(localInputToUtc("2026-07-01T10:15")).toBe("2026-07-01T08:15:00.000Z");
  });

  it("keeps the seconds when the value has them", () => {
    expect(localInputToUtc("2026-11-30T10:15:42")).toBe("2026-11-30T09:15:42.000Z");
  });

  it("ends an inclusive To at the last millisecond of its minute", () => {
    expect(localInputToUtc("2026-11-30T10:15", { endOfMinute: true })).toBe("2026-11-30T09:15:59.999Z");
  });

  it("answers null for an empty or malformed value, so no filter is sent", () => {
    expect(localInputToUtc("")).toBeNull();
    expect(localInputToUtc("30/11/2026 10:15")).toBeNull();
    expect(localInputToUtc("2026-13-45T99:99")).toBeNull();
  });

  it("never sends a naive time", () => {
    expect(localInputToUtc("2026-11-30T10:15")).toMatch(/Z$/);
  });
});
