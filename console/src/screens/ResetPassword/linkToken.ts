/** The token of an emailed link (`…#token=<t>`): it travels in the fragment so it never reaches a
 * server log or a Referer, and it is taken off the address bar once read so it does not linger in
 * the history or over someone's shoulder. */

/** The token in a location hash, or null. */
export function tokenFromHash(hash: string): string | null {
  const token = new URLSearchParams(hash.replace(/^#/, "")).get("token");
  return token ? token : null;
}

/** The current address without its fragment, replacing (not adding) the history entry and keeping
 * its state, which the router owns. */
export function dropHashFromAddress(win: Pick<Window, "location" | "history"> = window): void {
  if (!win.location.hash) return;
  const { pathname, search } = win.location;
  win.history.replaceState(win.history.state, "", pathname + search);
}
