import { describe, expect, it } from "vitest";
import { hasProblems, newPasswordProblems } from "./newPassword";

describe("a new password checked before it is sent", () => {
  it("accepts twelve characters typed twice alike", () => {
    const problems = newPasswordProblems("correct-hors", "correct-hors");
    expect(problems).toEqual({});
    expect(hasProblems(problems)).toBe(false);
  });

  it("refuses fewer than twelve characters on the new password's field", () => {
    expect(newPasswordProblems("short-pw-11", "short-pw-11")).toEqual({
      newPassword: "Use at least 12 characters.",
    });
  });

  it("counts characters, not UTF-16 units", () => {
    const elevenEmoji = "😀".repeat(11);
    expect(newPasswordProblems(elevenEmoji, elevenEmoji).newPassword).toBe("Use at least 12 characters.");
  });

  it("refuses more than 1024 characters", () => {
    const long = "x".repeat(1025);
    expect(newPasswordProblems(long, long).newPassword).toBe("Use at most 1024 characters.");
  });

  it("refuses two different copies on the repeat field", () => {
    const problems = newPasswordProblems("a-long-password-1", "a-long-password-2");
    expect(problems).toEqual({ repeat: "The two passwords do not match." });
    expect(hasProblems(problems)).toBe(true);
  });
});
