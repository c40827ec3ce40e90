import { useEffect, useId, useState } from "react";
import { Link, useParams } from "react-router";
import { api } from "../../api/client";
import { errorSentence } from "../../api/errors";
import { Loading } from "../../components/Loading";
import { formatPoints } from "../../components/roles";
import { userErrorsSentence } from "../../components/userErrors";
import type { PointsAccountFieldsFragment, UserFieldsFragment } from "../../gql/graphql";
import { formatLocalTime } from "../ActivityLog/timeRange";
import { balanceIfApproved, changeRows, KIND_LABELS, STATUS_LABELS } from "./change";
import {
  ApprovalAccountDocument,
  ApprovalPeopleDocument,
  ApproveRequestDocument,
  CancelRequestDocument,
  RejectRequestDocument,
} from "./documents";
import { findApprovalRequest, type ApprovalRequest } from "./findRequest";
import "./Approvals.css";

type Person = UserFieldsFragment;
type Account = PointsAccountFieldsFragment & { user: Person };
type Context = { target: Person | null; account: Account | null; maker: Person | null };
type Decision = "approve" | "reject" | "cancel";

const DONE: Record<Decision, string> = {
  approve: "Approved: the change is applied.",
  reject: "Rejected.",
  cancel: "Request cancelled.",
};

const fullName = (person: Person) => `${person.firstName} ${person.lastName}`;

/** Names for the ids a request holds: its target (a user or a points account) and its maker. What
 * the caller may not read stays an id. */
async function loadContext(request: ApprovalRequest): Promise<Context> {
  try {
    if (request.kind === "ADJUST_POINTS") {
      const data = await api.request(ApprovalAccountDocument, { accountId: request.targetId, makerId: request.makerId });
      return { target: data.pointsAccount?.user ?? null, account: data.pointsAccount ?? null, maker: data.maker ?? null };
    }
    const data = await api.request(ApprovalPeopleDocument, { userId: request.targetId, makerId: request.makerId });
    return { target: data.user ?? null, account: null, maker: data.maker ?? null };
  } catch {
    return { target: null, account: null, maker: null };
  }
}

/** One approval request (the emails link here): the proposed change field by field, and the
 * decision the caller may take on it. */
