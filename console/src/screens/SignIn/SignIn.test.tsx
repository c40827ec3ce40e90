import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { App } from "../../App";
import { installFakeServer, meWith } from "../../test/fakeServer";

afterEach(() => vi.unstubAllGlobals());

async function signInRefusedWith(error: { code: string; message: string }) {
  installFakeServer({
    signedIn: false,
    resolvers: { SignIn: () => ({ signIn: { accessToken: null, errors: [{ ...error, field: null }] } }) },
  });
  render(
    <MemoryRouter initialEntries={["/sign-in"]}>
      <App />
    </MemoryRouter>,
  );
  const user = userEvent.setup();
  await user.type(await screen.findByLabelText("Email"), "sam@example.com");
  await user.type(screen.getByLabelText("Password"), "not the password");
  await user.click(screen.getByRole("button", { name: "Sign in" }));
  return screen.findByRole("alert");
}

describe("signing in", () => {
  it("says plainly that the email and password do not match", async () => {
    const alert = await signInRefusedWith({ code: "INVALID_CREDENTIALS", message: "wrong email or password" });

    expect(alert).toHaveTextContent("That email and password do not match a staff account.");
  });

  it("shows the server's words for a locked account", async () => {
    const alert = await signInRefusedWith({
      code: "ACCOUNT_LOCKED",
      message: "too many sign-in attempts; try again later",
    });

    expect(alert).toHaveTextContent("Too many sign-in attempts; try again later.");
  });

  it("takes a signed-in user back to the page they asked for", async () => {
    installFakeServer({
      signedIn: false,
      resolvers: {
        SignIn: () => ({ signIn: { accessToken: "token", errors: [] } }),
        Me: meWith({ READ_USERS: "ALLOW" }),
        Users: () => ({ users: { totalCount: 0, pageInfo: { hasNextPage: false, endCursor: null }, edges: [] } }),
      },
    });
    render(
      <MemoryRouter initialEntries={["/"]}>
        <App />
      </MemoryRouter>,
    );
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Email"), "sam@example.com");
    await user.type(screen.getByLabelText("Password"), "the right password");
    await user.click(screen.getByRole("button", { name: "Sign in" }));

    expect(await screen.findByRole("heading", { name: "Users" })).toBeInTheDocument();
  });
});
