/** GraphiQL from its npm package, bundled with its editor's workers and styles: nothing is loaded
 * from another origin and nothing runs inline, so the page works under `script-src 'self'`. */

import "graphiql/setup-workers/vite";
import "graphiql/style.css";
import "./graphiql.css";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { GraphiQL } from "graphiql";
import { createSessionFetcher } from "./sessionFetcher";

const session = createSessionFetcher();

async function start(root: HTMLElement): Promise<void> {
  const signedIn = await session.signIn();
  createRoot(root).render(
    <StrictMode>
      <GraphiQL fetcher={session.fetcher}>
        <GraphiQL.Logo>
          GraphiQL <span className="loyalty-graphiql-who">{signedIn ? "with your console session" : "anonymous"}</span>
        </GraphiQL.Logo>
      </GraphiQL>
    </StrictMode>,
  );
}

const root = document.getElementById("graphiql");
if (root) void start(root);
