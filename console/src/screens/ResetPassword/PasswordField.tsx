import { useId } from "react";

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

type NewPasswordFieldsProps = {
  password: string;
  repeat: string;
  onPassword(value: string): void;
  onRepeat(value: string): void;
  problems: { newPassword?: string; repeat?: string };
};

/** A new password typed twice, with the rule it must meet: the reset, invitation and settings forms. */
export function NewPasswordFields({ password, repeat, onPassword, onRepeat, problems }: NewPasswordFieldsProps) {
  return (
    <>
      <PasswordField
        label="New password"
        autoComplete="new-password"
        value={password}
        onChange={onPassword}
        error={problems.newPassword}
      />
      <PasswordField
        label="Repeat new password"
        autoComplete="new-password"
        value={repeat}
        onChange={onRepeat}
        error={problems.repeat}
      />
      <p className="muted">At least 12 characters; common passwords are refused.</p>
    </>
  );
}
