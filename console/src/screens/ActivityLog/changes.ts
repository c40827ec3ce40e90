/** A log entry's `details` ("for a change: the fields before and after") as rows to set side by side. */

export type FieldChange = { field: string; before: string; after: string; changed: boolean };

const ABSENT = "—";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A value as a reader sees it: text as is, anything else as compact JSON. */
export function showValue(value: unknown): string {
  if (value === undefined) return ABSENT;
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/** One row per field named in `before` or `after` (before's order first), with both values;
 * a field only one side has reads as "—" on the other. Empty when details hold neither. */
export function beforeAndAfter(details: unknown): FieldChange[] {
  if (!isRecord(details)) return [];
  const before = isRecord(details.before) ? details.before : {};
  const after = isRecord(details.after) ? details.after : {};
  const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return fields.map((field) => ({
    field,
    before: showValue(before[field]),
    after: showValue(after[field]),
    changed: JSON.stringify(before[field]) !== JSON.stringify(after[field]),
  }));
}

/** The details other than before/after (the reason, the kind, a request's change...), by name. */
export function otherDetails(details: unknown): [string, string][] {
  if (!isRecord(details)) return details == null ? [] : [["details", showValue(details)]];
  return Object.entries(details)
    .filter(([name]) => name !== "before" && name !== "after")
    .map(([name, value]) => [name, showValue(value)]);
}
