import type { PointsAction } from "../../gql/graphql";

/** The amount typed, as a whole number of points, or null when it is not one. */
export function parseAmount(text: string): number | null {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return null;
  const amount = Number(trimmed);
  return Number.isSafeInteger(amount) ? amount : null;
}

/** The balance the account would have after the adjustment (what the ledger row will say). */
export function newBalance(balance: number, action: PointsAction, amount: number): number {
  switch (action) {
    case "ADD":
      return balance + amount;
    case "DEDUCT":
      return balance - amount;
    case "OVERRIDE":
      return amount;
  }
}
