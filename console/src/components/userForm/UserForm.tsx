import { useEffect, useRef, useState, type FormEvent } from "react";
import type { Role } from "../../gql/graphql";
import type { Permission, PermissionAccess } from "../../session/permissions";
import { ROLES } from "../roles";
import type { FieldErrors } from "./fieldErrors";

export interface UserFormValues {
  email: string;
  firstName: string;
  lastName: string;
  role: Role;
}

export type UserField = keyof UserFormValues;
export const USER_FIELDS: readonly UserField[] = ["email", "firstName", "lastName", "role"];

interface UserFormProps {
  initial: UserFormValues;
  submitLabel: string;
  /** The roles the signed-in user may give (OWNER only with MANAGE_OWNERS). */
  roles: readonly Role[];
  busy: boolean;
  errors: FieldErrors<UserField>;
  onSubmit(values: UserFormValues): void;
}

/** OWNER is given (and taken) only with MANAGE_OWNERS, as the server's permissions say. */
export function rolesYouMayGive(can: (permission: Permission) => PermissionAccess | undefined): Role[] {
  const mayManageOwners = can("MANAGE_OWNERS") === "ALLOW";
  return ROLES.map(({ value }) => value).filter((role) => role !== "OWNER" || mayManageOwners);
}

const LABELS: Record<UserField, string> = {
  email: "Email",
  firstName: "First name",
  lastName: "Last name",
  role: "Role",
};

/** Enrol and edit share this form; each field shows its own error, tied to it for screen readers. */
export function UserForm({ initial, submitLabel, roles, busy, errors, onSubmit }: UserFormProps) {
  const [values, setValues] = useState(initial);
  const set = (field: UserField, value: string) => setValues((current) => ({ ...current, [field]: value }));
  const roleLocked = !roles.includes(values.role);
  const form = useRef<HTMLFormElement>(null);

  // After a refusal, start at the first field to fix.
  useEffect(() => {
    form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [errors]);

  function submit(event: FormEvent) {
    event.preventDefault();
    onSubmit(values);
  }

  /** The props tying an input to its label and its error. */
  function described(field: UserField) {
    const error = errors.byField[field];
    return {
      id: `user-${field}`,
      "aria-invalid": error ? true : undefined,
      "aria-describedby": error ? `user-${field}-error` : undefined,
    };
  }

  const errorFor = (field: UserField) =>
    errors.byField[field] && (
      <p id={`user-${field}-error`} className="field-error">
        {errors.byField[field]}
      </p>
    );

  return (
    <form ref={form} onSubmit={submit} noValidate>
      {errors.general.length > 0 && (
        <div role="alert" className="alert">
          {errors.general.map((sentence) => (
            <p key={sentence}>{sentence}</p>
          ))}
        </div>
      )}
      {(["email", "firstName", "lastName"] as const).map((field) => (
        <div className="field" key={field}>
          <label htmlFor={`user-${field}`}>{LABELS[field]}</label>
          <input
            {...described(field)}
            type={field === "email" ? "email" : "text"}
            autoComplete={field === "email" ? "off" : field === "firstName" ? "given-name" : "family-name"}
            required
            value={values[field]}
            onChange={(event) => set(field, event.target.value)}
          />
          {errorFor(field)}
        </div>
      ))}
      <div className="field">
        <label htmlFor="user-role">{LABELS.role}</label>
        <select
          {...described("role")}
          value={values.role}
          disabled={roleLocked}
          onChange={(event) => set("role", event.target.value)}
        >
          {ROLES.filter(({ value }) => roles.includes(value) || value === values.role).map(({ value, label }) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
        {roleLocked && <p className="muted">You may not change this role.</p>}
        {errorFor("role")}
      </div>
      <button type="submit" disabled={busy}>
        {submitLabel}
      </button>
    </form>
  );
}
