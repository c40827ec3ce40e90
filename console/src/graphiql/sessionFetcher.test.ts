import { describe, expect, it } from "vitest";
import { createSessionFetcher } from "./sessionFetcher";

type Call = { url: string; init: RequestInit };

/** A stand-in for the network (the fetcher's boundary): answers in order, records each call. */
function network(...answers: [number, unknown][]) {
  const calls: Call[] = [];
  const fetchImpl = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const [status, body] = answers.shift() ?? [500, {}];
    return new Response(JSON.stringify(body), { status });
  }) as typeof fetch;
  return { calls, fetchImpl };
}

const header = (call: Call, name: string) => new Headers(call.init.headers).get(name);
const query = { query: "{ me { email } }" };

describe("GraphiQL's fetcher", () => {
  it("explores anonymously when the console has no session", async () => {
    const { calls, fetchImpl } = network([401, {}], [200, { data: { me: null } }]);
    const session = createSessionFetcher("/graphql", fetchImpl);
    expect(await session.signIn()).toBe(false);
    expect(await session.fetcher(query, {})).toEqual({ data: { me: null } });
    expect(calls[0].url).toBe("/auth/refresh");
    expect(header(calls[0], "Loyalty-Refresh-Cookie")).toBe("1");
    expect(header(calls[1], "Authorization")).toBeNull();
  });

  it("sends the console session's access token", async () => {
    const { calls, fetchImpl } = network([200, { accessToken: "a1", expiresIn: 900 }], [200, { data: {} }]);
    const session = createSessionFetcher("/graphql", fetchImpl);
    expect(await session.signIn()).toBe(true);
    await session.fetcher(query, {});
    expect(header(calls[1], "Authorization")).toBe("Bearer a1");
  });

  it("refreshes once and retries when the token has expired", async () => {
    const expired = { errors: [{ message: "expired", extensions: { code: "UNAUTHENTICATED" } }] };
    const { calls, fetchImpl } = network(
      [200, { accessToken: "a1" }],
      [200, expired],
      [200, { accessToken: "a2" }],
      [200, { data: { me: { email: "o@x.test" } } }],
    );
    const session = createSessionFetcher("/graphql", fetchImpl);
    await session.signIn();
    expect(await session.fetcher(query, {})).toEqual({ data: { me: { email: "o@x.test" } } });
    expect(calls.map((call) => call.url)).toEqual(["/auth/refresh", "/graphql", "/auth/refresh", "/graphql"]);
    expect(header(calls[3], "Authorization")).toBe("Bearer a2");
  });

  it("answers the refusal when the refresh fails too, without looping", async () => {
    const expired = { errors: [{ message: "expired", extensions: { code: "UNAUTHENTICATED" } }] };
    const { calls, fetchImpl } = network([200, { accessToken: "a1" }], [200, expired], [401, {}]);
    const session = createSessionFetcher("/graphql", fetchImpl);
    await session.signIn();
    expect(await session.fetcher(query, {})).toEqual(expired);
    expect(calls).toHaveLength(3);
  });

  it("lets a header typed in GraphiQL win over the session's", async () => {
    const { calls, fetchImpl } = network([200, { accessToken: "a1" }], [200, { data: {} }]);
    const session = createSessionFetcher("/graphql", fetchImpl);
    await session.signIn();
    await session.fetcher(query, { headers: { Authorization: "Bearer typed" } });
    expect(header(calls[1], "Authorization")).toBe("Bearer typed");
  });
});
