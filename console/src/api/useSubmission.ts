import { useState } from "react";
import { errorSentence } from "./errors";

/**
 * A form's request: `busy` while it is out (the submit button waits), and `error`, the sentence for
 * why the last one failed, cleared when the next one starts. The work sets `error` itself for the
 * refusals it understands; anything it throws becomes the sentence for that failure.
 */
export function useSubmission() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(work: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (caught) {
      setError(errorSentence(caught));
    } finally {
      setBusy(false);
    }
  }

  return { busy, error, setError, submit };
}
