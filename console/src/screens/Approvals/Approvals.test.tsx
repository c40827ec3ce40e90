import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SessionProvider } from "../../session/SessionProvider";
import { installFakeServer, meWith } from "../../test/fakeServer";
import { Approvals } from "./Approvals";

const request = (id: string, kind: string, makerId: string, viewerCanDecide: boolean) => ({
  id,
  kind,
  status: "PENDING",
  targetId: `t-${id}`,
  change: {},
  makerId,
  checkerId: null,
  comment: null,
  createdAt: "2026-11-30T09:00:00+00:00",
  decidedAt: null,
  viewerCanDecide,
  viewerCanCancel: !viewerCanDecide,
});

// The fake server's `me` has the id "me": r2 is mine, r1 someone else's for me to decide.
const inbox = () => ({
  approvalRequests: {
    edges: [request("r1", "DELETE_USER", "other", true), request("r2", "ADJUST_POINTS", "me", false)].map((node) => ({ node })),
    pageInfo: { hasNextPage: false, endCursor: null },
  },
});

function openInbox() {
  return render(
    <MemoryRouter initialEntries={["/approvals"]}>
      <SessionProvider>
        <Routes>
          <Route path="/approvals" element={<Approvals />} />
        </Routes>
      </SessionProvider>
    </MemoryRouter>,
  );
}

afterEach(() => vi.unstubAllGlobals());

describe("the approvals inbox", () => {
  it("opens on what waits for a checker's decision, pending only", async () => {
    const server = installFakeServer({
      signedIn: true,
      resolvers: { Me: meWith({ DECIDE_REQUESTS: "ALLOW" }), ApprovalRequests: inbox },
    });
    openInbox();

    expect(await screen.findByRole("link", { name: "Delete user" })).toHaveAttribute("href", "/approvals/r1");
    expect(screen.queryByRole("link", { name: "Adjust points" })).toBeNull();
    expect(screen.getByRole("tab", { name: "To decide" })).toHaveAttribute("aria-selected", "true");
    expect(server.operations.at(-1)?.variables).toMatchObject({ status: "PENDING" });
  });

  it("lists my own requests under Mine", async () => {
    installFakeServer({ signedIn: true, resolvers: { Me: meWith({ DECIDE_REQUESTS: "ALLOW" }), ApprovalRequests: inbox } });
    openInbox();
    const user = userEvent.setup();
    await user.click(await screen.findByRole("tab", { name: "Mine" }));

    expect(await screen.findByRole("link", { name: "Adjust points" })).toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "Delete user" })).toBeNull();
  });

  it("opens on Mine for a role that decides nothing", async () => {
    installFakeServer({ signedIn: true, resolvers: { Me: meWith({ ENROLL_USERS: "REQUEST" }), ApprovalRequests: inbox } });
    openInbox();

    expect(await screen.findByRole("link", { name: "Adjust points" })).toBeInTheDocument();
    expect(screen.getByRole("tab", { name: "Mine" })).toHaveAttribute("aria-selected", "true");
  });
});
