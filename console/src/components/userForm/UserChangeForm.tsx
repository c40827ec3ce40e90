import { useState } from "react";
import { useNavigate } from "react-router";
import { errorSentence } from "../../api/errors";
import type { UserPayloadFieldsFragment } from "../../gql/graphql";
import { useSession } from "../../session/SessionProvider";
import { mapFieldErrors, noFieldErrors, type FieldErrors } from "./fieldErrors";
import { rolesYouMayGive, USER_FIELDS, UserForm, type UserField, type UserFormValues } from "./UserForm";

interface UserChangeFormProps {
  initial: UserFormValues;
  submitLabel: string;
  /** Sends the form's values as a user change (enrolment or edit) and answers the server's payload. */
  send(values: UserFormValues): Promise<UserPayloadFieldsFragment>;
}

/** The user form sent as a change: its refusals shown field by field, then the user's page once the
 * change is made, or "Sent for approval" when it became an approval request instead. */
export function UserChangeForm({ initial, submitLabel, send }: UserChangeFormProps) {
  const { can } = useSession();
  const navigate = useNavigate();
  const [errors, setErrors] = useState<FieldErrors<UserField>>(noFieldErrors);
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(false);

  async function submit(values: UserFormValues) {
    setBusy(true);
    setSent(false);
    try {
      const outcome = await send(values);
      setErrors(mapFieldErrors(outcome.errors, USER_FIELDS));
      if (outcome.errors.length > 0) return;
      if (outcome.user) navigate(`/users/${outcome.user.id}`);
      else setSent(true);
    } catch (caught) {
      setErrors({ byField: {}, general: [errorSentence(caught)] });
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <div aria-live="polite">{sent && <p className="notice">Sent for approval</p>}</div>
      <UserForm
        initial={initial}
        submitLabel={submitLabel}
        roles={rolesYouMayGive(can)}
        busy={busy}
        errors={errors}
        onSubmit={(values) => void submit(values)}
      />
    </>
  );
}
