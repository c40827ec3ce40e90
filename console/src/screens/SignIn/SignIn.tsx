import { useState, type FormEvent } from "react";
import { Link, Navigate, useLocation, useNavigate } from "react-router";
import { api } from "../../api/client";
import { asSentence, errorSentence } from "../../api/errors";
import { useSubmission } from "../../api/useSubmission";
import type { SignInState } from "../../session/RequireSession";
import { useSession } from "../../session/SessionProvider";
import { PasswordField } from "../ResetPassword/PasswordField";
import { SignInDocument } from "./documents";
import { EmailField, SignedOutPage } from "./SignedOutPage";

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
  const { busy, error, setError, submit } = useSubmission();

  if (session.status === "signedIn") return <Navigate to={from} replace />;

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    void submit(async () => {
      const { signIn } = await api.request(SignInDocument, { email, password });
      const refusal = signIn.errors[0];
      if (refusal || !signIn.accessToken) {
        setError(refusal ? signInErrorSentence(refusal) : errorSentence(null));
        return;
      }
      await session.signedIn(signIn.accessToken);
      navigate(from, { replace: true });
    });
  }

  return (
    <SignedOutPage heading="Sign in" error={error}>
      <form onSubmit={onSubmit}>
        <EmailField value={email} onChange={setEmail} />
        <PasswordField label="Password" autoComplete="current-password" value={password} onChange={setPassword} />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
      <p>
        <Link to="/forgot-password">Forgot your password?</Link>
      </p>
    </SignedOutPage>
  );
}
