/** What the signed-in user may do, as the server said in `me { permissions }`: never a copy of its rules. */
import type { Permission, PermissionAccess } from "../gql/graphql";

export type { Permission, PermissionAccess };

export interface PermissionGrant {
  permission: Permission;
  access: PermissionAccess;
}

/** ALLOW, REQUEST (it makes an approval request) or CUSTOMERS_ONLY; undefined when not allowed. */
export function accessTo(
  grants: readonly PermissionGrant[],
  permission: Permission,
): PermissionAccess | undefined {
  return grants.find((grant) => grant.permission === permission)?.access;
}

/**
 * How an action may be done to a user of `targetRole`: CUSTOMERS_ONLY is ALLOW for a customer
 * (role USER) and nothing for staff.
 */
export function accessOn(
  access: PermissionAccess | undefined,
  targetRole: string,
): "ALLOW" | "REQUEST" | undefined {
  if (access === "CUSTOMERS_ONLY") return targetRole === "USER" ? "ALLOW" : undefined;
  return access;
}
