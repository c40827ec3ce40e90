import { describe, expect, it } from "vitest";
import { passwordChangeProblems } from "./passwordErrors";

describe("a refused password change", () => {
  it("shows a wrong current password on the current password's field", () => {
    expect(passwordChangeProblems({ code: "INVALID_CREDENTIALS", field: null, message: "invalid credentials" })).toEqual({
      currentPassword: "That is not your current password.",
    });
  });

  it("shows a weak password on the new password's field, in the server's words", () => {
    expect(
      passwordChangeProblems({ code: "WEAK_PASSWORD", field: "newPassword", message: "this password is too common" }),
    ).toEqual({ newPassword: "This password is too common." });
  });

  it("shows anything else, such as a lockout, above the form", () => {
    expect(
      passwordChangeProblems({ code: "ACCOUNT_LOCKED", field: null, message: "too many attempts; try again at 10:15" }),
    ).toEqual({ form: "Too many attempts; try again at 10:15." });
  });
});
