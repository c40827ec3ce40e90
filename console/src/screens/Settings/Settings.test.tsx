import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SessionProvider } from "../../session/SessionProvider";
import { installFakeServer, meWith } from "../../test/fakeServer";
import { Settings } from "./Settings";

function renderSettings() {
  return render(
    <MemoryRouter initialEntries={["/settings"]}>
      <SessionProvider>
        <Routes>
          <Route path="/settings" element={<Settings />} />
        </Routes>
      </SessionProvider>
    </MemoryRouter>,
  );
}

async function fillPasswords(current: string, next: string, repeat: string) {
  const user = userEvent.setup();
  await user.type(await screen.findByLabelText("Current password"), current);
  await user.type(screen.getByLabelText("New password"), next);
  await user.type(screen.getByLabelText("Repeat new password"), repeat);
  await user.click(screen.getByRole("button", { name: "Change password" }));
}

afterEach(() => vi.unstubAllGlobals());

describe("the settings screen", () => {
  it("refuses a short new password on its field without asking the server", async () => {
    const server = installFakeServer({ signedIn: true, resolvers: { Me: meWith({}) } });
    renderSettings();
    await fillPasswords("the-old-password", "too-short", "too-short");

    expect(screen.getByLabelText("New password")).toHaveAccessibleDescription("Use at least 12 characters.");
    expect(server.operations.map((operation) => operation.name)).not.toContain("ChangePassword");
  });

  it("refuses two different new passwords on the repeat field", async () => {
    const server = installFakeServer({ signedIn: true, resolvers: { Me: meWith({}) } });
    renderSettings();
    await fillPasswords("the-old-password", "a-new-password-1", "a-new-password-2");

    expect(screen.getByLabelText("Repeat new password")).toHaveAccessibleDescription("The two passwords do not match.");
    expect(server.operations.map((operation) => operation.name)).not.toContain("ChangePassword");
  });

  it("shows a wrong current password on the current password's field", async () => {
    installFakeServer({
      signedIn: true,
      resolvers: {
        Me: meWith({}),
        ChangePassword: () => ({
          changePassword: {
            accessToken: null,
            errors: [{ code: "INVALID_CREDENTIALS", field: "currentPassword", message: "wrong password" }],
          },
        }),
      },
    });
    renderSettings();
    await fillPasswords("not-my-password", "a-new-password-1", "a-new-password-1");

    expect(await screen.findByText("That is not your current password.")).toBeInTheDocument();
    expect(screen.getByLabelText("Current password")).toHaveAttribute("aria-invalid", "true");
  });

  it("changes the password and keeps the user signed in with the fresh session", async () => {
    const server = installFakeServer({
      signedIn: true,
      resolvers: {
        Me: meWith({}),
        ChangePassword: () => ({ changePassword: { accessToken: "fresh", errors: [] } }),
      },
    });
    renderSettings();
    await fillPasswords("the-old-password", "a-new-password-1", "a-new-password-1");

    expect(await screen.findByText("Your password was changed. Your other sessions have ended.")).toBeInTheDocument();
    expect(server.operations.find((operation) => operation.name === "ChangePassword")?.variables).toEqual({
      currentPassword: "the-old-password",
      newPassword: "a-new-password-1",
    });
  });

  it("offers log retention only to a role allowed to set it", async () => {
    installFakeServer({ signedIn: true, resolvers: { Me: meWith({ READ_LOGS: "ALLOW" }) } });
    renderSettings();
    expect(await screen.findByRole("heading", { name: "Password" })).toBeInTheDocument();
    expect(screen.queryByRole("heading", { name: "Log retention" })).toBeNull();
  });

  it("shows and saves the log retention for an owner", async () => {
    const server = installFakeServer({
      signedIn: true,
      resolvers: {
        Me: meWith({ SET_LOG_RETENTION: "ALLOW" }),
        LogRetention: () => ({ logRetentionDays: 90 }),
        SetLogRetention: ({ days }) => ({ setLogRetention: { logRetentionDays: days, errors: [] } }),
      },
    });
    renderSettings();
    const user = userEvent.setup();
    const days = await screen.findByLabelText("Days");
    await screen.findByDisplayValue("90");
    await user.clear(days);
    await user.type(days, "30");
    await user.click(screen.getByRole("button", { name: "Save" }));

    expect(await screen.findByText("Log entries are now kept 30 days.")).toBeInTheDocument();
    expect(server.operations.at(-1)).toEqual({ name: "SetLogRetention", variables: { days: 30 } });
  });
});
