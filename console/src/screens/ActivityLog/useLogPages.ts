import { api } from "../../api/client";
import { PageProblem, usePages, type Pages } from "../../api/usePages";
import type { ActivityLogQuery, LogFilter } from "../../gql/graphql";
import { ActorByEmailDocument, LogsDocument } from "./documents";
import { isEmail } from "./logFilter";

export type LogEntry = ActivityLogQuery["logs"]["edges"][number]["node"];

const PAGE_SIZE = 50;

/** The log filter with an actor's email replaced by that user's id. */
async function resolveActor(filter: LogFilter): Promise<LogFilter> {
  if (!isEmail(filter.actorId)) return filter;
  const { userByEmail } = await api.request(ActorByEmailDocument, { email: filter.actorId });
  if (!userByEmail) throw new PageProblem(`No user has the email ${filter.actorId}.`);
  return { ...filter, actorId: userByEmail.id };
}

/** The log entries matching `filter`, newest first, a page more at each `loadMore`; null: none. */
export function useLogPages(filter: LogFilter | null): Pages<LogEntry> {
  return usePages(filter && JSON.stringify(filter), async (after) => {
    const { logs } = await api.request(LogsDocument, {
      filter: await resolveActor(filter ?? {}),
      first: PAGE_SIZE,
      after,
    });
    return {
      items: logs.edges.map((edge) => edge.node),
      endCursor: logs.pageInfo.endCursor ?? null,
      hasNextPage: logs.pageInfo.hasNextPage,
    };
  });
}
