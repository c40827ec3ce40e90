import { useState } from "react";
import { api } from "../../api/client";
import { errorSentence } from "../../api/errors";
import { useSession } from "../../session/SessionProvider";
import { ChangePassword } from "./ChangePassword";
import { LogRetention } from "./LogRetention";
import { SignOutEverywhereDocument } from "./documents";

/** My account (password, sessions) and, for owners, the log's retention. */
export function Settings() {
  const session = useSession();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function signOutEverywhere() {
    setBusy(true);
    setError(null);
    try {
      await api.request(SignOutEverywhereDocument);
      await session.signOut(); // this browser's cookie too; the guard then shows sign-in
    } catch (caught) {
      setError(errorSentence(caught));
      setBusy(false);
    }
  }

  return (
    <>
      <h1>Settings</h1>
      <ChangePassword />
      <section aria-labelledby="settings-sessions">
        <h2 id="settings-sessions">Sessions</h2>
        {error && (
          <p role="alert" className="alert">
            {error}
          </p>
        )}
        <p>Sign out of the console on every browser and device, this one included.</p>
        <button type="button" className="secondary" disabled={busy} onClick={() => void signOutEverywhere()}>
          Sign out everywhere
        </button>
      </section>
      {session.can("SET_LOG_RETENTION") === "ALLOW" && <LogRetention />}
    </>
  );
}
