import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { api } from "../../api/client";
import { ApiError, errorSentence } from "../../api/errors";
import { useQuery } from "../../api/useQuery";
import { Loading } from "../../components/Loading";
import { formatPoints } from "../../components/roles";
import { mapFieldErrors, noFieldErrors, type FieldErrors } from "../../components/userForm/fieldErrors";
import type { AdjustPointsInput, PointsAction } from "../../gql/graphql";
import { accessOn } from "../../session/permissions";
import { useSession } from "../../session/SessionProvider";
import { AttemptKeys } from "./attemptKey";
import { AdjustableUserDocument, AdjustPointsDocument } from "./documents";
import { newBalance, parseAmount } from "./preview";
import { UserUnavailable } from "../UserDetail/UserUnavailable";

const KINDS: readonly { value: PointsAction; label: string }[] = [
  { value: "ADD", label: "Add" },
  { value: "DEDUCT", label: "Deduct" },
  { value: "OVERRIDE", label: "Set the balance to" },
];
const FIELDS = ["accountId", "action", "amount", "reason"] as const;
type Field = (typeof FIELDS)[number];

/** Add, deduct or set a user's points: a preview, a review, then one confirmed request. */
export function AdjustPoints() {
  const { id = "" } = useParams();
  const [searchParams] = useSearchParams();
  const { can } = useSession();
  const { data, error, loading, reload } = useQuery(AdjustableUserDocument, { id });
  const [accountId, setAccountId] = useState(searchParams.get("account") ?? "");
  const [action, setAction] = useState<PointsAction>("ADD");
  const [amountText, setAmountText] = useState("");
  const [reason, setReason] = useState("");
  const [step, setStep] = useState<"edit" | "review">("edit");
  const [errors, setErrors] = useState<FieldErrors<Field>>(noFieldErrors);
  const [sending, setSending] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const keys = useRef(new AttemptKeys());
  const reviewSection = useRef<HTMLElement>(null);

  // The Review button is gone once pressed: a keyboard user continues at what to check.
  useEffect(() => {
    if (step === "review") reviewSection.current?.focus();
  }, [step]);

  const user = data?.user;
  if (loading && !data) {
    return (
      <Loading />
    );
  }
  if (error || !user) return <UserUnavailable heading="Adjust points" error={error} />;

  const account = user.pointsAccounts.find((each) => each.id === accountId) ?? user.pointsAccounts[0];
  const amount = parseAmount(amountText);
  const preview = account && amount !== null ? newBalance(account.balance, action, amount) : null;
  const request = accessOn(can("ADJUST_POINTS"), user.role) === "REQUEST";

  function review(event: FormEvent) {
    event.preventDefault();
    setDone(null);
    const problems: Partial<Record<Field, string>> = {};
    if (amount === null || (amount === 0 && action !== "OVERRIDE")) {
      problems.amount = "Enter a whole number of points above zero.";
    }
    if (!reason.trim()) problems.reason = "Say why, for the ledger and the activity log.";
    setErrors({ byField: problems, general: [] });
    if (Object.keys(problems).length === 0) setStep("review");
  }

  async function confirm() {
    if (!account || amount === null || sending) return;
    const input: AdjustPointsInput = { accountId: account.id, action, amount, reason: reason.trim() };
    const idempotencyKey = keys.current.keyFor(JSON.stringify(input));
    setSending(true);
    try {
      const { adjustPoints } = await api.request(AdjustPointsDocument, { input: { ...input, idempotencyKey } });
      keys.current.answered();
      if (adjustPoints.errors.length > 0) {
        setErrors(mapFieldErrors(adjustPoints.errors, FIELDS));
        setStep("edit");
        return;
      }
      setDone(
        adjustPoints.approvalRequest
          ? "Sent for approval"
          : `Done. New balance: ${formatPoints(adjustPoints.account?.balance ?? preview ?? 0)}`,
      );
      setStep("edit");
      setAmountText("");
      setReason("");
      setErrors(noFieldErrors());
      reload();
    } catch (caught) {
      // A network failure leaves the outcome unknown: the same attempt (and key) may be sent again.
      if (!(caught instanceof ApiError) || caught.code !== "NETWORK_ERROR") keys.current.answered();
      setErrors({ byField: {}, general: [errorSentence(caught)] });
    } finally {
      setSending(false);
    }
  }

  const errorFor = (field: Field) =>
    errors.byField[field] && (
      <p id={`adjust-${field}-error`} className="field-error">
        {errors.byField[field]}
      </p>
    );
  const described = (field: Field) => ({
    "aria-invalid": errors.byField[field] ? true : undefined,
    "aria-describedby": errors.byField[field] ? `adjust-${field}-error` : undefined,
  });
  const kindLabel = KINDS.find((kind) => kind.value === action)?.label ?? action;

  return (
    <>
      <h1>Adjust points</h1>
      <p>
        For{" "}
        <Link to={`/users/${user.id}`}>
          {user.firstName} {user.lastName}
        </Link>
      </p>
      <div aria-live="polite">{done && <p className="notice">{done}</p>}</div>
      {errors.general.length > 0 && (
        <div role="alert" className="alert">
          {errors.general.map((sentence) => (
            <p key={sentence}>{sentence}</p>
          ))}
        </div>
      )}
      {!account && <p>This user has no points account yet.</p>}
      {account && step === "edit" && (
        <form onSubmit={review} noValidate>
          <div className="field">
            <label htmlFor="adjust-account">Account</label>
            <select
              id="adjust-account"
              {...described("accountId")}
              value={account.id}
              onChange={(event) => setAccountId(event.target.value)}
            >
              {user.pointsAccounts.map((each) => (
                <option key={each.id} value={each.id}>
                  {each.program} ({formatPoints(each.balance)} points)
                </option>
              ))}
            </select>
            {errorFor("accountId")}
          </div>
          <fieldset {...described("action")}>
            <legend>Kind</legend>
            {KINDS.map((kind) => (
              <label key={kind.value} className="radio">
                <input
                  type="radio"
                  name="kind"
                  value={kind.value}
                  checked={action === kind.value}
                  onChange={() => setAction(kind.value)}
                />
                {kind.value} <span className="muted">({kind.label.toLowerCase()})</span>
              </label>
            ))}
            {errorFor("action")}
          </fieldset>
          <div className="field">
            <label htmlFor="adjust-amount">Amount</label>
            <input
              id="adjust-amount"
              {...described("amount")}
              inputMode="numeric"
              autoComplete="off"
              value={amountText}
              onChange={(event) => setAmountText(event.target.value)}
            />
            {errorFor("amount")}
          </div>
          <div className="field">
            <label htmlFor="adjust-reason">Reason</label>
            <input
              id="adjust-reason"
              {...described("reason")}
              autoComplete="off"
              value={reason}
              onChange={(event) => setReason(event.target.value)}
            />
            {errorFor("reason")}
          </div>
          <p aria-live="polite" className="preview">
            Balance now: {formatPoints(account.balance)}.{" "}
            {preview !== null && <strong>New balance: {formatPoints(preview)}</strong>}
          </p>
          {preview !== null && preview < 0 && (
            <p className="field-error">That is more than the account holds.</p>
          )}
          <button type="submit">Review</button>
        </form>
      )}
      {account && step === "review" && preview !== null && amount !== null && (
        <section ref={reviewSection} tabIndex={-1} aria-labelledby="review-heading" className="review">
          <h2 id="review-heading">Check and confirm</h2>
          <dl className="facts">
            <dt>Account</dt>
            <dd>{account.program}</dd>
            <dt>Kind</dt>
            <dd>
              {action} ({kindLabel.toLowerCase()} {formatPoints(amount)})
            </dd>
            <dt>Reason</dt>
            <dd>{reason.trim()}</dd>
            <dt>Balance</dt>
            <dd>
              {formatPoints(account.balance)} → New balance: {formatPoints(preview)}
            </dd>
          </dl>
          {request && <p>This sends a request; a checker applies it once they approve.</p>}
          <div className="actions">
            <button type="button" disabled={sending} onClick={() => void confirm()}>
              Confirm
            </button>
            <button type="button" className="secondary" disabled={sending} onClick={() => setStep("edit")}>
              Back
            </button>
          </div>
        </section>
      )}
    </>
  );
}
