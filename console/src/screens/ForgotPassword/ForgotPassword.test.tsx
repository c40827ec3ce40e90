import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SessionProvider } from "../../session/SessionProvider";
import { installFakeServer } from "../../test/fakeServer";
import { ForgotPassword, SENT_SENTENCE } from "./ForgotPassword";

afterEach(() => vi.unstubAllGlobals());

describe("asking for a reset link", () => {
  it("sends the email typed and answers the same sentence whatever it is", async () => {
    const server = installFakeServer({
      signedIn: false,
      resolvers: { RequestPasswordReset: () => ({ requestPasswordReset: { ok: true, errors: [] } }) },
    });
    render(
      <MemoryRouter initialEntries={["/forgot-password"]}>
        <SessionProvider>
          <Routes>
            <Route path="/forgot-password" element={<ForgotPassword />} />
          </Routes>
        </SessionProvider>
      </MemoryRouter>,
    );
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Email"), " nobody@example.com ");
    await user.click(screen.getByRole("button", { name: "Send reset link" }));

    expect(await screen.findByRole("status")).toHaveTextContent(SENT_SENTENCE);
    expect(server.operations).toContainEqual({ name: "RequestPasswordReset", variables: { email: "nobody@example.com" } });
  });
});
