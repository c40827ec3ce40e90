import { SetPasswordFromLink } from "../ResetPassword/SetPasswordFromLink";

/** `/accept-invitation#token=…`, from an invitation email: the new staff member's first password. */
export function AcceptInvitation() {
  return (
    <SetPasswordFromLink
      purpose="INVITATION"
      heading="Welcome"
      intro={(email) => (
        <>
          You are invited to the loyalty console as <strong>{email}</strong>. Choose a password to sign in.
        </>
      )}
    />
  );
}
