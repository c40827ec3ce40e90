import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { App } from "../../App";
import { installFakeServer, meWith } from "../../test/fakeServer";

const customer = () => ({
  user: { id: "u1", email: "ann@example.com", firstName: "Ann", lastName: "Lee", role: "USER" },
});

function renderEdit() {
  render(
    <MemoryRouter initialEntries={["/users/u1/edit"]}>
      <App />
    </MemoryRouter>,
  );
}

afterEach(() => vi.unstubAllGlobals());

describe("the edit screen", () => {
  it("sends only the fields that changed", async () => {
    const server = installFakeServer({
      signedIn: true,
      resolvers: {
        Me: meWith({ UPDATE_USERS: "ALLOW" }),
        EditableUser: customer,
        UpdateUser: () => ({ updateUser: { user: { id: "u1" }, approvalRequest: null, errors: [] } }),
        UserDetail: () => ({
          user: { ...customer().user, lastName: "Smith", passwordSet: null, enrolledAt: "2026-11-30T03:00:00+00:00", pointsAccounts: [] },
        }),
      },
    });
    renderEdit();
    const user = userEvent.setup();

    const lastName = await screen.findByLabelText("Last name");
    await user.clear(lastName);
    await user.type(lastName, "Smith");
    await user.click(screen.getByRole("button", { name: "Save" }));

    expect(await screen.findByRole("heading", { name: "Ann Smith" })).toBeInTheDocument();
    expect(server.operations.find((operation) => operation.name === "UpdateUser")?.variables).toEqual({
      id: "u1",
      input: { lastName: "Smith" },
    });
  });

  it("offers no Owner role without the right to manage owners", async () => {
    installFakeServer({ signedIn: true, resolvers: { Me: meWith({ UPDATE_USERS: "REQUEST" }), EditableUser: customer } });
    renderEdit();

    const role = await screen.findByLabelText("Role");
    expect(screen.getByRole("button", { name: "Request change" })).toBeInTheDocument();
    expect([...(role as HTMLSelectElement).options].map((option) => option.value)).not.toContain("OWNER");
  });
});
