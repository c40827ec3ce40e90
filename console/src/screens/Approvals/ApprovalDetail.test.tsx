import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SessionProvider } from "../../session/SessionProvider";
import { installFakeServer, meWith } from "../../test/fakeServer";
import { ApprovalDetail } from "./ApprovalDetail";

const pending = {
  id: "r1",
  kind: "UPDATE_USER",
  status: "PENDING",
  targetId: "u2",
  change: { role: "MANAGER" },
  makerId: "u3",
  checkerId: null,
  comment: null,
  createdAt: "2026-11-30T09:00:00+00:00",
  decidedAt: null,
  viewerCanDecide: true,
  viewerCanCancel: false,
};

const people = () => ({
  user: { id: "u2", email: "ada@example.com", firstName: "Ada", lastName: "King", role: "USER" },
  maker: { id: "u3", email: "eng@example.com", firstName: "Eve", lastName: "Engineer", role: "ENGINEER" },
});

const listing = (...requests: object[]) => () => ({
  approvalRequests: { edges: requests.map((node) => ({ node })), pageInfo: { hasNextPage: false, endCursor: null } },
});

function openDetail(id: string) {
  return render(
    <MemoryRouter initialEntries={[`/approvals/${id}`]}>
      <SessionProvider>
        <Routes>
          <Route path="/approvals/:id" element={<ApprovalDetail />} />
        </Routes>
      </SessionProvider>
    </MemoryRouter>,
  );
}

afterEach(() => vi.unstubAllGlobals());

describe("an approval request's detail", () => {
  it("shows the proposed change beside the user as they are now", async () => {
    installFakeServer({
      signedIn: true,
      resolvers: { Me: meWith({ DECIDE_REQUESTS: "ALLOW" }), ApprovalRequests: listing(pending), ApprovalPeople: people },
    });
    openDetail("r1");

    const row = await screen.findByRole("row", { name: /Role/ });
    expect(row).toHaveTextContent("Customer");
    expect(row).toHaveTextContent("Manager");
    expect(screen.getByText("Eve Engineer (eng@example.com)")).toBeInTheDocument();
  });

  it("offers approve and reject to a checker, not cancel", async () => {
    installFakeServer({
      signedIn: true,
      resolvers: { Me: meWith({ DECIDE_REQUESTS: "ALLOW" }), ApprovalRequests: listing(pending), ApprovalPeople: people },
    });
    openDetail("r1");

    expect(await screen.findByRole("button", { name: "Approve" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Reject" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Cancel request" })).toBeNull();
  });

  it("offers only cancel to the maker", async () => {
    installFakeServer({
      signedIn: true,
      resolvers: {
        Me: meWith({}),
        ApprovalRequests: listing({ ...pending, viewerCanDecide: false, viewerCanCancel: true }),
        ApprovalPeople: people,
      },
    });
    openDetail("r1");

    expect(await screen.findByRole("button", { name: "Cancel request" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Approve" })).toBeNull();
    expect(screen.queryByLabelText("Comment")).toBeNull();
  });

  it("approves with the comment and shows the request as decided", async () => {
    const server = installFakeServer({
      signedIn: true,
      resolvers: {
        Me: meWith({ DECIDE_REQUESTS: "ALLOW" }),
        ApprovalRequests: listing(pending),
        ApprovalPeople: people,
        ApproveRequest: () => ({
          approveRequest: {
            approvalRequest: { ...pending, status: "APPROVED", viewerCanDecide: false, comment: "fine" },
            errors: [],
          },
        }),
      },
    });
    openDetail("r1");
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Comment"), "fine");
    await user.click(screen.getByRole("button", { name: "Approve" }));

    expect(await screen.findByText("Approved: the change is applied.")).toBeInTheDocument();
    expect(screen.getByText("Approved")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Approve" })).toBeNull();
    expect(server.operations.at(-1)).toEqual({ name: "ApproveRequest", variables: { id: "r1", comment: "fine" } });
  });

  it("shows a refusal plainly", async () => {
    installFakeServer({
      signedIn: true,
      resolvers: {
        Me: meWith({ DECIDE_REQUESTS: "ALLOW" }),
        ApprovalRequests: listing(pending),
        ApprovalPeople: people,
        RejectRequest: () => ({
          rejectRequest: {
            approvalRequest: null,
            errors: [{ code: "ALREADY_DECIDED", field: "id", message: "the request is APPROVED" }],
          },
        }),
      },
    });
    openDetail("r1");
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Reject" }));

    expect(await screen.findByRole("alert")).toHaveTextContent("The request is APPROVED.");
  });

  it("says so when the request is not among the caller's", async () => {
    installFakeServer({
      signedIn: true,
      resolvers: { Me: meWith({}), ApprovalRequests: listing(pending) },
    });
    openDetail("r9");

    expect(await screen.findByRole("alert")).toHaveTextContent("This approval request was not found");
  });
});
