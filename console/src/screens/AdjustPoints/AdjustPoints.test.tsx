import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { App } from "../../App";
import { installFakeServer, meWith, type FakeServer } from "../../test/fakeServer";

const customer = () => ({
  user: {
    id: "u1",
    firstName: "Ann",
    lastName: "Lee",
    role: "USER",
    pointsAccounts: [{ id: "a1", program: "default", balance: 500 }],
  },
});
const applied = () => ({ adjustPoints: { account: { id: "a1", balance: 620 }, approvalRequest: null, errors: [] } });

function idempotencyKeys(server: FakeServer): string[] {
  return server.operations
    .filter((operation) => operation.name === "AdjustPoints")
    .map((operation) => (operation.variables.input as { idempotencyKey: string }).idempotencyKey);
}

function renderAdjust() {
  render(
    <MemoryRouter initialEntries={["/users/u1/adjust"]}>
      <App />
    </MemoryRouter>,
  );
  return userEvent.setup();
}

async function reviewAdding(user: ReturnType<typeof userEvent.setup>, amount: string) {
  await user.type(await screen.findByLabelText("Amount"), amount);
  await user.type(screen.getByLabelText("Reason"), "goodwill");
  await user.click(screen.getByRole("button", { name: "Review" }));
}

afterEach(() => vi.unstubAllGlobals());

describe("adjusting points", () => {
  it("previews the new balance from the account's balance", async () => {
    installFakeServer({ signedIn: true, resolvers: { Me: meWith({ ADJUST_POINTS: "ALLOW" }), AdjustableUser: customer } });
    const user = renderAdjust();

    await user.type(await screen.findByLabelText("Amount"), "120");
    expect(screen.getByText("New balance: 620")).toBeInTheDocument();

    await user.click(screen.getByLabelText(/DEDUCT/));
    expect(screen.getByText("New balance: 380")).toBeInTheDocument();

    await user.click(screen.getByLabelText(/OVERRIDE/));
    expect(screen.getByText("New balance: 120")).toBeInTheDocument();
  });

  it("retries with the same idempotency key after the network failed", async () => {
    let calls = 0;
    const server = installFakeServer({
      signedIn: true,
      resolvers: {
        Me: meWith({ ADJUST_POINTS: "ALLOW" }),
        AdjustableUser: customer,
        AdjustPoints: () => {
          calls += 1;
          if (calls === 1) throw new TypeError("Failed to fetch");
          return applied();
        },
      },
    });
    const user = renderAdjust();
    await reviewAdding(user, "120");

    await user.click(screen.getByRole("button", { name: "Confirm" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("could not be reached");
    await user.click(screen.getByRole("button", { name: "Confirm" }));

    expect(await screen.findByText("Done. New balance: 620")).toBeInTheDocument();
    const keys = idempotencyKeys(server);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
  });

  it("gives the next adjustment after a success a new key", async () => {
    const server = installFakeServer({
      signedIn: true,
      resolvers: { Me: meWith({ ADJUST_POINTS: "ALLOW" }), AdjustableUser: customer, AdjustPoints: applied },
    });
    const user = renderAdjust();

    await reviewAdding(user, "120");
    await user.click(screen.getByRole("button", { name: "Confirm" }));
    await screen.findByText("Done. New balance: 620");
    await reviewAdding(user, "120");
    await user.click(screen.getByRole("button", { name: "Confirm" }));

    await vi.waitFor(() => expect(idempotencyKeys(server)).toHaveLength(2));
    const keys = idempotencyKeys(server);
    expect(keys[1]).not.toBe(keys[0]);
  });

  it("says a request was sent when the role only proposes adjustments", async () => {
    installFakeServer({
      signedIn: true,
      resolvers: {
        Me: meWith({ ADJUST_POINTS: "REQUEST" }),
        AdjustableUser: customer,
        AdjustPoints: () => ({ adjustPoints: { account: null, approvalRequest: { id: "r1" }, errors: [] } }),
      },
    });
    const user = renderAdjust();
    await reviewAdding(user, "120");
    await user.click(screen.getByRole("button", { name: "Confirm" }));

    expect(await screen.findByText("Sent for approval")).toBeInTheDocument();
  });
});
