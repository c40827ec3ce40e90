import { useCallback, useEffect, useRef, useState } from "react";
import { errorSentence } from "./errors";

export type Page<T> = { items: T[]; endCursor: string | null; hasNextPage: boolean };

export type Pages<T> = {
  items: T[];
  hasNextPage: boolean;
  loading: boolean;
  error: string | null;
  loadMore(): void;
};

/** Sentences a page fetcher throws to be shown as they are (e.g. "No user has that email."). */
export class PageProblem extends Error {}

/**
 * A connection read a page at a time with "Load more": `fetchPage(after)` for the `key` given (the
 * filter, serialized); a new key starts again from the first page, and an answer for an older key
 * (typing fast) is dropped. `key` null asks nothing.
 */
export function usePages<T>(key: string | null, fetchPage: (after: string | null) => Promise<Page<T>>): Pages<T> {
  const [items, setItems] = useState<T[]>([]);
  const [endCursor, setEndCursor] = useState<string | null>(null);
  const [hasNextPage, setHasNextPage] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const latest = useRef(0);
  // The fetcher is a new function at each render; the key says when it asks something new.
  const fetcher = useRef(fetchPage);
  fetcher.current = fetchPage;

  const load = useCallback(
    async (after: string | null) => {
      const ticket = ++latest.current;
      if (key === null) {
        setItems([]);
        setHasNextPage(false);
        setLoading(false);
        return;
      }
      setLoading(true);
      try {
        const page = await fetcher.current(after);
        if (ticket !== latest.current) return;
        setItems((shown) => (after ? [...shown, ...page.items] : page.items));
        setEndCursor(page.endCursor);
        setHasNextPage(page.hasNextPage);
        setError(null);
      } catch (caught) {
        if (ticket !== latest.current) return;
        if (!after) setItems([]);
        setHasNextPage(false);
        setError(caught instanceof PageProblem ? caught.message : errorSentence(caught));
      } finally {
        if (ticket === latest.current) setLoading(false);
      }
    },
    [key],
  );

  useEffect(() => {
    void load(null);
  }, [load]);

  const loadMore = useCallback(() => {
    if (endCursor) void load(endCursor);
  }, [load, endCursor]);

  return { items, hasNextPage, loading, error, loadMore };
}
