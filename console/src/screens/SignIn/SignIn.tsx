import { useState, type FormEvent } from "react";
import { Link, Navigate, useLocation, useNavigate } from "react-router";
import { api } from "../../api/client";
import { asSentence, errorSentence } from "../../api/errors";
import type { SignInState } from "../../session/RequireSession";
import { useSession } from "../../session/SessionProvider";
import { SignInDocument } from "./documents";
import "./SignIn.css";

/** The sentence for a refused sign-in; a lockout is said in the server's words. */
function signInErrorSentence(error: { code: string; message: string }): string {
  if (error.code === "INVALID_CREDENTIALS") return "That email and password do not match a staff account.";
  return asSentence(error.message);
}

export function SignIn() {
  const session = useSession();
  const navigate = useNavigate();
  const from = (useLocation().state as SignInState | null)?.from ?? "/";
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (session.status === "signedIn") return <Navigate to={from} replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { signIn } = await api.request(SignInDocument, { email, password });
      const refusal = signIn.errors[0];
      if (refusal || !signIn.accessToken) {
        setError(refusal ? signInErrorSentence(refusal) : errorSentence(null));
        return;
      }
      await session.signedIn(signIn.accessToken);
      navigate(from, { replace: true });
    } catch (caught) {
      setError(errorSentence(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="content" className="sign-in">
      <h1>Sign in</h1>
      {error && (
        <p role="alert" className="alert">
          {error}
        </p>
      )}
      <form onSubmit={submit}>
        <div className="field">
          <label htmlFor="sign-in-email">Email</label>
          <input
            id="sign-in-email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(event) => setEmail(event.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="sign-in-password">Password</label>
          <input
            id="sign-in-password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(event) => setPassword(event.target.value)}
          />
        </div>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
      <p>
        <Link to="/forgot-password">Forgot your password?</Link>
      </p>
    </main>
  );
}
