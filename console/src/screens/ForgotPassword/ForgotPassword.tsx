import { useId, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { api } from "../../api/client";
import { asSentence, errorSentence } from "../../api/errors";
import { RequestPasswordResetDocument } from "./documents";
import "../SignIn/SignIn.css";

export const SENT_SENTENCE = "If that email belongs to a staff account, a link is on its way.";

/** Asks for a reset link. The answer is the same whatever the email, as the server's is. */
export function ForgotPassword() {
  const id = useId();
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { requestPasswordReset } = await api.request(RequestPasswordResetDocument, { email: email.trim() });
      const refusal = requestPasswordReset.errors[0];
      if (refusal) setError(asSentence(refusal.message));
      else setSent(true);
    } catch (caught) {
      setError(errorSentence(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="content" className="sign-in">
      <h1>Reset your password</h1>
      {error && (
        <p role="alert" className="alert">
          {error}
        </p>
      )}
      {sent ? (
        <p role="status" className="notice">
          {SENT_SENTENCE}
        </p>
      ) : (
        <form onSubmit={submit}>
          <div className="field">
            <label htmlFor={id}>Email</label>
            <input
              id={id}
              type="email"
              autoComplete="username"
              required
              value={email}
              onChange={(event) => setEmail(event.target.value)}
            />
          </div>
          <button type="submit" disabled={busy}>
            Send reset link
          </button>
        </form>
      )}
      <p>
        <Link to="/sign-in">Back to sign in</Link>
      </p>
    </main>
  );
}
