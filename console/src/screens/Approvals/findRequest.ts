/** The API lists approval requests but has no query for one by id, so the detail page (the email's
 * link) pages through the caller's list, newest first, until it meets the id. */
import { api } from "../../api/client";
import type { Page } from "../../api/usePages";
import type { ApprovalFieldsFragment } from "../../gql/graphql";
import { ApprovalRequestsDocument } from "./documents";

export type ApprovalRequest = ApprovalFieldsFragment;

const PAGE_SIZE = 100;
const MAX_PAGES = 20;

/** The first item `matches` in pages read one after another; null when none is within `maxPages`. */
export async function findInPages<T>(
  fetchPage: (after: string | null) => Promise<Page<T>>,
  matches: (item: T) => boolean,
  maxPages = MAX_PAGES,
): Promise<T | null> {
  let after: string | null = null;
  for (let read = 0; read < maxPages; read++) {
    const page: Page<T> = await fetchPage(after);
    const found = page.items.find(matches);
    if (found !== undefined) return found;
    if (!page.hasNextPage || !page.endCursor) return null;
    after = page.endCursor;
  }
  return null;
}

export async function approvalRequestsPage(
  status: ApprovalRequest["status"] | null,
  after: string | null,
  first = PAGE_SIZE,
): Promise<Page<ApprovalRequest>> {
  const { approvalRequests } = await api.request(ApprovalRequestsDocument, { status, first, after });
  return {
    items: approvalRequests.edges.map((edge) => edge.node),
    endCursor: approvalRequests.pageInfo.endCursor ?? null,
    hasNextPage: approvalRequests.pageInfo.hasNextPage,
  };
}

/** The request with this id among those the caller made or may decide; null when not found. */
export function findApprovalRequest(id: string): Promise<ApprovalRequest | null> {
  return findInPages((after) => approvalRequestsPage(null, after), (request) => request.id === id);
}
