/** An approval request's proposed change, field by field, in words staff use. */
import { roleLabel } from "../../components/roles";
import type { ApprovalKind, ApprovalStatus, PointsAction, Role } from "../../gql/graphql";
import { showValue } from "../ActivityLog/changes";
import { newBalance } from "../AdjustPoints/preview";

export const KIND_LABELS: Record<ApprovalKind, string> = {
  ENROLL_USER: "Enrol user",
  UPDATE_USER: "Change user",
  DELETE_USER: "Delete user",
  OPEN_ACCOUNT: "Open account",
  ADJUST_POINTS: "Adjust points",
};

export const STATUS_LABELS: Record<ApprovalStatus, string> = {
  PENDING: "Pending",
  APPROVED: "Approved",
  REJECTED: "Rejected",
  CANCELLED: "Cancelled",
};

// The input names a change is stored under (UpdateUserInput, EnrollUserInput, AdjustPointsInput...).
const FIELD_LABELS: Record<string, string> = {
  email: "Email",
  firstName: "First name",
  lastName: "Last name",
  role: "Role",
  initialPoints: "Initial points",
  program: "Program",
  action: "Kind",
  amount: "Amount",
  reason: "Reason",
  idempotencyKey: "Idempotency key",
};

export type ChangeRow = { field: string; label: string; current: string | null; proposed: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function shown(field: string, value: unknown): string {
  if (field === "role" && typeof value === "string") return roleLabel(value as Role);
  return showValue(value);
}

/** One row per proposed field; with `current` (the user as they are now) each row says what it
 * replaces, so a checker sees the difference, not only the new values. */
export function changeRows(change: unknown, current?: Record<string, unknown> | null): ChangeRow[] {
  if (!isRecord(change)) return [];
  return Object.entries(change).map(([field, value]) => ({
    field,
    label: FIELD_LABELS[field] ?? field,
    current: current && field in current ? shown(field, current[field]) : null,
    proposed: shown(field, value),
  }));
}

/** For a points adjustment: the balance the account would have if approved now; null if unknown. */
export function balanceIfApproved(change: unknown, balance: number | null | undefined): number | null {
  if (!isRecord(change) || balance == null) return null;
  const { action, amount } = change;
  if (typeof amount !== "number" || (action !== "ADD" && action !== "DEDUCT" && action !== "OVERRIDE")) return null;
  return newBalance(balance, action as PointsAction, amount);
}

const ACTION_WORDS: Record<string, string> = { ADD: "Add", DEDUCT: "Deduct", OVERRIDE: "Set to" };

/** A line saying what a request would do, for the inbox's list (the detail has every field). */
export function changeSummary(kind: ApprovalKind, change: unknown): string {
  const fields = isRecord(change) ? change : {};
  switch (kind) {
    case "ENROLL_USER":
      return typeof fields.email === "string" ? fields.email : "";
    case "UPDATE_USER":
      return changeRows(fields)
        .map((row) => row.label)
        .join(", ");
    case "OPEN_ACCOUNT":
      return typeof fields.program === "string" ? `Program ${fields.program}` : "";
    case "ADJUST_POINTS":
      return typeof fields.amount === "number" && typeof fields.action === "string"
        ? `${ACTION_WORDS[fields.action] ?? fields.action} ${fields.amount.toLocaleString("en")} points`
        : "";
    case "DELETE_USER":
      return "";
  }
}
