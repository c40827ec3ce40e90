import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
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

  it("searches once the typing pauses, not at every key", async () => {
    const server = installFakeServer({
      signedIn: true,
      resolvers: { Me: meWith({ READ_USERS: "ALLOW" }), Users: noUsers },
    });
    renderAt("/");
    const user = userEvent.setup();

    await user.type(await screen.findByLabelText("Search"), "ann");

    await waitFor(() =>
      expect(server.operations.filter((operation) => operation.name === "Users").map(searchOf)).toEqual([null, "ann"]),
    );
  });

  it("starts from the search and role in the address (Back returns to the same list)", async () => {
    const server = installFakeServer({
      signedIn: true,
      resolvers: { Me: meWith({ READ_USERS: "ALLOW" }), Users: noUsers },
    });
    renderAt("/?search=lee&role=MANAGER");

    expect(await screen.findByLabelText("Search")).toHaveValue("lee");
    expect(screen.getByLabelText("Role")).toHaveValue("MANAGER");
    await waitFor(() =>
      expect(server.operations.find((operation) => operation.name === "Users")?.variables.filter).toEqual({
        search: "lee",
        role: "MANAGER",
      }),
    );
  });
});

function searchOf(operation: { variables: Record<string, unknown> }) {
  return (operation.variables.filter as { search: string | null }).search;
}
