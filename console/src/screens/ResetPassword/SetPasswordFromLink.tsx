import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { Link, useNavigate } from "react-router";
import { api } from "../../api/client";
import { asSentence, errorSentence } from "../../api/errors";
import { useSubmission } from "../../api/useSubmission";
import { Loading } from "../../components/Loading";
import type { PasswordLinkPurpose } from "../../gql/graphql";
import { useSession } from "../../session/SessionProvider";
import { SignedOutPage } from "../SignIn/SignedOutPage";
import { AcceptInvitationDocument, PasswordLinkDocument, ResetPasswordDocument } from "./documents";
import { dropHashFromAddress, tokenFromHash } from "./linkToken";
import { hasProblems, type NewPasswordProblems } from "./newPassword";
import { NewPasswordForm, useNewPassword } from "./PasswordField";

export const INVALID_LINK_SENTENCE = "This link is no longer valid";

type LinkFacts = { purpose: PasswordLinkPurpose; email: string };
type Check = { state: "checking" } | { state: "invalid" } | { state: "valid"; link: LinkFacts };

type SetPasswordFromLinkProps = {
  purpose: PasswordLinkPurpose;
  heading: string;
  /** What the page says about whose password this is, once the link is known good. */
  intro(email: string): ReactNode;
};

/** Choosing a password from an emailed link (an invitation or a reset): the token comes from the
 * address's fragment and leaves the address bar at once; success signs the user in and goes home. */
export function SetPasswordFromLink({ purpose, heading, intro }: SetPasswordFromLinkProps) {
  const session = useSession();
  const navigate = useNavigate();
  // Read once, purely (StrictMode may call this twice); the effect below then clears the address.
  const [token] = useState(() => tokenFromHash(window.location.hash));
  const [check, setCheck] = useState<Check>(token ? { state: "checking" } : { state: "invalid" });
  const newPassword = useNewPassword();
  const [problems, setProblems] = useState<NewPasswordProblems>({});
  const { busy, error, setError, submit } = useSubmission();

  useEffect(() => dropHashFromAddress(), []);

  useEffect(() => {
    if (!token) return;
    let current = true;
    api
      .request(PasswordLinkDocument, { token })
      .then(({ passwordLink }) => {
        if (!current) return;
        // A reset link opened as an invitation (or the other way) is not this page's to use.
        setCheck(passwordLink?.purpose === purpose ? { state: "valid", link: passwordLink } : { state: "invalid" });
      })
      .catch((caught: unknown) => {
        if (current) setError(errorSentence(caught));
      });
    return () => {
      current = false;
    };
  }, [token, purpose]);

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    if (!token) return;
    const found = newPassword.problems();
    setProblems(found);
    setError(null);
    if (hasProblems(found)) return;
    const password = newPassword.password;
    void submit(async () => {
      const payload =
        purpose === "INVITATION"
          ? (await api.request(AcceptInvitationDocument, { token, password })).acceptInvitation
          : (await api.request(ResetPasswordDocument, { token, password })).resetPassword;
      const refusal = payload.errors[0];
      if (refusal?.code === "INVALID_LINK") {
        setCheck({ state: "invalid" });
      } else if (refusal?.code === "WEAK_PASSWORD" || refusal?.field === "password") {
        setProblems({ newPassword: asSentence(refusal.message) });
      } else if (refusal || !payload.accessToken) {
        setError(refusal ? asSentence(refusal.message) : errorSentence(null));
      } else {
        await session.signedIn(payload.accessToken);
        navigate("/", { replace: true });
      }
    });
  }

  return (
    <SignedOutPage heading={heading} error={error}>
      {check.state === "checking" && !error && <Loading>Checking the link…</Loading>}
      {check.state === "invalid" && (
        <>
          <p role="alert" className="alert">
            {INVALID_LINK_SENTENCE}
          </p>
          <p>
            Links work once and expire. <Link to="/forgot-password">Ask for a new link</Link> or{" "}
            <Link to="/sign-in">sign in</Link>.
          </p>
        </>
      )}
      {check.state === "valid" && (
        <>
          <p>{intro(check.link.email)}</p>
          <NewPasswordForm
            newPassword={newPassword}
            username={check.link.email}
            problems={problems}
            submitLabel="Set password"
            busy={busy}
            onSubmit={onSubmit}
          />
        </>
      )}
    </SignedOutPage>
  );
}
