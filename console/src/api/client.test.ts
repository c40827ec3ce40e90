import { describe, expect, it } from "vitest";
import { ApiClient, postRefresh } from "./client";
import { ApiError } from "./errors";

/** A document as codegen makes them: a string that carries its types. */
const Me = Object.assign(new String("query Me { me { id } }"), {}) as unknown as {
  toString(): string;
  __apiType?: (variables: Record<string, never>) => { me: { id: string } | null };
};

type Call = { url: string; init: RequestInit };

/** A scripted server: answers in order and records what the client sent. */
function fakeServer(...answers: Array<() => Response>) {
  const calls: Call[] = [];
  const fetchImpl = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const answer = answers.shift();
    if (!answer) throw new Error(`unexpected request to ${url}`);
    return answer();
  }) as unknown as typeof fetch;
  return { calls, fetchImpl };
}

const json = (body: unknown, status = 200) => () =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
const unauthenticated = json({ data: null, errors: [{ message: "Sign in", extensions: { code: "UNAUTHENTICATED" } }] });
const meAnswer = json({ data: { me: { id: "7" } } });
const refreshed = (token: string) => json({ accessToken: token, expiresIn: 900 });

const authorization = (call: Call) => new Headers(call.init.headers).get("Authorization");

describe("ApiClient", () => {
  it("sends the cookie-mode header and the bearer token with every request", async () => {
    const server = fakeServer(meAnswer);
    const client = new ApiClient(server.fetchImpl);
    client.useAccessToken("old");

    await client.request(Me);

    const headers = new Headers(server.calls[0].init.headers);
    expect(headers.get("Loyalty-Refresh-Cookie")).toBe("1");
    expect(headers.get("Authorization")).toBe("Bearer old");
  });

  it("refreshes once and retries once when the access token has expired", async () => {
    const server = fakeServer(unauthenticated, refreshed("new"), meAnswer);
    const client = new ApiClient(server.fetchImpl);
    client.useAccessToken("old");

    await expect(client.request(Me)).resolves.toEqual({ me: { id: "7" } });

    expect(server.calls.map((call) => call.url)).toEqual(["/graphql", "/auth/refresh", "/graphql"]);
    expect(new Headers(server.calls[1].init.headers).get("Loyalty-Refresh-Cookie")).toBe("1");
    expect(authorization(server.calls[2])).toBe("Bearer new");
  });

  it("gives up and signs out when the retry is refused as well", async () => {
    const server = fakeServer(unauthenticated, refreshed("new"), unauthenticated);
    const client = new ApiClient(server.fetchImpl);
    client.useAccessToken("old");
    let signedOut = 0;
    client.onSignedOut(() => signedOut++);

    await expect(client.request(Me)).rejects.toMatchObject({ code: "UNAUTHENTICATED" });

    expect(server.calls).toHaveLength(3);
    expect(signedOut).toBe(1);
    expect(client.signedIn).toBe(false);
  });

  it("signs out without a retry when the refresh cookie is refused", async () => {
    const server = fakeServer(unauthenticated, json({ error: "expired" }, 401));
    const client = new ApiClient(server.fetchImpl);
    client.useAccessToken("old");
    let signedOut = 0;
    client.onSignedOut(() => signedOut++);

    await expect(client.request(Me)).rejects.toBeInstanceOf(ApiError);

    expect(server.calls.map((call) => call.url)).toEqual(["/graphql", "/auth/refresh"]);
    expect(signedOut).toBe(1);
  });

  it("shares one refresh between requests that fail at the same time", async () => {
    const server = fakeServer(unauthenticated, unauthenticated, refreshed("new"), meAnswer, meAnswer);
    const client = new ApiClient(server.fetchImpl);
    client.useAccessToken("old");

    await Promise.all([client.request(Me), client.request(Me)]);

    expect(server.calls.filter((call) => call.url === "/auth/refresh")).toHaveLength(1);
  });

  it("turns a refused request into a sentence, never the raw answer", async () => {
    const server = fakeServer(json({ data: null, errors: [{ message: "x", extensions: { code: "FORBIDDEN" } }] }));
    const client = new ApiClient(server.fetchImpl);

    await expect(client.request(Me)).rejects.toThrow("You are not allowed to do that.");
  });

  it("says the server could not be reached when the network fails", async () => {
    const client = new ApiClient((async () => {
      throw new TypeError("Failed to fetch");
    }) as unknown as typeof fetch);

    await expect(client.request(Me)).rejects.toMatchObject({ code: "NETWORK_ERROR" });
  });

  it("forgets the access token on sign-out", async () => {
    const server = fakeServer(() => new Response(null, { status: 204 }));
    const client = new ApiClient(server.fetchImpl);
    client.useAccessToken("old");

    await client.signOut();

    expect(server.calls[0].url).toBe("/auth/sign-out");
    expect(client.signedIn).toBe(false);
  });

  it("retries with a token another request refreshed meanwhile, without refreshing again", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const calls: string[] = [];
    const client = new ApiClient((async (url: string, init: RequestInit) => {
      const token = new Headers(init.headers).get("Authorization");
      calls.push(`${url} ${token ?? ""}`.trim());
      if (url === "/auth/refresh") return refreshed("new")();
      if (token === "Bearer old") {
        if (calls.length === 1) await held; // the first request's refusal arrives late
        return unauthenticated();
      }
      return meAnswer();
    }) as unknown as typeof fetch);
    client.useAccessToken("old");

    const slow = client.request(Me);
    await client.request(Me); // refused, refreshes, retries
    release();
    await slow;

    expect(calls.filter((call) => call === "/auth/refresh")).toHaveLength(1);
    expect(calls.at(-1)).toBe("/graphql Bearer new");
  });
});

describe("postRefresh", () => {
  it("takes the browser's refresh lock, so two tabs never present one cookie at once", async () => {
    const order: string[] = [];
    let held: Promise<unknown> = Promise.resolve();
    const locks = {
      // An exclusive lock as the Web Locks API grants it: each callback after the one before has settled.
      request: (name: string, callback: () => Promise<unknown>) => {
        order.push(`lock ${name}`);
        const run = held.then(callback);
        held = run.catch(() => undefined);
        return run;
      },
    };
    let answered = 0;
    const fetchImpl = (async (url: string) => {
      order.push(`start ${url}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push(`end ${url}`);
      return refreshed(`token ${++answered}`)();
    }) as unknown as typeof fetch;
    const original = Object.getOwnPropertyDescriptor(globalThis.navigator, "locks");
    Object.defineProperty(globalThis.navigator, "locks", { value: locks, configurable: true });
    try {
      await Promise.all([postRefresh(fetchImpl), postRefresh(fetchImpl)]);
    } finally {
      if (original) Object.defineProperty(globalThis.navigator, "locks", original);
      else Reflect.deleteProperty(globalThis.navigator, "locks");
    }

    expect(order).toEqual([
      "lock loyalty-refresh",
      "lock loyalty-refresh",
      "start /auth/refresh",
      "end /auth/refresh",
      "start /auth/refresh",
      "end /auth/refresh",
    ]);
  });
});
