import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { App } from "../../App";
import { installFakeServer, meWith } from "../../test/fakeServer";

function renderEnrol() {
  return render(
    <MemoryRouter initialEntries={["/users/new"]}>
      <App />
    </MemoryRouter>,
  );
}

afterEach(() => vi.unstubAllGlobals());

describe("the enrol screen", () => {
  it("shows a server error on the email under the Email field", async () => {
    installFakeServer({
      signedIn: true,
      resolvers: {
        Me: meWith({ ENROLL_USERS: "ALLOW" }),
        EnrollUser: () => ({
          enrollUser: {
            user: null,
            approvalRequest: null,
            errors: [{ code: "CONFLICT", field: "input.email", message: "a user with that email exists" }],
          },
        }),
      },
    });
    renderEnrol();
    const user = userEvent.setup();

    await user.type(await screen.findByLabelText("Email"), "ann@example.com");
    await user.type(screen.getByLabelText("First name"), "Ann");
    await user.type(screen.getByLabelText("Last name"), "Lee");
    await user.click(screen.getByRole("button", { name: "Enrol" }));

    const email = screen.getByLabelText("Email");
    expect(await screen.findByText("A user with that email exists.")).toBeInTheDocument();
    expect(email).toHaveAttribute("aria-invalid", "true");
    expect(email).toHaveAccessibleDescription("A user with that email exists.");
    expect(screen.getByLabelText("First name")).not.toHaveAttribute("aria-invalid");
    expect(email).toHaveFocus();
  });

  it("asks for enrolment when the role only makes requests, and says it was sent", async () => {
    installFakeServer({
      signedIn: true,
      resolvers: {
        Me: meWith({ ENROLL_USERS: "REQUEST" }),
        EnrollUser: () => ({ enrollUser: { user: null, approvalRequest: { id: "r1" }, errors: [] } }),
      },
    });
    renderEnrol();
    const user = userEvent.setup();

    await user.type(await screen.findByLabelText("Email"), "ann@example.com");
    await user.click(screen.getByRole("button", { name: "Request enrolment" }));

    expect(await screen.findByText("Sent for approval")).toBeInTheDocument();
  });
});
