import { describe, expect, it } from "vitest";
import type { Permission, PermissionAccess } from "../../session/permissions";
import { userActions } from "./userActions";

type Grants = Partial<Record<Permission, PermissionAccess>>;
const canFrom = (grants: Grants) => (permission: Permission) => grants[permission];

const OWNER: Grants = {
  READ_USERS: "ALLOW",
  ENROLL_USERS: "ALLOW",
  UPDATE_USERS: "ALLOW",
  DELETE_USERS: "ALLOW",
  ADJUST_POINTS: "ALLOW",
  FORCE_PASSWORD_RESET: "ALLOW",
};
const customer = { id: "c1", role: "USER", passwordSet: null };
const invitedStaff = { id: "s1", role: "ENGINEER", passwordSet: false };

const labels = (grants: Grants, target: typeof customer | typeof invitedStaff, me = "me") =>
  userActions(canFrom(grants), target, me).map((offer) => offer.label);

describe("the actions a user's page offers", () => {
  it("offers an owner everything on a pending staff member", () => {
    expect(labels(OWNER, invitedStaff)).toEqual([
      "Edit",
      "Adjust points",
      "Open account",
      "Delete",
      "Resend invitation",
      "Force password reset",
    ]);
  });

  it("offers nothing the role is not granted", () => {
    expect(labels({ READ_USERS: "CUSTOMERS_ONLY" }, customer)).toEqual([]);
  });

  it("labels actions that only make a request as requests", () => {
    const engineer: Grants = { UPDATE_USERS: "REQUEST", ADJUST_POINTS: "REQUEST", ENROLL_USERS: "REQUEST" };
    const offers = userActions(canFrom(engineer), customer, "me");

    expect(offers.map((offer) => offer.label)).toEqual(["Edit", "Adjust points", "Request account"]);
    expect(offers.every((offer) => offer.request)).toBe(true);
  });

  it("offers a manager's deletion as a request", () => {
    expect(labels({ DELETE_USERS: "REQUEST" }, customer)).toEqual(["Request deletion"]);
  });

  it("allows a customers-only grant on customers and not on staff", () => {
    const grants: Grants = { UPDATE_USERS: "CUSTOMERS_ONLY" };

    expect(labels(grants, customer)).toEqual(["Edit"]);
    expect(labels(grants, invitedStaff)).toEqual([]);
  });

  it("offers resending an invitation only to those who may enrol directly", () => {
    expect(labels({ ENROLL_USERS: "REQUEST" }, invitedStaff)).not.toContain("Resend invitation");
    expect(labels(OWNER, { ...invitedStaff, passwordSet: true })).not.toContain("Resend invitation");
  });

  it("never offers deleting or forcing a reset on yourself", () => {
    const me = labels(OWNER, { id: "me", role: "OWNER", passwordSet: true }, "me");

    expect(me).not.toContain("Delete");
    expect(me).not.toContain("Force password reset");
  });

  it("does not force a password reset on a customer, who has none", () => {
    expect(labels(OWNER, customer)).not.toContain("Force password reset");
  });
});
