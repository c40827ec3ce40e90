import { SetPasswordFromLink } from "./SetPasswordFromLink";

/** `/reset-password#token=…`, from a reset email. */
export function ResetPassword() {
  return (
    <SetPasswordFromLink
      purpose="RESET"
      heading="Choose a new password"
      intro={(email) => (
        <>
          Choose a new password for <strong>{email}</strong>. Your other sessions will end.
        </>
      )}
    />
  );
}
