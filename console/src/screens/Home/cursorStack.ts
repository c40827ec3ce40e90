/**
 * Paging back and forth over a forward-only connection: the server gives only `endCursor`, so the
 * `after` of every page visited is kept, and "Previous page" goes back to the one before.
 */
export interface CursorStack {
  /** `after` for each page visited; the last is the page shown (null: the first page). */
  readonly afters: readonly (string | null)[];
}

export const firstPage: CursorStack = { afters: [null] };

export function currentAfter(stack: CursorStack): string | null {
  return stack.afters[stack.afters.length - 1];
}

export function nextPage(stack: CursorStack, endCursor: string): CursorStack {
  return { afters: [...stack.afters, endCursor] };
}

export function previousPage(stack: CursorStack): CursorStack {
  return stack.afters.length > 1 ? { afters: stack.afters.slice(0, -1) } : stack;
}

export function hasPreviousPage(stack: CursorStack): boolean {
  return stack.afters.length > 1;
}

