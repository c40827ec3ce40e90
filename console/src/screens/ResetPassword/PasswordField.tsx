import { useId, useState, type FormEvent, type ReactNode } from "react";
import { newPasswordProblems, type NewPasswordProblems } from "./newPassword";

type PasswordFieldProps = {
  label: string;
  value: string;
  onChange(value: string): void;
  /** "new-password" lets a password manager offer a strong one; "current-password" fills the saved one. */
  autoComplete: "new-password" | "current-password";
  error?: string;
};

/** A labelled password input whose error, when there is one, is read with it. */
export function PasswordField({ label, value, onChange, autoComplete, error }: PasswordFieldProps) {
  const id = useId();
  const errorId = `${id}-error`;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="password"
        autoComplete={autoComplete}
        required
        value={value}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? errorId : undefined}
        onChange={(event) => onChange(event.target.value)}
      />
      {error && (
        <p id={errorId} className="field-error">
          {error}
        </p>
      )}
    </div>
  );
}

/** A new password typed twice: what NewPasswordForm edits, and the checks it gets before it is sent. */
export function useNewPassword() {
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  return {
    password,
    repeat,
    setPassword,
    setRepeat,
    problems: () => newPasswordProblems(password, repeat),
    clear() {
      setPassword("");
      setRepeat("");
    },
  };
}

type NewPasswordFormProps = {
  newPassword: ReturnType<typeof useNewPassword>;
  /** Whose password this is, for a password manager to save it under. */
  username: string;
  problems: NewPasswordProblems;
  submitLabel: string;
  busy: boolean;
  onSubmit(event: FormEvent): void;
  /** Fields asked before the new password (the current one, to change it). */
  children?: ReactNode;
};

/** The reset, invitation and settings forms: whose password it is (hidden), any fields asked first, the
 * new password typed twice with the rule it must meet, and the button. */
export function NewPasswordForm({ newPassword, username, problems, submitLabel, busy, onSubmit, children }: NewPasswordFormProps) {
  return (
    <form onSubmit={onSubmit} noValidate>
      <input type="email" name="username" autoComplete="username" value={username} readOnly hidden />
      {children}
      <PasswordField
        label="New password"
        autoComplete="new-password"
        value={newPassword.password}
        onChange={newPassword.setPassword}
        error={problems.newPassword}
      />
      <PasswordField
        label="Repeat new password"
        autoComplete="new-password"
        value={newPassword.repeat}
        onChange={newPassword.setRepeat}
        error={problems.repeat}
      />
      <p className="muted">At least 12 characters; common passwords are refused.</p>
      <button type="submit" disabled={busy}>
        {submitLabel}
      </button>
    </form>
  );
}
