import { api } from "../../api/client";
import { usePages, type Page } from "../../api/usePages";
import { Loading } from "../../components/Loading";
import { formatPoints } from "../../components/roles";
import type { AccountLedgerQuery } from "../../gql/graphql";
import { AccountLedgerDocument } from "./documents";

const PAGE_SIZE = 20;

type Row = NonNullable<AccountLedgerQuery["pointsAccount"]>["transactions"]["edges"][number]["node"];

const ACTION_WORDS: Record<Row["action"], string> = { ADD: "Added", DEDUCT: "Deducted", OVERRIDE: "Set to" };

async function fetchPage(accountId: string, after: string | null): Promise<Page<Row>> {
  const data = await api.request(AccountLedgerDocument, { id: accountId, first: PAGE_SIZE, after });
  const transactions = data.pointsAccount?.transactions;
  return {
    items: transactions?.edges.map((edge) => edge.node) ?? [],
    endCursor: transactions?.pageInfo.endCursor ?? null,
    hasNextPage: transactions?.pageInfo.hasNextPage ?? false,
  };
}

/** The ledger of one account, newest first; "Load more" appends the next rows. */
export function Ledger({ accountId, program }: { accountId: string; program: string }) {
  const { items: rows, hasNextPage, loading, error, loadMore } = usePages(accountId, (after) =>
    fetchPage(accountId, after),
  );

  return (
    <section aria-labelledby="ledger-heading">
      <h2 id="ledger-heading">Ledger: {program}</h2>
      {error && (
        <p role="alert" className="alert">
          {error}
        </p>
      )}
      {!loading && !error && rows.length === 0 && <p>No points have moved on this account yet.</p>}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Change</th>
                <th scope="col" className="number">
                  Balance after
                </th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.id}>
                  <td>{new Date(row.createdAt).toLocaleString("en-GB")}</td>
                  <td>
                    {ACTION_WORDS[row.action]} {formatPoints(row.amount)}
                  </td>
                  <td className="number">{formatPoints(row.balanceAfter)}</td>
                  <td>{row.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {hasNextPage && (
        <div className="actions">
          <button
            type="button"
            className="secondary"
            disabled={loading}
            onClick={loadMore}
          >
            Load more
          </button>
        </div>
      )}
      {rows.length === 0 && loading && (
        <Loading />
      )}
    </section>
  );
}
