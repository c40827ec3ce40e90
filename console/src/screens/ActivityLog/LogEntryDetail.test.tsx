import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { LogEntryDetail } from "./LogEntryDetail";
import type { LogEntry } from "./useLogPages";

const entry: LogEntry = {
  id: "e1",
  timestamp: "2026-11-30T09:15:00+00:00",
  action: "user.update",
  outcome: "SUCCESS",
  actorId: "u1",
  actorEmail: "owner@example.com",
  actorRole: "OWNER",
  targetType: "user",
  targetId: "u2",
  details: { before: { role: "USER" }, after: { role: "MANAGER" }, reason: "promoted" },
  sourceIp: "127.0.0.1",
  userAgent: "test",
  requestId: "r1",
};

describe("a log entry's detail", () => {
  it("shows each changed field with its value before and after in one row", () => {
    render(<LogEntryDetail entry={entry} headingId="h" />);
    const table = screen.getByRole("table", { name: "Before and after" });
    const row = within(table).getByRole("row", { name: /role/ });
    expect(within(row).getAllByRole("cell").map((cell) => cell.textContent)).toEqual(["USER", "MANAGER"]);
  });

  it("lists the other details by name and names the actor by email", () => {
    render(<LogEntryDetail entry={entry} headingId="h" />);
    expect(screen.getByText("reason").nextSibling?.textContent).toBe("promoted");
    expect(screen.getByText(/owner@example.com/)).toBeInTheDocument();
  });

  it("has no before-and-after table when nothing changed", () => {
    render(<LogEntryDetail entry={{ ...entry, action: "auth.sign_in", details: null }} headingId="h" />);
    expect(screen.queryByRole("table")).toBeNull();
  });
});
