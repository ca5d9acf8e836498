/** Layout, navigation and routes. Member pages need a member session, staff pages a staff one; anyone else is
 * sent to sign in (the API refuses them anyway: this only saves a round trip). */
import type { ReactNode } from "react";
import { BrowserRouter, Link, Navigate, NavLink, Route, Routes, useLocation, useNavigate } from "react-router";
import { api, ok } from "./api/client";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { Card, Empty, Loading, Page, useLoad } from "./components/ui";
import { money } from "./format";
import { SignIn, SignUp, VerifyEmail } from "./pages/member/Auth";
import { MemberDashboard } from "./pages/member/Dashboard";
import { CheckoutComplete, Join } from "./pages/member/Join";
import { Notifications, Payments } from "./pages/member/Lists";
import { Profile } from "./pages/member/Profile";
import { Security } from "./pages/member/Security";
import { NotificationSettings } from "./pages/member/Settings";
import { MyPayouts, RoundEntry } from "./pages/member/Winner";
import { MemberDetail, MemberSearch } from "./pages/staff/Members";
import { AuditLog, Exports, KycReviews } from "./pages/staff/Oversight";
import { PayoutDetail } from "./pages/staff/PayoutDetail";
import { Payouts } from "./pages/staff/Payouts";
import { StaffDashboard } from "./pages/staff/StaffDashboard";
import { isStaff, SessionProvider, useSession } from "./session";

function Nav() {
  const { session, signOut } = useSession();
  const navigate = useNavigate();
  const staff = isStaff(session);
  return (
    <header className="top">
      <Link to="/" className="brand">
        Tenure
      </Link>
      <nav aria-label="Main">
        <ul>
          {session && !staff && (
            <>
              <li><NavLink to="/dashboard">Dashboard</NavLink></li>
              <li><NavLink to="/payments">Payments</NavLink></li>
              <li><NavLink to="/notifications">Notifications</NavLink></li>
              <li><NavLink to="/payouts">Payouts</NavLink></li>
              <li><NavLink to="/profile">Profile</NavLink></li>
              <li><NavLink to="/settings">Settings</NavLink></li>
            </>
          )}
          {staff && (
            <>
              <li><NavLink to="/staff" end>Program</NavLink></li>
              <li><NavLink to="/staff/members">Members</NavLink></li>
              <li><NavLink to="/staff/kyc">Identity reviews</NavLink></li>
              <li><NavLink to="/staff/payouts">Payouts</NavLink></li>
              <li><NavLink to="/staff/audit">Audit log</NavLink></li>
              <li><NavLink to="/staff/exports">Exports</NavLink></li>
            </>
          )}
          {session && <li><NavLink to="/security">Security</NavLink></li>}
          {session ? (
            <li>
              <button type="button" className="link" onClick={async () => { await signOut(); navigate("/"); }}>
                Sign out
              </button>
            </li>
          ) : (
            <>
              <li><NavLink to="/sign-in">Sign in</NavLink></li>
              <li><NavLink to="/sign-up">Join</NavLink></li>
            </>
          )}
        </ul>
      </nav>
    </header>
  );
}

function Home() {
  const stats = useLoad(() => ok(api.GET("/api/queue/stats")));
  const { session } = useSession();
  if (session) return <Navigate to={isStaff(session) ? "/staff" : "/dashboard"} replace />;
  return (
    <Page title="Tenure">
      <p className="lead">
        Members pay a joining fee and monthly dues and wait in one line, ordered by continuous membership. When the fund
        holds enough, the longest-standing eligible members are each paid the reward.
      </p>
      <Card title="The program today">
        {!stats.value ? (
          stats.error ? <Empty>Statistics are not available right now.</Empty> : <Loading />
        ) : (
          <dl className="facts">
            <dt>Members in line</dt>
            <dd>{stats.value.size}</dd>
            <dt>Reward fund</dt>
            <dd>{money(stats.value.fund)}</dd>
            <dt>Winners so far</dt>
            <dd>{stats.value.winnersSoFar}</dd>
          </dl>
        )}
      </Card>
      <p>
        <Link className="button" to="/sign-up">Become a member</Link> <Link to="/sign-in">Sign in</Link>
      </p>
    </Page>
  );
}

function Guard({ staff, children }: { staff: boolean; children: ReactNode }) {
  const { session, loading } = useSession();
  const location = useLocation();
  if (loading) return <Loading />;
  if (!session) return <Navigate to={`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  if (staff !== isStaff(session)) return <Navigate to={isStaff(session) ? "/staff" : "/dashboard"} replace />;
  return <>{children}</>;
}

function NotFound() {
  return (
    <Page title="Page not found">
      <p>
        There is no such page. <Link to="/">Go home</Link>
      </p>
    </Page>
  );
}

export function App() {
  const member = (page: ReactNode) => <Guard staff={false}>{page}</Guard>;
  const staff = (page: ReactNode) => <Guard staff>{page}</Guard>;
  return (
    <BrowserRouter>
      <SessionProvider>
        <a href="#main" className="skip">Skip to content</a>
        <Nav />
        <main id="main">
          <ErrorBoundary>
          <Routes>
            <Route path="/" element={<Home />} />
            <Route path="/sign-up" element={<SignUp />} />
            <Route path="/verify-email" element={<VerifyEmail />} />
            <Route path="/sign-in" element={<SignIn />} />
            <Route path="/dashboard" element={member(<MemberDashboard />)} />
            <Route path="/profile" element={member(<Profile />)} />
            <Route path="/join" element={member(<Join />)} />
            <Route path="/checkout/complete" element={member(<CheckoutComplete />)} />
            <Route path="/billing" element={member(<Payments />)} />
            <Route path="/payments" element={member(<Payments />)} />
            <Route path="/notifications" element={member(<Notifications />)} />
            <Route path="/settings" element={member(<NotificationSettings />)} />
            <Route path="/payouts" element={member(<MyPayouts />)} />
            <Route path="/rounds/:roundKey" element={member(<RoundEntry />)} />
            <Route path="/security" element={<SecurityRoute />} />
            <Route path="/staff" element={staff(<StaffDashboard />)} />
            <Route path="/staff/members" element={staff(<MemberSearch />)} />
            <Route path="/staff/members/:accountId" element={staff(<MemberDetail />)} />
            <Route path="/staff/kyc" element={staff(<KycReviews />)} />
            <Route path="/staff/payouts" element={staff(<Payouts />)} />
            <Route path="/staff/payouts/:payoutId" element={staff(<PayoutDetail />)} />
            <Route path="/staff/audit" element={staff(<AuditLog />)} />
            <Route path="/staff/exports" element={staff(<Exports />)} />
            <Route path="*" element={<NotFound />} />
          </Routes>
          </ErrorBoundary>
        </main>
      </SessionProvider>
    </BrowserRouter>
  );
}

/** Security settings are for everyone signed in (staff enrol their second factor here first). */
function SecurityRoute() {
  const { session, loading } = useSession();
  if (loading) return <Loading />;
  if (!session) return <Navigate to="/sign-in" replace />;
  return <Security />;
}
