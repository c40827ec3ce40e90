import { useId, type ReactNode } from "react";
import "./SignIn.css";

type SignedOutPageProps = { heading: string; error: string | null; children: ReactNode };

/** A page for someone not signed in (signing in, asking for a reset, setting a password from a
 * link): one narrow column, its heading, and why the last attempt failed when it did. */
export function SignedOutPage({ heading, error, children }: SignedOutPageProps) {
  return (
    <main id="content" className="sign-in">
      <h1>{heading}</h1>
      {error && (
        <p role="alert" className="alert">
          {error}
        </p>
      )}
      {children}
    </main>
  );
}

/** The staff member's email, filled in as the username a password manager saved. */
export function EmailField({ value, onChange }: { value: string; onChange(value: string): void }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>Email</label>
      <input
        id={id}
        type="email"
        autoComplete="username"
        required
        value={value}
        onChange={(event) => onChange(event.target.value)}
      />
    </div>
  );
}
