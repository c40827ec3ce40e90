import { useCallback, useEffect, useState } from "react";
import type { DocumentTypeDecoration } from "@graphql-typed-document-node/core";
import { api } from "./client";
import { errorSentence } from "./errors";

export interface QueryState<TResult> {
  data: TResult | null;
  error: string | null;
  loading: boolean;
  reload(): void;
}

/**
 * Runs a query whenever its variables change; an answer that arrives after newer variables were
 * asked for is dropped, so typing fast never shows an older search's results.
 */
export function useQuery<TResult, TVariables>(
  document: DocumentTypeDecoration<TResult, TVariables> & { toString(): string },
  variables: TVariables,
): QueryState<TResult> {
  const [data, setData] = useState<TResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const key = JSON.stringify(variables);

  useEffect(() => {
    let current = true;
    setLoading(true);
    api
      .execute(document, JSON.parse(key) as TVariables)
      .then((result) => {
        if (!current) return;
        setData(result);
        setError(null);
      })
      .catch((caught: unknown) => {
        if (current) setError(errorSentence(caught));
      })
      .finally(() => {
        if (current) setLoading(false);
      });
    return () => {
      current = false;
    };
  }, [document, key, generation]);

  const reload = useCallback(() => setGeneration((value) => value + 1), []);
  return { data, error, loading, reload };
}
