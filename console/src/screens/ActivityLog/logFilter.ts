/** The activity log's filter form, turned into the API's LogFilter. */
import type { LogFilter, LogOutcome } from "../../gql/graphql";
import { localInputToUtc } from "./timeRange";

export type LogFilterForm = {
  search: string;
  action: string;
  outcome: LogOutcome | "";
  actor: string;
  target: string;
  from: string;
  to: string;
};

export const emptyLogFilterForm: LogFilterForm = {
  search: "",
  action: "",
  outcome: "",
  actor: "",
  target: "",
  from: "",
  to: "",
};

export type BuiltFilter = { filter: LogFilter; problem: null } | { filter: null; problem: string };

const blankToNull = (value: string): string | null => value.trim() || null;

/** The filter to send, with `actorId` as typed (an email is resolved by the caller); or why not.
 * From and To are inclusive and in the reader's time zone; To covers its whole minute. */
export function buildLogFilter(form: LogFilterForm): BuiltFilter {
  const since = form.from ? localInputToUtc(form.from) : null;
  const until = form.to ? localInputToUtc(form.to, { endOfMinute: true }) : null;
  if (form.from && since === null) return { filter: null, problem: "From is not a date and time." };
  if (form.to && until === null) return { filter: null, problem: "To is not a date and time." };
  if (since !== null && until !== null && since > until) {
    return { filter: null, problem: "From must be before To." };
  }
  return {
    filter: {
      search: blankToNull(form.search),
      action: blankToNull(form.action),
      outcome: form.outcome || null,
      actorId: blankToNull(form.actor),
      targetId: blankToNull(form.target),
      since,
      until,
    },
    problem: null,
  };
}

/** Whether the Actor filter holds an email, to look up, rather than an id. */
export const isEmail = (actor: string | null | undefined): actor is string => !!actor && actor.includes("@");
