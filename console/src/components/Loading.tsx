/** What a screen shows while its data is on the way; a status, so screen readers announce it. */
export function Loading({ children = "Loading…" }: { children?: string }) {
  return (
    <p role="status" className="loading">
      {children}
    </p>
  );
}
