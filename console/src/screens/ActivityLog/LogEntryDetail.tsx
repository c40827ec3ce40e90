import { Fragment } from "react";
import { beforeAndAfter, otherDetails } from "./changes";
import { formatLocalTime } from "./timeRange";
import type { LogEntry } from "./useLogPages";

/** One entry in full: who, what, from where, and what changed, before and after side by side. */
export function LogEntryDetail({ entry, headingId }: { entry: LogEntry; headingId: string }) {
  const changes = beforeAndAfter(entry.details);
  const others = otherDetails(entry.details);
  return (
    <section className="log-detail" aria-labelledby={headingId}>
      <h2 id={headingId}>
        {entry.action} at {formatLocalTime(entry.timestamp)}
      </h2>
      <dl className="facts">
        <dt>Outcome</dt>
        <dd>{entry.outcome}</dd>
        <dt>Actor</dt>
        <dd>
          {entry.actorEmail ?? entry.actorId ?? "—"}
          {entry.actorRole && ` (${entry.actorRole})`}
          {entry.actorEmail && entry.actorId && <span className="muted"> id {entry.actorId}</span>}
        </dd>
        <dt>Target</dt>
        <dd>{entry.targetId ? `${entry.targetType ?? ""} ${entry.targetId}`.trim() : "—"}</dd>
        <dt>Time (UTC)</dt>
        <dd>{entry.timestamp}</dd>
        <dt>Source IP</dt>
        <dd>{entry.sourceIp ?? "—"}</dd>
        <dt>User agent</dt>
        <dd>{entry.userAgent ?? "—"}</dd>
        <dt>Request id</dt>
        <dd>{entry.requestId ?? "—"}</dd>
        {others.map(([name, value]) => (
          <Fragment key={name}>
            <dt>{name}</dt>
            <dd className="log-value">{value}</dd>
          </Fragment>
        ))}
      </dl>
      {changes.length > 0 && (
        <div className="table-wrap">
          <table className="log-changes">
            <caption>Before and after</caption>
            <thead>
              <tr>
                <th scope="col">Field</th>
                <th scope="col">Before</th>
                <th scope="col">After</th>
              </tr>
            </thead>
            <tbody>
              {changes.map((change) => (
                <tr key={change.field} className={change.changed ? "changed" : undefined}>
                  <th scope="row">
                    {change.field}
                    {change.changed && <span className="visually-hidden"> (changed)</span>}
                  </th>
                  <td className="log-value">{change.before}</td>
                  <td className="log-value">{change.after}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
