import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { api } from "../api/client";
import type { MeQuery } from "../gql/graphql";
import { MeDocument } from "./documents";
import { accessTo, type Permission, type PermissionAccess } from "./permissions";

export type Me = NonNullable<MeQuery["me"]>;

export interface Session {
  status: "loading" | "signedOut" | "signedIn";
  me: Me | null;
  /** ALLOW / REQUEST / CUSTOMERS_ONLY, or undefined when the action is not allowed. */
  can(permission: Permission): PermissionAccess | undefined;
  /** After a mutation returned an access token (sign in, accept invitation, reset, change password). */
  signedIn(accessToken: string): Promise<void>;
  signOut(): Promise<void>;
}

const SessionContext = createContext<Session | null>(null);

/** Holds who is signed in: on load it trades the refresh cookie for an access token. */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [status, setStatus] = useState<Session["status"]>("loading");
  const [me, setMe] = useState<Me | null>(null);

  const loadMe = useCallback(async () => {
    try {
      const data = await api.request(MeDocument);
      setMe(data.me ?? null);
      setStatus(data.me ? "signedIn" : "signedOut");
    } catch {
      setMe(null);
      setStatus("signedOut");
    }
  }, []);

  useEffect(() => {
    let current = true;
    void api.refresh().then((ok) => {
      if (!current) return;
      if (ok) void loadMe();
      else setStatus("signedOut");
    });
    const stopListening = api.onSignedOut(() => {
      setMe(null);
      setStatus("signedOut");
    });
    return () => {
      current = false;
      stopListening();
    };
  }, [loadMe]);

  const signedIn = useCallback(
    async (accessToken: string) => {
      api.useAccessToken(accessToken);
      await loadMe();
    },
    [loadMe],
  );

  const signOut = useCallback(async () => {
    try {
      await api.signOut();
    } catch {
      // The server could not be reached: this page forgets the session all the same.
    } finally {
      setMe(null);
      setStatus("signedOut");
    }
  }, []);

  const session = useMemo<Session>(
    () => ({
      status,
      me,
      can: (permission) => accessTo(me?.permissions ?? [], permission),
      signedIn,
      signOut,
    }),
    [status, me, signedIn, signOut],
  );
  return <SessionContext value={session}>{children}</SessionContext>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession needs a <SessionProvider> above it");
  return session;
}
