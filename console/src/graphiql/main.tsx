/** GraphiQL from its npm package, bundled with its styles: nothing is loaded from another origin and
 * nothing runs inline. Version 4 (CodeMirror) rather than 5 (Monaco): Monaco injects <style>
 * elements, which the console's policy (`style-src 'self'`, no 'unsafe-inline') refuses, leaving the
 * editor without its colours; version 4 works under that policy and is about a third of the size. */

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
