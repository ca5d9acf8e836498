/** Who is signed in (`GET /api/auth/session`), shared by every page. */
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, ok, ProblemError, type Schemas } from "./api/client";

export type Session = Schemas["SessionInfo"];

interface SessionState {
  session: Session | null;
  loading: boolean;
  refresh: () => Promise<Session | null>;
  signedIn: (session: Session) => void;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(null);
  const [loading, setLoading] = useState(true);

  const refresh = useCallback(async () => {
    try {
      const current = await ok(api.GET("/api/auth/session"));
      setSession(current);
      return current;
    } catch (error) {
      if (error instanceof ProblemError && error.status === 401) {
        setSession(null);
        return null;
      }
      throw error;
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    refresh().catch(() => setLoading(false));
  }, [refresh]);

  const signOut = useCallback(async () => {
    await ok(api.POST("/api/auth/sign-out"));
    setSession(null);
  }, []);

  return (
    <SessionContext.Provider value={{ session, loading, refresh, signedIn: setSession, signOut }}>
      {children}
    </SessionContext.Provider>
  );
}

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error("useSession outside SessionProvider");
  return state;
}

export const isStaff = (session: Session | null) => session?.role === "admin" || session?.role === "finance";
