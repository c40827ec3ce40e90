/** A log entry's `details` ("for a change: the fields before and after") as rows to set side by side.
 * A change holds `before`/`after` itself (user.update) or in one of its parts (approval.approve
 * keeps the applied change's under `result`). */

export type FieldChange = { field: string; before: string; after: string; changed: boolean };

const ABSENT = "—";

type Fields = Record<string, unknown>;

function isRecord(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const holdsChange = (value: unknown): value is Fields => isRecord(value) && ("before" in value || "after" in value);

/** Where the before/after are: the details themselves, or the name of the part holding them. */
function changeHolder(details: unknown): { holder: Fields; part: string | null } | null {
  if (!isRecord(details)) return null;
  if (holdsChange(details)) return { holder: details, part: null };
  const part = Object.keys(details).find((name) => holdsChange(details[name]));
  return part ? { holder: details[part] as Fields, part } : null;
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
  const found = changeHolder(details);
  if (!found) return [];
  const before = isRecord(found.holder.before) ? found.holder.before : {};
  const after = isRecord(found.holder.after) ? found.holder.after : {};
  const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return fields.map((field) => ({
    field,
    before: showValue(before[field]),
    after: showValue(after[field]),
    changed: JSON.stringify(before[field]) !== JSON.stringify(after[field]),
  }));
}

/** The details other than the before/after shown beside each other (the reason, the kind, a
 * request's change...), by name. */
export function otherDetails(details: unknown): [string, string][] {
  if (!isRecord(details)) return details == null ? [] : [["details", showValue(details)]];
  const found = changeHolder(details);
  const shown = found?.part ? { ...details, [found.part]: withoutChange(found.holder) } : details;
  return Object.entries(shown)
    .filter(([name, value]) => name !== "before" && name !== "after" && value !== undefined)
    .map(([name, value]) => [name, showValue(value)]);
}

/** A part of the details without its before/after; nothing when that was all it held. */
function withoutChange(part: Fields): Fields | undefined {
  const rest = Object.fromEntries(Object.entries(part).filter(([name]) => name !== "before" && name !== "after"));
  return Object.keys(rest).length > 0 ? rest : undefined;
}
