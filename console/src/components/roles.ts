import type { Role } from "../gql/graphql";

/** The roles in the order the product lists them, with the words staff use for them. */
export const ROLES: readonly { value: Role; label: string }[] = [
  { value: "OWNER", label: "Owner" },
  { value: "MANAGER", label: "Manager" },
  { value: "ENGINEER", label: "Engineer" },
  { value: "PRODUCT_MANAGER", label: "Product manager" },
  { value: "USER", label: "Customer" },
];

export function roleLabel(role: Role): string {
  return ROLES.find((entry) => entry.value === role)?.label ?? role;
}

export const formatPoints = (points: number): string => points.toLocaleString("en");
