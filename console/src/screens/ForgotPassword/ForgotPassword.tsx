import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { api } from "../../api/client";
import { asSentence } from "../../api/errors";
import { useSubmission } from "../../api/useSubmission";
import { EmailField, SignedOutPage } from "../SignIn/SignedOutPage";
import { RequestPasswordResetDocument } from "./documents";

export const SENT_SENTENCE = "If that email belongs to a staff account, a link is on its way.";

/** Asks for a reset link. The answer is the same whatever the email, as the server's is. */
export function ForgotPassword() {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const { busy, error, setError, submit } = useSubmission();

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    void submit(async () => {
      const { requestPasswordReset } = await api.request(RequestPasswordResetDocument, { email: email.trim() });
      const refusal = requestPasswordReset.errors[0];
      if (refusal) setError(asSentence(refusal.message));
      else setSent(true);
    });
  }

  return (
    <SignedOutPage heading="Reset your password" error={error}>
      {sent ? (
        <p role="status" className="notice">
          {SENT_SENTENCE}
        </p>
      ) : (
        <form onSubmit={onSubmit}>
          <EmailField value={email} onChange={setEmail} />
          <button type="submit" disabled={busy}>
            Send reset link
          </button>
        </form>
      )}
      <p>
        <Link to="/sign-in">Back to sign in</Link>
      </p>
    </SignedOutPage>
  );
}
