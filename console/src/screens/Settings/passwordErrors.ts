/** Where a refused password change is shown: on the field it is about, else above the form. */
import { asSentence } from "../../api/errors";

export type PasswordChangeProblems = { currentPassword?: string; newPassword?: string; form?: string };

export function passwordChangeProblems(error: { code: string; field?: string | null; message: string }): PasswordChangeProblems {
  if (error.code === "INVALID_CREDENTIALS") return { currentPassword: "That is not your current password." };
  if (error.code === "WEAK_PASSWORD" || error.field === "newPassword") return { newPassword: asSentence(error.message) };
  if (error.field === "currentPassword") return { currentPassword: asSentence(error.message) };
  return { form: asSentence(error.message) };
}
