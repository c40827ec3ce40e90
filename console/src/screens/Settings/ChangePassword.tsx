import { useState, type FormEvent } from "react";
import { api } from "../../api/client";
import { errorSentence } from "../../api/errors";
import { useSession } from "../../session/SessionProvider";
import { hasProblems } from "../ResetPassword/newPassword";
import { NewPasswordForm, PasswordField, useNewPassword } from "../ResetPassword/PasswordField";
import { ChangePasswordDocument } from "./documents";
import { passwordChangeProblems } from "./passwordErrors";

type Problems = { currentPassword?: string; newPassword?: string; repeat?: string; form?: string };

/** Change my password: the current one, the new one twice. The server ends every other session
 * and answers a fresh one, which replaces this one. */
export function ChangePassword() {
  const session = useSession();
  const [current, setCurrent] = useState("");
  const newPassword = useNewPassword();
  const [problems, setProblems] = useState<Problems>({});
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setDone(false);
    const found: Problems = {
      ...newPassword.problems(),
      ...(current ? {} : { currentPassword: "Enter your current password." }),
    };
    setProblems(found);
    if (hasProblems(found)) return;
    setBusy(true);
    try {
      const { changePassword } = await api.request(ChangePasswordDocument, {
        currentPassword: current,
        newPassword: newPassword.password,
      });
      const refusal = changePassword.errors[0];
      if (refusal || !changePassword.accessToken) {
        setProblems(refusal ? passwordChangeProblems(refusal) : { form: errorSentence(null) });
        return;
      }
      await session.signedIn(changePassword.accessToken);
      setCurrent("");
      newPassword.clear();
      setDone(true);
    } catch (caught) {
      setProblems({ form: errorSentence(caught) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="settings-password">
      <h2 id="settings-password">Password</h2>
      {problems.form && (
        <p role="alert" className="alert">
          {problems.form}
        </p>
      )}
      {done && (
        <p role="status" className="notice">
          Your password was changed. Your other sessions have ended.
        </p>
      )}
      <NewPasswordForm
        newPassword={newPassword}
        username={session.me?.email ?? ""}
        problems={problems}
        submitLabel="Change password"
        busy={busy}
        onSubmit={submit}
      >
        <PasswordField
          label="Current password"
          autoComplete="current-password"
          value={current}
          onChange={setCurrent}
          error={problems.currentPassword}
        />
      </NewPasswordForm>
    </section>
  );
}
