/** The "From"/"To" filters: a `datetime-local` value is the user's wall-clock time, while the API
 * refuses naive times, so it is sent as the UTC instant it names. */

const MINUTE_MS = 60_000;

/** The UTC ISO 8601 instant (with its `Z` offset) of a `datetime-local` value read in the browser's
 * time zone; null when empty or not a time. With `endOfMinute`, the last millisecond of that minute,
 * so an inclusive "To 10:15" keeps what happened during 10:15. */
export function localInputToUtc(value: string, { endOfMinute = false } = {}): string | null {
  // A date-time form without an offset is local time (ECMAScript's Date parsing rule).
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(value)) return null;
  const time = new Date(value).getTime();
  if (Number.isNaN(time)) return null;
  const wholeMinute = value.length === 16;
  return new Date(endOfMinute && wholeMinute ? time + MINUTE_MS - 1 : time).toISOString();
}

/** A log entry's UTC timestamp as the reader's local date and time. */
export function formatLocalTime(iso: string): string {
  const time = new Date(iso);
  return Number.isNaN(time.getTime()) ? iso : time.toLocaleString();
}
