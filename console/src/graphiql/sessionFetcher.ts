/** GraphiQL's fetcher: the console's session when there is one, so staff explore as themselves;
 * anonymous otherwise. The access token stays in this closure, never in GraphiQL's headers editor
 * (which GraphiQL keeps in localStorage). */

import type { GraphiQLProps } from "graphiql";
import { postRefresh } from "../api/client";

type Fetch = typeof fetch;
type Fetcher = GraphiQLProps["fetcher"];
type GraphQLAnswer = Extract<Awaited<ReturnType<Fetcher>>, { errors?: unknown }>;

export type SessionFetcher = {
  /** Trades the console's refresh cookie for an access token; false when there is no session. */
  signIn(): Promise<boolean>;
  fetcher: Fetcher;
};

function isUnauthenticated(answer: GraphQLAnswer): boolean {
  return (answer.errors ?? []).some((error) => error.extensions?.code === "UNAUTHENTICATED");
}

export function createSessionFetcher(endpoint = "/graphql", fetchImpl: Fetch = (...args) => fetch(...args)): SessionFetcher {
  let accessToken: string | null = null;

  async function signIn(): Promise<boolean> {
    accessToken = null;
    try {
      const response = await postRefresh(fetchImpl);
      if (response.ok) accessToken = ((await response.json()) as { accessToken?: string }).accessToken ?? null;
    } catch {
      // No server answer: explore anonymously.
    }
    return accessToken !== null;
  }

  async function send(body: unknown, headers: Record<string, string>): Promise<GraphQLAnswer> {
    const response = await fetchImpl(endpoint, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        ...(accessToken ? { Authorization: `Bearer ${accessToken}` } : {}),
        ...headers, // what the user typed in the headers editor wins
      },
      credentials: "same-origin",
      body: JSON.stringify(body),
    });
    return (await response.json()) as GraphQLAnswer;
  }

  const fetcher: Fetcher = async (params, opts) => {
    const headers = (opts?.headers ?? {}) as Record<string, string>;
    const answer = await send(params, headers);
    // An access token that expired meanwhile: one silent refresh and one retry.
    if (accessToken !== null && isUnauthenticated(answer) && (await signIn())) return send(params, headers);
    return answer;
  };

  return { signIn, fetcher };
}