export function ApprovalDetail() {
  const { id = "" } = useParams();
  const ids = useId();
  const [request, setRequest] = useState<ApprovalRequest | null | undefined>(undefined);
  const [context, setContext] = useState<Context>({ target: null, account: null, maker: null });
  const [comment, setComment] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let current = true;
    findApprovalRequest(id)
      .then(async (found) => {
        // Shown once the names are known too, so ids do not flash before them.
        const loaded = found ? await loadContext(found) : null;
        if (!current) return;
        if (loaded) setContext(loaded);
        setRequest(found);
      })
      .catch((caught: unknown) => {
        if (current) setError(errorSentence(caught));
      });
    return () => {
      current = false;
    };
  }, [id]);

  async function decide(decision: Decision) {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const note = comment.trim() || null;
      const payload =
        decision === "approve"
          ? (await api.request(ApproveRequestDocument, { id, comment: note })).approveRequest
          : decision === "reject"
            ? (await api.request(RejectRequestDocument, { id, comment: note })).rejectRequest
            : (await api.request(CancelRequestDocument, { id })).cancelRequest;
      if (payload.errors.length > 0) {
        setError(userErrorsSentence(payload.errors));
      } else {
        if (payload.approvalRequest) setRequest(payload.approvalRequest);
        setDone(DONE[decision]);
      }
    } catch (caught) {
      setError(errorSentence(caught));
    } finally {
      setBusy(false);
    }
  }

  const back = (
    <p>
      <Link to="/approvals">All approval requests</Link>
    </p>
  );

  if (request === undefined) {
    return (
      <>
        <h1>Approvals</h1>
        {back}
        {error ? (
          <p role="alert" className="alert">
            {error}
          </p>
        ) : (
          <Loading />
        )}
      </>
    );
  }
  if (request === null) {
    return (
      <>
        <h1>Approvals</h1>
        {back}
        <p role="alert" className="alert">
          This approval request was not found: it may not be yours to see.
        </p>
      </>
    );
  }

  const { target, account, maker } = context;
  // A change of a user is shown beside the user as they are now.
  const rows = changeRows(request.change, request.kind === "UPDATE_USER" ? target : null);
  const showCurrent = rows.some((row) => row.current !== null);
  const projected = request.kind === "ADJUST_POINTS" ? balanceIfApproved(request.change, account?.balance) : null;

  return (
    <>
      <h1>Approvals</h1>
      {back}
      <h2 id={`${ids}-title`}>
        {KIND_LABELS[request.kind]}
        {target && (request.kind !== "ENROLL_USER" ? `: ${fullName(target)}` : "")}
      </h2>
      <dl className="facts">
        <dt>Status</dt>
        <dd>{STATUS_LABELS[request.status]}</dd>
        <dt>Proposed by</dt>
        <dd>{maker ? `${fullName(maker)} (${maker.email})` : request.makerId}</dd>
        <dt>Proposed at</dt>
        <dd>{formatLocalTime(request.createdAt)}</dd>
        {target && request.kind !== "ENROLL_USER" && (
          <>
            <dt>{request.kind === "ADJUST_POINTS" ? "Account holder" : "User"}</dt>
            <dd>
              <Link to={`/users/${target.id}`}>{fullName(target)}</Link> ({target.email})
            </dd>
          </>
        )}
        {account && (
          <>
            <dt>Account</dt>
            <dd>
              {account.program}, balance {formatPoints(account.balance)}
            </dd>
          </>
        )}
        {request.decidedAt && (
          <>
            <dt>Decided at</dt>
            <dd>{formatLocalTime(request.decidedAt)}</dd>
          </>
        )}
        {request.comment && (
          <>
            <dt>Comment</dt>
            <dd>{request.comment}</dd>
          </>
        )}
      </dl>

      {request.kind === "DELETE_USER" ? (
        <p>{target ? `Deletes ${fullName(target)} (${target.email}).` : `Deletes user ${request.targetId}.`}</p>
      ) : (
        <div className="table-wrap">
          <table className="approval-change">
            <caption className="visually-hidden">Proposed change</caption>
            <thead>
              <tr>
                <th scope="col">Field</th>
                {showCurrent && <th scope="col">Now</th>}
                <th scope="col">Proposed</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.field}>
                  <th scope="row">{row.label}</th>
                  {showCurrent && <td>{row.current ?? "—"}</td>}
                  <td>{row.proposed}</td>
                </tr>
              ))}
              {projected !== null && (
                <tr>
                  <th scope="row">Balance if approved now</th>
                  {showCurrent && <td />}
                  <td>{formatPoints(projected)}</td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}

      {error && (
        <p role="alert" className="alert">
          {error}
        </p>
      )}
      {done && (
        <p role="status" className="notice">
          {done}
        </p>
      )}
      {(request.viewerCanDecide || request.viewerCanCancel) && (
        <section className="decision" aria-labelledby={`${ids}-decision`}>
          <h2 id={`${ids}-decision`}>Decision</h2>
          {request.viewerCanDecide && (
            <div className="field">
              <label htmlFor={`${ids}-comment`}>Comment</label>
              <textarea
                id={`${ids}-comment`}
                maxLength={1000}
                value={comment}
                onChange={(event) => setComment(event.target.value)}
              />
            </div>
          )}
          <div className="actions">
            {request.viewerCanDecide && (
              <>
                <button type="button" disabled={busy} onClick={() => void decide("approve")}>
                  Approve
                </button>
                <button type="button" className="danger" disabled={busy} onClick={() => void decide("reject")}>
                  Reject
                </button>
              </>
            )}
            {request.viewerCanCancel && (
              <button type="button" className="secondary" disabled={busy} onClick={() => void decide("cancel")}>
                Cancel request
              </button>
            )}
          </div>
        </section>
      )}
    </>
  );
}
