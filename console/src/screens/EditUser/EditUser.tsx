import { useParams } from "react-router";
import { api } from "../../api/client";
import { useQuery } from "../../api/useQuery";
import { Loading } from "../../components/Loading";
import { UserChangeForm } from "../../components/userForm/UserChangeForm";
import { USER_FIELDS, type UserFormValues } from "../../components/userForm/UserForm";
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
  const { data, error, loading } = useQuery(EditableUserDocument, { id });

  const user = data?.user;
  if (loading && !data) return <Loading />;
  if (error || !user) return <UserUnavailable heading="Edit user" error={error} />;

  const initial: UserFormValues = {
    email: user.email,
    firstName: user.firstName,
    lastName: user.lastName,
    role: user.role,
  };
  const request = accessOn(can("UPDATE_USERS"), user.role) === "REQUEST";

  return (
    <>
      <h1>Edit user</h1>
      <UserChangeForm
        initial={initial}
        submitLabel={request ? "Request change" : "Save"}
        send={async (values) =>
          (await api.request(UpdateUserDocument, { id, input: changes(initial, values) })).updateUser
        }
      />
    </>
  );
}
