import { useState } from "react";
import { useNavigate, useParams } from "react-router";
import { api } from "../../api/client";
import { errorSentence } from "../../api/errors";
import { useQuery } from "../../api/useQuery";
import { Loading } from "../../components/Loading";
import { mapFieldErrors, noFieldErrors, type FieldErrors } from "../../components/userForm/fieldErrors";
import {
  rolesYouMayGive,
  USER_FIELDS,
  UserForm,
  type UserField,
  type UserFormValues,
} from "../../components/userForm/UserForm";
import type { UpdateUserInput } from "../../gql/graphql";
import { accessOn } from "../../session/permissions";
import { useSession } from "../../session/SessionProvider";
import { EditableUserDocument, UpdateUserDocument } from "./documents";
import { UserUnavailable } from "../UserDetail/UserUnavailable";

/** Only what changed is sent: a field left out stays as it is. */
function changes(before: UserFormValues, after: UserFormValues): UpdateUserInput {
  return Object.fromEntries(USER_FIELDS.filter((field) => before[field] !== after[field]).map((field) => [field, after[field]]));
}

/** Change a user's email, names or role. */
export function EditUser() {
  const { id = "" } = useParams();
  const { can } = useSession();
  const navigate = useNavigate();
  const { data, error, loading } = useQuery(EditableUserDocument, { id });
  const [errors, setErrors] = useState<FieldErrors<UserField>>(noFieldErrors);
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(false);

  const user = data?.user;
  if (loading && !data) {
    return (
      <Loading />
    );
  }
  if (error || !user) return <UserUnavailable heading="Edit user" error={error} />;

  const initial: UserFormValues = {
    email: user.email,
    firstName: user.firstName,
    lastName: user.lastName,
    role: user.role,
  };
  const request = accessOn(can("UPDATE_USERS"), user.role) === "REQUEST";

  async function save(values: UserFormValues) {
    setBusy(true);
    setSent(false);
    try {
      const { updateUser } = await api.request(UpdateUserDocument, { id, input: changes(initial, values) });
      setErrors(mapFieldErrors(updateUser.errors, USER_FIELDS));
      if (updateUser.errors.length > 0) return;
      if (updateUser.approvalRequest) setSent(true);
      else navigate(`/users/${id}`);
    } catch (caught) {
      setErrors({ byField: {}, general: [errorSentence(caught)] });
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <h1>Edit user</h1>
      <div aria-live="polite">{sent && <p className="notice">Sent for approval</p>}</div>
      <UserForm
        initial={initial}
        submitLabel={request ? "Request change" : "Save"}
        roles={rolesYouMayGive(can)}
        busy={busy}
        errors={errors}
        onSubmit={(values) => void save(values)}
      />
    </>
  );
}
