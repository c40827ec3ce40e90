import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SessionProvider } from "../../session/SessionProvider";
import { installFakeServer, meWith } from "../../test/fakeServer";
import { AcceptInvitation } from "../AcceptInvitation/AcceptInvitation";
import { ResetPassword } from "./ResetPassword";

/** Opens `path` as the emailed link would: the token in the real address's fragment. */
function openLink(path: string, hash: string) {
  window.history.replaceState(null, "", `${path}${hash}`);
  return render(
    <MemoryRouter initialEntries={[path]}>
      <SessionProvider>
        <Routes>
          <Route path="/reset-password" element={<ResetPassword />} />
          <Route path="/accept-invitation" element={<AcceptInvitation />} />
          <Route path="/" element={<h1>Users</h1>} />
        </Routes>
      </SessionProvider>
    </MemoryRouter>,
  );
}

const link = (purpose: string) => () => ({
  passwordLink: { purpose, email: "new@example.com", expiresAt: "2026-12-01T00:00:00+00:00" },
});

afterEach(() => vi.unstubAllGlobals());

describe("setting a password from an emailed link", () => {
  it("reads the token from the fragment, then takes it off the address bar", async () => {
    const server = installFakeServer({ signedIn: false, resolvers: { PasswordLink: link("RESET") } });
    openLink("/reset-password", "#token=secret-token");

    expect(await screen.findByText("new@example.com")).toBeInTheDocument();
    expect(window.location.hash).toBe("");
    expect(window.location.pathname).toBe("/reset-password");
    expect(server.operations).toContainEqual({ name: "PasswordLink", variables: { token: "secret-token" } });
  });

  it("says the link is no longer valid when the server does not know it", async () => {
    installFakeServer({ signedIn: false, resolvers: { PasswordLink: () => ({ passwordLink: null }) } });
    openLink("/accept-invitation", "#token=used-token");

    expect(await screen.findByText("This link is no longer valid")).toBeInTheDocument();
    expect(screen.queryByLabelText("New password")).toBeNull();
  });

  it("says the same without a token, asking the server nothing", async () => {
    const server = installFakeServer({ signedIn: false, resolvers: {} });
    openLink("/reset-password", "");

    expect(await screen.findByText("This link is no longer valid")).toBeInTheDocument();
    expect(server.operations).toEqual([]);
  });

  it("does not use a reset link as an invitation", async () => {
    installFakeServer({ signedIn: false, resolvers: { PasswordLink: link("RESET") } });
    openLink("/accept-invitation", "#token=reset-token");

    expect(await screen.findByText("This link is no longer valid")).toBeInTheDocument();
  });

  it("accepts an invitation, signs the new staff member in and lands on the home page", async () => {
    const server = installFakeServer({
      signedIn: false,
      resolvers: {
        PasswordLink: link("INVITATION"),
        AcceptInvitation: () => ({ acceptInvitation: { accessToken: "new-token", errors: [] } }),
        Me: meWith({}),
      },
    });
    openLink("/accept-invitation", "#token=invite-token");
    const user = userEvent.setup();
    expect(await screen.findByRole("heading", { name: "Welcome" })).toBeInTheDocument();
    await user.type(await screen.findByLabelText("New password"), "a-long-new-password");
    await user.type(screen.getByLabelText("Repeat new password"), "a-long-new-password");
    await user.click(screen.getByRole("button", { name: "Set password" }));

    expect(await screen.findByRole("heading", { name: "Users" })).toBeInTheDocument();
    expect(server.operations).toContainEqual({
      name: "AcceptInvitation",
      variables: { token: "invite-token", password: "a-long-new-password" },
    });
  });

  it("shows a common password refused by the server on the new password's field", async () => {
    installFakeServer({
      signedIn: false,
      resolvers: {
        PasswordLink: link("RESET"),
        ResetPassword: () => ({
          resetPassword: {
            accessToken: null,
            errors: [{ code: "WEAK_PASSWORD", field: "password", message: "this password is too common" }],
          },
        }),
      },
    });
    openLink("/reset-password", "#token=reset-token");
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("New password"), "password1234");
    await user.type(screen.getByLabelText("Repeat new password"), "password1234");
    await user.click(screen.getByRole("button", { name: "Set password" }));

    expect(await screen.findByText("This password is too common.")).toBeInTheDocument();
    expect(screen.getByLabelText("New password")).toHaveAccessibleDescription("This password is too common.");
  });
});
