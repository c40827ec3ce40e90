import type { ReactNode } from "react";
import { Navigate, useLocation } from "react-router";
import { Loading } from "../components/Loading";
import { useSession } from "./SessionProvider";

/** Where sign-in sends the user back to. */
export interface SignInState {
  from?: string;
}

/** Shows its children to a signed-in user; sends anyone else to /sign-in and back afterwards. */
export function RequireSession({ children }: { children: ReactNode }) {
  const { status } = useSession();
  const location = useLocation();
  if (status === "loading") return <Loading />;
  if (status === "signedOut") {
    const state: SignInState = { from: location.pathname + location.search + location.hash };
    return <Navigate to="/sign-in" replace state={state} />;
  }
  return children;
}
