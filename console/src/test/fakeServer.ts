/**
 * A scripted stand-in for the server, installed as the browser's fetch: the unit tests' boundary.
 * (The real server is exercised by the browser tests in tests/.)
 */
import { vi } from "vitest";

type Resolver = (variables: Record<string, unknown>) => unknown;

export interface FakeServer {
  /** Every GraphQL operation sent, by name, with its variables. */
  operations: { name: string; variables: Record<string, unknown> }[];
}

export function installFakeServer(options: { signedIn: boolean; resolvers: Record<string, Resolver> }): FakeServer {
  const server: FakeServer = { operations: [] };
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    if (url === "/auth/refresh") {
      return options.signedIn ? json({ accessToken: "token", expiresIn: 900 }) : json({ error: "no session" }, 401);
    }
    if (url === "/auth/sign-out") return new Response(null, { status: 204 });
    const { query, variables } = JSON.parse(String(init.body)) as { query: string; variables: Record<string, unknown> };
    const name = /(?:query|mutation)\s+(\w+)/.exec(query)?.[1] ?? "";
    server.operations.push({ name, variables });
    const resolver = options.resolvers[name];
    if (!resolver) throw new Error(`the fake server has no answer for ${name}`);
    return json({ data: resolver(variables) });
  });
  return server;
}

/** A `me` answer holding the given permissions. */
export function meWith(permissions: Record<string, string>) {
  return () => ({
    me: {
      id: "me",
      email: "staff@example.com",
      firstName: "Sam",
      lastName: "Staff",
      role: "MANAGER",
      permissions: Object.entries(permissions).map(([permission, access]) => ({ permission, access })),
    },
  });
}
