import { useEffect, useId, useState, type FormEvent } from "react";
import { api } from "../../api/client";
import { asSentence, errorSentence } from "../../api/errors";
import { LogRetentionDocument, SetLogRetentionDocument } from "./documents";

const MIN_DAYS = 1;
const MAX_DAYS = 3650;

/** How many days the activity log keeps its entries (owners only: SET_LOG_RETENTION). */
export function LogRetention() {
  const id = useId();
  const [days, setDays] = useState("");
  const [saved, setSaved] = useState<number | null>(null);
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let current = true;
    api
      .request(LogRetentionDocument)
      // What the user typed meanwhile is kept.
      .then(({ logRetentionDays }) => current && setDays((typed) => typed || String(logRetentionDays)))
      .catch((caught: unknown) => current && setError(errorSentence(caught)));
    return () => {
      current = false;
    };
  }, []);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setSaved(null);
    setError(null);
    const value = Number(days);
    if (!Number.isInteger(value) || value < MIN_DAYS || value > MAX_DAYS) {
      setFieldError(`Enter a whole number of days from ${MIN_DAYS} to ${MAX_DAYS}.`);
      return;
    }
    setFieldError(null);
    setBusy(true);
    try {
      const { setLogRetention } = await api.request(SetLogRetentionDocument, { days: value });
      const refusal = setLogRetention.errors[0];
      if (refusal) setFieldError(asSentence(refusal.message));
      else setSaved(setLogRetention.logRetentionDays ?? value);
    } catch (caught) {
      setError(errorSentence(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby={`${id}-heading`}>
      <h2 id={`${id}-heading`}>Log retention</h2>
      {error && (
        <p role="alert" className="alert">
          {error}
        </p>
      )}
      {saved !== null && (
        <p role="status" className="notice">
          Log entries are now kept {saved} days.
        </p>
      )}
      <form onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor={id}>Days</label>
          <input
            id={id}
            type="number"
            inputMode="numeric"
            min={MIN_DAYS}
            max={MAX_DAYS}
            step={1}
            required
            value={days}
            aria-invalid={fieldError ? true : undefined}
            aria-describedby={fieldError ? `${id}-error` : `${id}-hint`}
            onChange={(event) => setDays(event.target.value)}
          />
          {fieldError ? (
            <p id={`${id}-error`} className="field-error">
              {fieldError}
            </p>
          ) : (
            <p id={`${id}-hint`} className="muted">
              Entries older than this are deleted.
            </p>
          )}
        </div>
        <button type="submit" disabled={busy}>
          Save
        </button>
      </form>
    </section>
  );
}
