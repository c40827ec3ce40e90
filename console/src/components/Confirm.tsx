import { useEffect, useId, useRef } from "react";

interface ConfirmProps {
  question: string;
  confirmLabel: string;
  busy?: boolean;
  onConfirm(): void;
  onCancel(): void;
}

/** Asks before something that cannot be undone; focus moves to it so a keyboard user hears it. */
export function Confirm({ question, confirmLabel, busy, onConfirm, onCancel }: ConfirmProps) {
  const questionId = useId();
  const region = useRef<HTMLDivElement>(null);
  useEffect(() => region.current?.focus(), []);
  return (
    <div ref={region} role="alertdialog" aria-labelledby={questionId} tabIndex={-1} className="confirm">
      <p id={questionId}>{question}</p>
      <div className="actions">
        <button type="button" className="danger" disabled={busy} onClick={onConfirm}>
          {confirmLabel}
        </button>
        <button type="button" className="secondary" disabled={busy} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}
