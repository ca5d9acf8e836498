/** The program at a glance for staff: members by status, inflow and fund history, payouts in flight, rounds,
 * alerts, and whether a payout round could happen now. */
import { Link } from "react-router";
import { api, ok } from "../../api/client";
import { BarChart } from "../../components/BarChart";
import { Card, Empty, Loading, Page, ProblemAlert, useLoad } from "../../components/ui";
import { centsText, money, when, words } from "../../format";

export function StaffDashboard() {
  const data = useLoad(() => ok(api.GET("/api/admin/dashboard")));
  const program = useLoad(() => ok(api.GET("/api/eligibility")));
  if (data.error) return <Page title="Program dashboard"><ProblemAlert error={data.error} /></Page>;
  if (!data.value) return <Loading />;
  const d = data.value;
  return (
    <Page title="Program dashboard">
      {d.alerts.length > 0 && (
        <div role="alert" className="alert">
          <strong>Needs attention:</strong> {d.alerts.map(words).join(", ")}
        </div>
      )}
      <div className="grid">
        <Card title="Members by status">
          <dl className="facts">
            {Object.entries(d.membersByStatus).map(([status, count]) => (
              <div key={status}>
                <dt>{words(status.toLowerCase())}</dt>
                <dd>{String(count)}</dd>
              </div>
            ))}
          </dl>
        </Card>
        <Card title="Reward fund">
          <p className="big">{centsText(d.fundCents)}</p>
          <p>Threshold for a round: {centsText(d.thresholdCents)}</p>
          <progress max={100} value={Math.min(100, Math.floor((d.fundCents * 100) / Math.max(1, d.thresholdCents)))} aria-label="Fund towards the threshold" />
          <BarChart title="Fund balance by month" bars={d.fundByMonth.map((m) => ({ label: m.month, value: m.cents }))} format={(v) => centsText(v)} />
        </Card>
        <Card title="Inflow">
          <BarChart title="Member payments by month" bars={d.inflowByMonth.map((m) => ({ label: m.month, value: m.cents }))} format={(v) => centsText(v)} />
        </Card>
        <Card title="Payout round now?">
          {program.value ? (
            <>
              <p>{program.value.payoutsPossible ? "Yes: every precondition holds." : "No."}</p>
              {program.value.blockers.length > 0 && <p>Blocked by: {program.value.blockers.map(words).join(", ")}</p>}
              <p>
                Fund {money(program.value.fund)}; would select {program.value.wouldSelect.length} of{" "}
                {program.value.winnersNow} possible winners.
              </p>
            </>
          ) : program.error ? (
            <ProblemAlert error={program.error} />
          ) : (
            <Loading />
          )}
          <Link to="/staff/payouts">Rounds and payouts</Link>
        </Card>
        <Card title="Payouts in flight">
          {Object.keys(d.openPayoutsByStatus).length === 0 ? (
            <Empty>None.</Empty>
          ) : (
            <dl className="facts">
              {Object.entries(d.openPayoutsByStatus).map(([status, count]) => (
                <div key={status}>
                  <dt>{words(status)}</dt>
                  <dd>{String(count)}</dd>
                </div>
              ))}
            </dl>
          )}
        </Card>
        <Card title="Recent rounds">
          {d.recentRounds.length === 0 ? (
            <Empty>No round yet.</Empty>
          ) : (
            <ul>
              {d.recentRounds.map((r) => (
                <li key={r.round}>
                  {r.round}: {r.winners} winner(s), {centsText(r.rewardCents)} each <small>{when(r.evaluatedAt)}</small>
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
    </Page>
  );
}
