import { useState, type FormEvent } from "react";
import { useNavigate, useParams } from "react-router";
import { api } from "../../api/client";
import { errorSentence } from "../../api/errors";
import { useQuery } from "../../api/useQuery";
import { Confirm } from "../../components/Confirm";
import { Loading } from "../../components/Loading";
import { formatPoints, roleLabel } from "../../components/roles";
import { userErrorsSentence, type UserErrorLike } from "../../components/userErrors";
import { useSession } from "../../session/SessionProvider";
import {
  DeleteUserDocument,
  ForcePasswordResetDocument,
  OpenPointsAccountDocument,
  ResendInvitationDocument,
  UserDetailDocument,
} from "./documents";
import { Ledger } from "./Ledger";
import { userActions, type ActionOffer, type UserAction } from "./userActions";

interface Outcome {
  errors: readonly UserErrorLike[];
  approvalRequest?: { id: string } | null;
}

const DONE: Partial<Record<UserAction, string>> = {
  openAccount: "The account is open.",
  resendInvitation: "A new invitation is on its way.",
  forceReset: "The password is cleared and a reset link is on its way.",
};

/** One user: their accounts and ledger, and what the signed-in user may do to them. */
export function UserDetail() {
  const { id = "" } = useParams();
  const navigate = useNavigate();
  const { me, can } = useSession();
  const { data, error, loading, reload } = useQuery(UserDetailDocument, { id });
  const [selected, setSelected] = useState<string | null>(null);
  const [asking, setAsking] = useState<UserAction | null>(null);
  const [program, setProgram] = useState("");
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  if (loading && !data) {
    return (
      <Loading />
    );
  }
  if (error) {
    return (
      <p role="alert" className="alert">
        {error}
      </p>
    );
  }
  const user = data?.user;
  if (!user) {
    return (
      <>
        <h1>User not found</h1>
        <p>This user does not exist, was deleted, or is not yours to see.</p>
      </>
    );
  }

  const userId = user.id;
  const offers = userActions(can, user, me?.id);
  const account = user.pointsAccounts.find((each) => each.id === selected) ?? user.pointsAccounts[0];

  /** Run a mutation and say how it went: done, sent for approval, or why not. */
  async function perform(action: UserAction, run: () => Promise<Outcome>, after?: (outcome: Outcome) => void) {
    setBusy(true);
    setNotice(null);
    setFailure(null);
    try {
      const outcome = await run();
      if (outcome.errors.length > 0) {
        setFailure(userErrorsSentence(outcome.errors));
        return;
      }
      setAsking(null);
      setNotice(outcome.approvalRequest ? "Sent for approval" : (DONE[action] ?? null));
      after?.(outcome);
    } catch (caught) {
      setFailure(errorSentence(caught));
    } finally {
      setBusy(false);
    }
  }

  function start(offer: ActionOffer) {
    setNotice(null);
    setFailure(null);
    if (offer.action === "edit") navigate(`/users/${userId}/edit`);
    else if (offer.action === "adjust") {
      // The adjustment starts on the account whose ledger is shown.
      navigate(`/users/${userId}/adjust${account ? `?account=${encodeURIComponent(account.id)}` : ""}`);
    }
    else if (offer.action === "resendInvitation") {
      void perform("resendInvitation", async () => {
        return (await api.request(ResendInvitationDocument, { userId })).resendInvitation;
      });
    } else setAsking(offer.action);
  }

  const deleteOffer = offers.find((offer) => offer.action === "delete");
  const openOffer = offers.find((offer) => offer.action === "openAccount");

  function deleteUser() {
    void perform(
      "delete",
      async () => (await api.request(DeleteUserDocument, { id: userId })).deleteUser,
      (outcome) => {
        if (!outcome.approvalRequest) navigate("/", { replace: true });
      },
    );
  }

  async function openAccount(event: FormEvent) {
    event.preventDefault();
    await perform(
      "openAccount",
      async () => (await api.request(OpenPointsAccountDocument, { userId, program })).openPointsAccount,
      () => {
        setProgram("");
        reload();
      },
    );
  }

  return (
    <>
      <h1>
        {user.firstName} {user.lastName}
      </h1>
      <dl className="facts">
        <dt>Email</dt>
        <dd>{user.email}</dd>
        <dt>Role</dt>
        <dd>{roleLabel(user.role)}</dd>
        <dt>Enrolled</dt>
        <dd>{new Date(user.enrolledAt).toLocaleDateString("en-GB")}</dd>
      </dl>
      {user.passwordSet === false && <p className="badge">Invitation pending</p>}

      {offers.length > 0 && (
        <div className="actions">
          {offers.map((offer) => (
            <button
              key={offer.action}
              type="button"
              className={offer.action === "delete" ? "danger" : "secondary"}
              disabled={busy}
              onClick={() => start(offer)}
            >
              {offer.label}
            </button>
          ))}
        </div>
      )}
      <div aria-live="polite">
        {notice && <p className="notice">{notice}</p>}
      </div>
      {failure && (
        <p role="alert" className="alert">
          {failure}
        </p>
      )}

      {asking === "delete" && deleteOffer && (
        <Confirm
          question={
            deleteOffer.request
              ? `Ask for ${user.firstName} ${user.lastName} to be deleted? A checker decides.`
              : `Delete ${user.firstName} ${user.lastName}? Their history stays, but they can no longer sign in or earn points.`
          }
          confirmLabel={deleteOffer.request ? "Yes, request deletion" : "Yes, delete"}
          busy={busy}
          onConfirm={deleteUser}
          onCancel={() => setAsking(null)}
        />
      )}
      {asking === "forceReset" && (
        <Confirm
          question={`Clear ${user.firstName} ${user.lastName}'s password and sign them out everywhere? They get an email with a link to choose a new one.`}
          confirmLabel="Yes, force a reset"
          busy={busy}
          onConfirm={() =>
            void perform("forceReset", async () => {
              return (await api.request(ForcePasswordResetDocument, { userId })).forcePasswordReset;
            })
          }
          onCancel={() => setAsking(null)}
        />
      )}
      {asking === "openAccount" && openOffer && (
        <form className="inline-form" onSubmit={openAccount}>
          <div className="field">
            <label htmlFor="open-account-program">Program</label>
            <input
              id="open-account-program"
              required
              value={program}
              onChange={(event) => setProgram(event.target.value)}
            />
          </div>
          <div className="actions">
            <button type="submit" disabled={busy}>
              {openOffer.request ? "Send request" : "Create account"}
            </button>
            <button type="button" className="secondary" onClick={() => setAsking(null)}>
              Cancel
            </button>
          </div>
        </form>
      )}

      <h2>Points accounts</h2>
      {user.pointsAccounts.length === 0 ? (
        <p>No points accounts.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Program</th>
                <th scope="col" className="number">
                  Balance
                </th>
                <th scope="col">
                  <span className="visually-hidden">Ledger</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {user.pointsAccounts.map((each) => (
                <tr key={each.id}>
                  <td>{each.program}</td>
                  <td className="number">{formatPoints(each.balance)}</td>
                  <td>
                    <button
                      type="button"
                      className="secondary"
                      aria-pressed={each.id === account?.id}
                      onClick={() => setSelected(each.id)}
                    >
                      Show ledger<span className="visually-hidden"> of {each.program}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {account && <Ledger accountId={account.id} program={account.program} />}
    </>
  );
}
