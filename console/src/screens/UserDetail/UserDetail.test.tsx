import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { App } from "../../App";
import { installFakeServer, meWith } from "../../test/fakeServer";

const OWNER = { READ_USERS: "ALLOW", ENROLL_USERS: "ALLOW", DELETE_USERS: "ALLOW", FORCE_PASSWORD_RESET: "ALLOW" };

const invitedEngineer = () => ({
  user: {
    id: "u1",
    email: "eve@example.com",
    firstName: "Eve",
    lastName: "Engineer",
    role: "ENGINEER",
    passwordSet: false,
    enrolledAt: "2026-11-30T03:00:00+00:00",
    pointsAccounts: [],
  },
});

function renderDetail() {
  render(
    <MemoryRouter initialEntries={["/users/u1"]}>
      <App />
    </MemoryRouter>,
  );
}

afterEach(() => vi.unstubAllGlobals());

describe("a user's page", () => {
  it("says an invitation is pending and resends it", async () => {
    const server = installFakeServer({
      signedIn: true,
      resolvers: {
        Me: meWith(OWNER),
        UserDetail: invitedEngineer,
        ResendInvitation: () => ({ resendInvitation: { user: { id: "u1" }, errors: [] } }),
      },
    });
    renderDetail();

    expect(await screen.findByText("Invitation pending")).toBeInTheDocument();
    await userEvent.setup().click(screen.getByRole("button", { name: "Resend invitation" }));

    expect(await screen.findByText("A new invitation is on its way.")).toBeInTheDocument();
    expect(server.operations.at(-1)).toEqual({ name: "ResendInvitation", variables: { userId: "u1" } });
  });

  it("deletes only once the deletion is confirmed", async () => {
    const server = installFakeServer({
      signedIn: true,
      resolvers: {
        Me: meWith(OWNER),
        UserDetail: invitedEngineer,
        DeleteUser: () => ({ deleteUser: { deletedUserId: "u1", approvalRequest: null, errors: [] } }),
        Users: () => ({ users: { totalCount: 0, pageInfo: { hasNextPage: false, endCursor: null }, edges: [] } }),
      },
    });
    renderDetail();
    const user = userEvent.setup();

    await user.click(await screen.findByRole("button", { name: "Delete" }));
    expect(screen.getByRole("alertdialog")).toHaveTextContent("Delete Eve Engineer?");
    expect(server.operations.map((operation) => operation.name)).not.toContain("DeleteUser");

    await user.click(screen.getByRole("button", { name: "Yes, delete" }));

    expect(await screen.findByRole("heading", { name: "Users" })).toBeInTheDocument();
    expect(server.operations.map((operation) => operation.name)).toContain("DeleteUser");
  });

  it("offers no actions to a role that may only read", async () => {
    installFakeServer({ signedIn: true, resolvers: { Me: meWith({ READ_USERS: "ALLOW" }), UserDetail: invitedEngineer } });
    renderDetail();

    expect(await screen.findByRole("heading", { name: "Eve Engineer" })).toBeInTheDocument();
    for (const name of ["Edit", "Adjust points", "Open account", "Delete", "Resend invitation", "Force password reset"]) {
      expect(screen.queryByRole("button", { name })).not.toBeInTheDocument();
    }
  });

  it("names the user in the page's title", async () => {
    installFakeServer({ signedIn: true, resolvers: { Me: meWith({ READ_USERS: "ALLOW" }), UserDetail: invitedEngineer } });
    renderDetail();

    await waitFor(() => expect(document.title).toBe("Eve Engineer · Loyalty console"));
  });
});
