/** Which actions the user detail offers: all from the server's permissions, none guessed. */
import { accessOn, type Permission, type PermissionAccess } from "../../session/permissions";

export type UserAction = "edit" | "adjust" | "openAccount" | "delete" | "resendInvitation" | "forceReset";

export interface ActionOffer {
  action: UserAction;
  label: string;
  /** The action only proposes the change: an approval request. */
  request: boolean;
}

export interface ActionTarget {
  id: string;
  role: string;
  /** null for customers; false while a staff invitation is pending. */
  passwordSet?: boolean | null;
}

type Can = (permission: Permission) => PermissionAccess | undefined;

export function userActions(can: Can, target: ActionTarget, myId: string | undefined): ActionOffer[] {
  const offers: ActionOffer[] = [];
  const offer = (action: UserAction, permission: Permission, label: string, requestLabel = label) => {
    const access = accessOn(can(permission), target.role);
    if (access) offers.push({ action, label: access === "REQUEST" ? requestLabel : label, request: access === "REQUEST" });
  };
  const isMe = target.id === myId;
  const isStaff = target.role !== "USER";

  offer("edit", "UPDATE_USERS", "Edit");
  offer("adjust", "ADJUST_POINTS", "Adjust points");
  offer("openAccount", "ADJUST_POINTS", "Open account", "Request account");
  if (!isMe) offer("delete", "DELETE_USERS", "Delete", "Request deletion");
  if (isStaff && target.passwordSet === false && can("ENROLL_USERS") === "ALLOW") {
    offers.push({ action: "resendInvitation", label: "Resend invitation", request: false });
  }
  if (isStaff && !isMe && can("FORCE_PASSWORD_RESET") === "ALLOW") {
    offers.push({ action: "forceReset", label: "Force password reset", request: false });
  }
  return offers;
}
