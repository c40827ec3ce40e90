import { api } from "../../api/client";
import { UserChangeForm } from "../../components/userForm/UserChangeForm";
import type { UserFormValues } from "../../components/userForm/UserForm";
import { useSession } from "../../session/SessionProvider";
import { EnrollUserDocument } from "./documents";

const EMPTY: UserFormValues = { email: "", firstName: "", lastName: "", role: "USER" };

/** Enrol a customer or a staff member (staff get an invitation email to set their password). */
export function EnrolUser() {
  const { can } = useSession();
  const request = can("ENROLL_USERS") === "REQUEST";

  return (
    <>
      <h1>Enrol user</h1>
      <p className="muted">Staff members get an email inviting them to choose their password.</p>
      <UserChangeForm
        initial={EMPTY}
        submitLabel={request ? "Request enrolment" : "Enrol"}
        send={async (values) => (await api.request(EnrollUserDocument, { input: values })).enrollUser}
      />
    </>
  );
}
