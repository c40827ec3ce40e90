import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes } from "react-router";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SessionProvider } from "../../session/SessionProvider";
import { installFakeServer, meWith } from "../../test/fakeServer";
import { ActivityLog } from "./ActivityLog";

const entry = (id: string) => ({
  id,
  timestamp: "2026-11-30T09:00:00+00:00",
  action: "user.update",
  outcome: "SUCCESS",
  actorId: "u1",
  actorEmail: "owner@example.com",
  actorRole: "OWNER",
  targetType: "user",
  targetId: "u2",
  details: { before: { lastName: "Byron" }, after: { lastName: "King" } },
  sourceIp: null,
  userAgent: null,
  requestId: null,
});

const page = (ids: string[], hasNextPage: boolean) => ({
  logs: { edges: ids.map((id) => ({ node: entry(id) })), pageInfo: { hasNextPage, endCursor: hasNextPage ? "c1" : null } },
});

function openLog() {
  return render(
    <MemoryRouter initialEntries={["/logs"]}>
      <SessionProvider>
        <Routes>
          <Route path="/logs" element={<ActivityLog />} />
        </Routes>
      </SessionProvider>
    </MemoryRouter>,
  );
}

const zone = process.env.TZ;
beforeEach(() => {
  process.env.TZ = "Asia/Tokyo"; // UTC+9, no daylight saving
});
afterEach(() => {
  process.env.TZ = zone;
  vi.unstubAllGlobals();
});

describe("the activity log", () => {
  it("sends From and To as UTC instants", async () => {
    const server = installFakeServer({
      signedIn: true,
      resolvers: { Me: meWith({ READ_LOGS: "ALLOW" }), ActivityLog: () => page([], false) },
    });
    openLog();
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("From"), "2026-11-30T09:00");
    await user.type(screen.getByLabelText("To"), "2026-11-30T10:30");

    await waitFor(() =>
      expect(server.operations.at(-1)?.variables.filter).toMatchObject({
        since: "2026-11-30T00:00:00.000Z",
        until: "2026-11-30T01:30:59.999Z",
      }),
    );
  });

  it("loads the next page after the ones shown", async () => {
    const server = installFakeServer({
      signedIn: true,
      resolvers: {
        Me: meWith({ READ_LOGS: "ALLOW" }),
        ActivityLog: ({ after }) => (after ? page(["e2"], false) : page(["e1"], true)),
      },
    });
    openLog();
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Load more" }));

    await waitFor(() => expect(screen.getByText("Showing 2 entries")).toBeInTheDocument());
    expect(server.operations.at(-1)?.variables).toMatchObject({ after: "c1" });
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();
  });

  it("opens a row's detail with the fields before and after", async () => {
    installFakeServer({
      signedIn: true,
      resolvers: { Me: meWith({ READ_LOGS: "ALLOW" }), ActivityLog: () => page(["e1"], false) },
    });
    openLog();
    const user = userEvent.setup();
    const opener = await screen.findByRole("button", { expanded: false });
    await user.click(opener);

    expect(opener).toHaveAttribute("aria-expanded", "true");
    const row = screen.getByRole("row", { name: /lastName/ });
    expect(row).toHaveTextContent("Byron");
    expect(row).toHaveTextContent("King");
  });
});
