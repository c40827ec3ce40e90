import { Fragment, useId, useState } from "react";
import { useDebouncedValue } from "../../api/useDebouncedValue";
import type { LogOutcome } from "../../gql/graphql";
import { LogEntryDetail } from "./LogEntryDetail";
import { buildLogFilter, emptyLogFilterForm, type LogFilterForm } from "./logFilter";
import { formatLocalTime } from "./timeRange";
import { useLogPages } from "./useLogPages";
import "./ActivityLog.css";

const TYPING_DELAY_MS = 300;
const OUTCOMES: readonly LogOutcome[] = ["SUCCESS", "DENIED", "FAILED"];
// Suggestions for the Action filter, which matches a whole action name (the server's, as of issue 11).
const KNOWN_ACTIONS = [
  "approval.approve",
  "approval.cancel",
  "approval.reject",
  "approval.request",
  "auth.client_token",
  "auth.client_token_limited",
  "auth.identity_link",
  "auth.invitation_accepted",
  "auth.invitation_sent",
  "auth.password_changed",
  "auth.password_reset",
  "auth.password_reset_forced",
  "auth.password_reset_requested",
  "auth.refresh",
  "auth.sign_in",
  "auth.sign_in_failed",
  "auth.sign_out",
  "auth.signed_out_everywhere",
  "log.set_retention",
  "points.adjust",
  "points.open_account",
  "user.delete",
  "user.enroll",
  "user.update",
];

type TextFilter = Exclude<keyof LogFilterForm, "outcome">;

/** The activity log: who did what, allowed or not, newest first; filters, more on demand, and each
 * entry's detail with the fields before and after. */
export function ActivityLog() {
  const [form, setForm] = useState<LogFilterForm>(emptyLogFilterForm);
  const [openId, setOpenId] = useState<string | null>(null);
  const settled = useDebouncedValue(form, TYPING_DELAY_MS);
  const built = buildLogFilter(settled);
  const pages = useLogPages(built.filter);
  const ids = useId();

  const text = (name: TextFilter, label: string, props: { type?: string; placeholder?: string; list?: string } = {}) => (
    <div className="field">
      <label htmlFor={`${ids}-${name}`}>{label}</label>
      <input
        id={`${ids}-${name}`}
        type={props.type ?? "text"}
        placeholder={props.placeholder}
        list={props.list}
        value={form[name]}
        onChange={(event) => setForm((shown) => ({ ...shown, [name]: event.target.value }))}
      />
    </div>
  );

  return (
    <>
      <h1>Activity log</h1>
      <form className="filters log-filters" role="search" aria-label="Filter the activity log" onSubmit={(event) => event.preventDefault()}>
        {text("search", "Search", { type: "search", placeholder: "Action, actor's email or target id" })}
        {text("action", "Action", { placeholder: "e.g. user.update", list: `${ids}-actions` })}
        <datalist id={`${ids}-actions`}>
          {KNOWN_ACTIONS.map((action) => (
            <option key={action} value={action} />
          ))}
        </datalist>
        <div className="field">
          <label htmlFor={`${ids}-outcome`}>Outcome</label>
          <select
            id={`${ids}-outcome`}
            value={form.outcome}
            onChange={(event) => setForm((shown) => ({ ...shown, outcome: event.target.value as LogOutcome | "" }))}
          >
            <option value="">Any outcome</option>
            {OUTCOMES.map((outcome) => (
              <option key={outcome} value={outcome}>
                {outcome}
              </option>
            ))}
          </select>
        </div>
        {text("actor", "Actor", { placeholder: "Email or id" })}
        {text("target", "Target", { placeholder: "Id" })}
        {text("from", "From", { type: "datetime-local" })}
        {text("to", "To", { type: "datetime-local" })}
      </form>
      {(built.problem ?? pages.error) && (
        <p role="alert" className="alert">
          {built.problem ?? pages.error}
        </p>
      )}
      <p aria-live="polite" className="muted">
        {pages.loading ? "Loading…" : `Showing ${pages.items.length} ${pages.items.length === 1 ? "entry" : "entries"}`}
      </p>
      <div className="table-wrap">
        <table aria-busy={pages.loading} className="log-table">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Action</th>
              <th scope="col">Outcome</th>
              <th scope="col">Actor</th>
              <th scope="col">Target</th>
            </tr>
          </thead>
          <tbody>
            {pages.items.map((entry) => {
              const open = openId === entry.id;
              const detailId = `${ids}-detail-${entry.id}`;
              return (
                <Fragment key={entry.id}>
                  <tr className={open ? "open" : undefined}>
                    <td>
                      <button
                        type="button"
                        className="link"
                        aria-expanded={open}
                        aria-controls={open ? detailId : undefined}
                        onClick={() => setOpenId(open ? null : entry.id)}
                      >
                        {formatLocalTime(entry.timestamp)}
                      </button>
                    </td>
                    <td data-label="Action">{entry.action}</td>
                    <td data-label="Outcome">
                      <span className={`outcome outcome-${entry.outcome.toLowerCase()}`}>{entry.outcome}</span>
                    </td>
                    <td data-label="Actor">{entry.actorEmail ?? entry.actorId ?? "—"}</td>
                    <td data-label="Target">{entry.targetId ?? "—"}</td>
                  </tr>
                  {open && (
                    <tr id={detailId}>
                      <td colSpan={5}>
                        <LogEntryDetail entry={entry} headingId={`${detailId}-heading`} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
          </tbody>
        </table>
      </div>
      {pages.hasNextPage && (
        <div className="actions">
          <button type="button" className="secondary" disabled={pages.loading} onClick={pages.loadMore}>
            Load more
          </button>
        </div>
      )}
    </>
  );
}
