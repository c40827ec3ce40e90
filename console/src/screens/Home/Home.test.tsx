import { render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { App } from "../../App";
import { installFakeServer, meWith } from "../../test/fakeServer";

const noUsers = () => ({
  users: { totalCount: 0, pageInfo: { hasNextPage: false, endCursor: null }, edges: [] },
});

function renderAt(path: string) {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <App />
    </MemoryRouter>,
  );
}

afterEach(() => vi.unstubAllGlobals());

describe("the users screen", () => {
  it("offers Enrol user to a role that may enrol", async () => {
    installFakeServer({ signedIn: true, resolvers: { Me: meWith({ READ_USERS: "ALLOW", ENROLL_USERS: "ALLOW" }), Users: noUsers } });
    renderAt("/");

    expect(await screen.findByText("Showing 0 of 0")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Enrol user" })).toBeInTheDocument();
  });

  it("does not offer Enrol user to a role that may not enrol", async () => {
    installFakeServer({ signedIn: true, resolvers: { Me: meWith({ READ_USERS: "CUSTOMERS_ONLY" }), Users: noUsers } });
    renderAt("/");

    expect(await screen.findByText("Showing 0 of 0")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Enrol user" })).not.toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "Activity log" })).not.toBeInTheDocument();
  });

  it("sends a visitor without a session to sign in", async () => {
    installFakeServer({ signedIn: false, resolvers: {} });
    renderAt("/");

    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
  });
});
