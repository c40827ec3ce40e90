import type { KeyboardEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { usePages } from "../../api/usePages";
import { Loading } from "../../components/Loading";
import { useSession } from "../../session/SessionProvider";
import { formatLocalTime } from "../ActivityLog/timeRange";
import { changeSummary, KIND_LABELS, STATUS_LABELS } from "./change";
import { approvalRequestsPage, type ApprovalRequest } from "./findRequest";
import "./Approvals.css";

const PAGE_SIZE = 20;
type View = "decide" | "mine";

/** The approvals inbox: what waits for my decision, and what I proposed. */
export function Approvals() {
  const { me, can } = useSession();
  const [params, setParams] = useSearchParams();
  const asked = params.get("view");
  const view: View = asked === "mine" || asked === "decide" ? asked : can("DECIDE_REQUESTS") ? "decide" : "mine";
  // The list holds what I made and what I may decide; each tab keeps its half.
  const pages = usePages(me && `${view}:${me.id}`, async (after) => {
    const page = await approvalRequestsPage(view === "decide" ? "PENDING" : null, after, PAGE_SIZE);
    const shown = (request: ApprovalRequest) => (view === "decide" ? request.viewerCanDecide : request.makerId === me?.id);
    return { ...page, items: page.items.filter(shown) };
  });

  // Two tabs: either arrow key moves to the other one (the ARIA tabs pattern).
  const switchTabByArrow = (event: KeyboardEvent) => {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    const other: View = view === "decide" ? "mine" : "decide";
    setParams({ view: other });
    document.getElementById(`approvals-tab-${other}`)?.focus();
  };

  const tab = (value: View, label: string) => (
    <button
      type="button"
      role="tab"
      id={`approvals-tab-${value}`}
      aria-selected={view === value}
      aria-controls="approvals-panel"
      tabIndex={view === value ? 0 : -1}
      className={view === value ? "tab selected" : "tab"}
      onClick={() => setParams({ view: value })}
    >
      {label}
    </button>
  );

  return (
    <>
      <h1>Approvals</h1>
      <div role="tablist" aria-label="Approval requests" className="tabs" onKeyDown={switchTabByArrow}>
        {tab("decide", "To decide")}
        {tab("mine", "Mine")}
      </div>
      <div role="tabpanel" id="approvals-panel" aria-labelledby={`approvals-tab-${view}`}>
        {pages.error && (
          <p role="alert" className="alert">
            {pages.error}
          </p>
        )}
        {!pages.loading && !pages.error && pages.items.length === 0 && (
          <p className="muted">{view === "decide" ? "Nothing is waiting for your decision." : "You have proposed nothing yet."}</p>
        )}
        {pages.items.length > 0 && (
          <div className="table-wrap">
            <table aria-busy={pages.loading}>
              <thead>
                <tr>
                  <th scope="col">Request</th>
                  <th scope="col">Proposed</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {pages.items.map((request) => (
                  <tr key={request.id}>
                    <td>
                      <Link to={`/approvals/${request.id}`}>{KIND_LABELS[request.kind]}</Link>
                      <span className="muted"> · {changeSummary(request.kind, request.change) || request.targetId}</span>
                    </td>
                    <td>{formatLocalTime(request.createdAt)}</td>
                    <td>{STATUS_LABELS[request.status]}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {pages.loading && (
          <Loading />
        )}
        {pages.hasNextPage && (
          <div className="actions">
            <button type="button" className="secondary" disabled={pages.loading} onClick={pages.loadMore}>
              Load more
            </button>
          </div>
        )}
      </div>
    </>
  );
}
