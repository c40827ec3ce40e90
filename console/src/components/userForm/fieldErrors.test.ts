import { describe, expect, it } from "vitest";
import { mapFieldErrors } from "./fieldErrors";

const FIELDS = ["email", "firstName", "lastName", "role"] as const;

describe("mapping a mutation's errors onto the form", () => {
  it("puts an error on input.email under the Email field", () => {
    const mapped = mapFieldErrors(
      [{ code: "CONFLICT", field: "input.email", message: "that email is taken" }],
      FIELDS,
    );

    expect(mapped.byField).toEqual({ email: "That email is taken." });
    expect(mapped.general).toEqual([]);
  });

  it("keeps each field's errors apart and joins two on one field", () => {
    const mapped = mapFieldErrors(
      [
        { code: "VALIDATION", field: "input.firstName", message: "first name is required" },
        { code: "VALIDATION", field: "input.lastName", message: "last name is too long." },
        { code: "VALIDATION", field: "input.lastName", message: "last name has a control character" },
      ],
      FIELDS,
    );

    expect(mapped.byField).toEqual({
      firstName: "First name is required.",
      lastName: "Last name is too long. Last name has a control character.",
    });
  });

  it("says errors on no field or an unknown field above the form", () => {
    const mapped = mapFieldErrors(
      [
        { code: "NOT_FOUND", field: null, message: "no such user" },
        { code: "VALIDATION", field: "input.password", message: "staff set their own password" },
        { code: "FORBIDDEN", field: "id", message: "not yours" },
      ],
      FIELDS,
    );

    expect(mapped.byField).toEqual({});
    expect(mapped.general).toEqual(["No such user.", "Staff set their own password.", "Not yours."]);
  });
});
