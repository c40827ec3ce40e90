import { useEffect, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { useDebouncedValue } from "../../api/useDebouncedValue";
import { useQuery } from "../../api/useQuery";
import { Loading } from "../../components/Loading";
import { formatPoints, roleLabel, ROLES } from "../../components/roles";
import type { Role } from "../../gql/graphql";
import { useSession } from "../../session/SessionProvider";
import { currentAfter, firstPage, hasPreviousPage, nextPage, previousPage } from "./cursorStack";
import { UsersDocument } from "./documents";

const PAGE_SIZE = 20;
const SEARCH_DELAY_MS = 250;

/** The users, newest first: search as you type, filter by role, page through. */
export function Home() {
  const { can } = useSession();
  const navigate = useNavigate();
  // The search and role live in the address, so Back from a user returns to the same list.
  const [params, setParams] = useSearchParams();
  const role = (params.get("role") ?? "") as Role | "";
  const [search, setSearch] = useState(params.get("search") ?? "");
  const settledSearch = useDebouncedValue(search.trim(), SEARCH_DELAY_MS);
  const setFilter = (name: "search" | "role", value: string) =>
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (value) next.set(name, value);
        else next.delete(name);
        return next;
      },
      { replace: true },
    );
  useEffect(() => {
    if (settledSearch !== (params.get("search") ?? "")) setFilter("search", settledSearch);
    // Only a settled search is written; params and setFilter are current at that render.
  }, [settledSearch]);
  // The pages belong to one search and role: a new one starts again from the first page.
  const filterKey = `${role}\u0000${settledSearch}`;
  const [paging, setPaging] = useState({ filterKey, pages: firstPage });
  const pages = paging.filterKey === filterKey ? paging.pages : firstPage;
  const setPages = (next: typeof firstPage) => setPaging({ filterKey, pages: next });

  const { data, error, loading } = useQuery(UsersDocument, {
    filter: { search: settledSearch || null, role: role || null },
    first: PAGE_SIZE,
    after: currentAfter(pages),
  });
  const users = data?.users;

  return (
    <>
      <h1>Users</h1>
      {can("ENROLL_USERS") && (
        <div className="actions">
          <button type="button" onClick={() => navigate("/users/new")}>
            Enrol user
          </button>
        </div>
      )}
      <div className="filters">
        <div className="field">
          <label htmlFor="users-search">Search</label>
          <input
            id="users-search"
            type="search"
            value={search}
            placeholder="Name or email"
            onChange={(event) => setSearch(event.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="users-role">Role</label>
          <select id="users-role" value={role} onChange={(event) => setFilter("role", event.target.value)}>
            <option value="">All roles</option>
            {ROLES.map(({ value, label }) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
      </div>
      {error && (
        <p role="alert" className="alert">
          {error}
        </p>
      )}
      {users && (
        <>
          <p aria-live="polite" className="muted">
            Showing {users.edges.length} of {users.totalCount}
          </p>
          <div className="table-wrap">
            <table aria-busy={loading}>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col" className="number">
                    Points
                  </th>
                </tr>
              </thead>
              <tbody>
                {users.edges.map(({ node }) => (
                  <tr key={node.id}>
                    <td>
                      <Link to={`/users/${node.id}`}>
                        {node.firstName} {node.lastName}
                      </Link>
                    </td>
                    <td>{node.email}</td>
                    <td>{roleLabel(node.role)}</td>
                    <td className="number">{formatPoints(node.totalPoints)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="actions">
            <button
              type="button"
              className="secondary"
              disabled={!hasPreviousPage(pages) || loading}
              onClick={() => setPages(previousPage(pages))}
            >
              Previous page
            </button>
            <button
              type="button"
              className="secondary"
              disabled={!users.pageInfo.hasNextPage || !users.pageInfo.endCursor || loading}
              onClick={() => users.pageInfo.endCursor && setPages(nextPage(pages, users.pageInfo.endCursor))}
            >
              Next page
            </button>
          </div>
        </>
      )}
      {!users && loading && (
        <Loading />
      )}
    </>
  );
}
