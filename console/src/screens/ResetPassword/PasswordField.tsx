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
