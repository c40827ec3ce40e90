import { useState } from "react";
import { useNavigate } from "react-router";
import { api } from "../../api/client";
import { errorSentence } from "../../api/errors";
import { mapFieldErrors, noFieldErrors, type FieldErrors } from "../../components/userForm/fieldErrors";
import {
  rolesYouMayGive,
  USER_FIELDS,
  UserForm,
  type UserField,
  type UserFormValues,
} from "../../components/userForm/UserForm";
import { useSession } from "../../session/SessionProvider";
import { EnrollUserDocument } from "./documents";

const EMPTY: UserFormValues = { email: "", firstName: "", lastName: "", role: "USER" };

/** Enrol a customer or a staff member (staff get an invitation email to set their password). */
export function EnrolUser() {
  const { can } = useSession();
  const navigate = useNavigate();
  const [errors, setErrors] = useState<FieldErrors<UserField>>(noFieldErrors);
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(false);
  const request = can("ENROLL_USERS") === "REQUEST";

  async function enrol(values: UserFormValues) {
    setBusy(true);
    setSent(false);
    try {
      const { enrollUser } = await api.request(EnrollUserDocument, { input: values });
      setErrors(mapFieldErrors(enrollUser.errors, USER_FIELDS));
      if (enrollUser.errors.length > 0) return;
      if (enrollUser.user) navigate(`/users/${enrollUser.user.id}`);
      else setSent(true);
    } catch (caught) {
      setErrors({ byField: {}, general: [errorSentence(caught)] });
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <h1>Enrol user</h1>
      <p className="muted">Staff members get an email inviting them to choose their password.</p>
      <div aria-live="polite">{sent && <p className="notice">Sent for approval</p>}</div>
      <UserForm
        initial={EMPTY}
        submitLabel={request ? "Request enrolment" : "Enrol"}
        roles={rolesYouMayGive(can)}
        busy={busy}
        errors={errors}
        onSubmit={(values) => void enrol(values)}
      />
    </>
  );
}
