/**
 * The console's GraphQL client: typed documents over fetch, the access token in memory only, and
 * one silent refresh (from the HttpOnly cookie) when the server says the token is no longer good.
 */
import type { DocumentTypeDecoration } from "@graphql-typed-document-node/core";
import { ApiError, NETWORK_ERROR, SERVER_ERROR, sentenceForCode } from "./errors";

/** Asks the server to keep the refresh token in its HttpOnly cookie, never in a response body. */
export const REFRESH_COOKIE_HEADER = { "Loyalty-Refresh-Cookie": "1" } as const;

type Document<TResult, TVariables> = DocumentTypeDecoration<TResult, TVariables> & {
  toString(): string;
};

interface GraphQLErrorBody {
  message: string;
  extensions?: { code?: string };
}

interface GraphQLResponseBody<TResult> {
  data?: TResult | null;
  errors?: GraphQLErrorBody[];
}

type Fetch = typeof fetch;

export class ApiClient {
  private accessToken: string | null = null;
  private refreshing: Promise<boolean> | null = null;
  private readonly signedOutListeners = new Set<() => void>();
  private readonly fetchImpl: Fetch;

  constructor(fetchImpl: Fetch = (...args) => globalThis.fetch(...args)) {
    this.fetchImpl = fetchImpl;
  }

  get signedIn(): boolean {
    return this.accessToken !== null;
  }

  /** Keep a token a sign-in mutation returned (in cookie mode its refresh token is in the cookie). */
  useAccessToken(token: string): void {
    this.accessToken = token;
  }

  /** Called when the session ends on its own (a refresh failed): the shell goes to sign-in. */
  onSignedOut(listener: () => void): () => void {
    this.signedOutListeners.add(listener);
    return () => this.signedOutListeners.delete(listener);
  }

  /** Run a document; on UNAUTHENTICATED refresh once and retry once, then give up. */
  async request<TResult, TVariables>(
    document: Document<TResult, TVariables>,
    ...[variables]: TVariables extends Record<string, never> ? [] | [TVariables] : [TVariables]
  ): Promise<TResult> {
    return this.execute(document, variables);
  }

  /** `request` without the check that required variables are given (for hooks that pass them on). */
  async execute<TResult, TVariables>(
    document: Document<TResult, TVariables>,
    variables: TVariables | undefined,
  ): Promise<TResult> {
    const sentWith = this.accessToken;
    const first = await this.post<TResult>(document.toString(), variables);
    if (!isUnauthenticated(first) || this.accessToken === null) return unwrap(first);
    // A token refreshed while this request was out is used as it is, without another rotation.
    const renewed = this.accessToken !== sentWith || (await this.refresh());
    if (!renewed) {
      this.endSession();
      return unwrap(first);
    }
    const second = await this.post<TResult>(document.toString(), variables);
    if (isUnauthenticated(second)) this.endSession();
    return unwrap(second);
  }

  /**
   * Trade the refresh cookie for an access token. Concurrent callers share one request: the
   * server rotates the cookie, and a second use of the old one would revoke the whole session.
   */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.refreshOnce().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /** End this session on the server (it clears the cookie) and forget the access token. */
  async signOut(): Promise<void> {
    try {
      await this.fetchImpl("/auth/sign-out", {
        method: "POST",
        headers: REFRESH_COOKIE_HEADER,
        credentials: "same-origin",
      });
    } finally {
      this.accessToken = null;
    }
  }

  private async refreshOnce(): Promise<boolean> {
    let response: Response;
    try {
      response = await postRefresh(this.fetchImpl);
    } catch {
      return false;
    }
    if (!response.ok) {
      this.accessToken = null;
      return false;
    }
    const body = (await response.json()) as { accessToken?: string };
    this.accessToken = body.accessToken ?? null;
    return this.accessToken !== null;
  }

  private endSession(): void {
    this.accessToken = null;
    for (const listener of this.signedOutListeners) listener();
  }

  private async post<TResult>(query: string, variables: unknown): Promise<GraphQLResponseBody<TResult>> {
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      Accept: "application/json",
      ...REFRESH_COOKIE_HEADER,
    };
    if (this.accessToken) headers.Authorization = `Bearer ${this.accessToken}`;
    let response: Response;
    try {
      response = await this.fetchImpl("/graphql", {
        method: "POST",
        headers,
        credentials: "same-origin",
        body: JSON.stringify({ query, variables: variables ?? {} }),
      });
    } catch {
      throw new ApiError(NETWORK_ERROR, sentenceForCode(NETWORK_ERROR));
    }
    let body: GraphQLResponseBody<TResult>;
    try {
      body = (await response.json()) as GraphQLResponseBody<TResult>;
    } catch {
      throw new ApiError(SERVER_ERROR, sentenceForCode(SERVER_ERROR));
    }
    return body;
  }
}

function isUnauthenticated(body: GraphQLResponseBody<unknown>): boolean {
  return body.errors?.some((error) => error.extensions?.code === "UNAUTHENTICATED") ?? false;
}

function unwrap<TResult>(body: GraphQLResponseBody<TResult>): TResult {
  const error = body.errors?.[0];
  if (error) {
    const code = error.extensions?.code ?? SERVER_ERROR;
    throw new ApiError(code, sentenceForCode(code));
  }
  if (body.data == null) throw new ApiError(SERVER_ERROR, sentenceForCode(SERVER_ERROR));
  return body.data;
}

/** The one client the console uses. */
export const api = new ApiClient();

/**
 * `POST /auth/refresh`, one tab at a time. Two tabs refreshing at once (the console and GraphiQL, or a
 * restored browser session) would present one cookie twice, and the server ends a session whose
 * refresh token comes back after its use, as a stolen copy would. With the Web Locks API the second
 * waits for the first, then presents the cookie the first one received.
 */
export function postRefresh(fetchImpl: typeof fetch): Promise<Response> {
  const request = () =>
    fetchImpl("/auth/refresh", { method: "POST", headers: REFRESH_COOKIE_HEADER, credentials: "same-origin" });
  const locks = globalThis.navigator?.locks;
  return locks ? locks.request("loyalty-refresh", request) : request();
}
