/** The member's home: membership and place in line with the neighbour window, tenure, the fund's progress
 * towards the next payout, the next charge, identity verification, and the eligibility checklist. */
import { Link } from "react-router";
import { api, ok, type Schemas } from "../../api/client";
import { Card, Empty, Loading, Page, ProblemAlert, useAction, useLoad } from "../../components/ui";
import { day, money, when, words } from "../../format";

type Dashboard = Schemas["DashboardOut"];

export function MemberDashboard() {
  const home = useLoad(() => ok(api.GET("/api/dashboard")));
  const stats = useLoad(() => ok(api.GET("/api/queue/stats")));
  const rules = useLoad(() => ok(api.GET("/api/business-rules")));
  if (home.error) return <Page title="Your dashboard"><ProblemAlert error={home.error} /></Page>;
  if (!home.value) return <Loading what="Loading your dashboard" />;
  const d = home.value;
  return (
    <Page title="Your dashboard">
      <div className="grid">
        <MembershipCard d={d} reload={home.reload} />
        <QueueCard d={d} />
        <Card title="Reward fund">
          {stats.value && rules.value ? (
            <FundProgress stats={stats.value} threshold={rules.value.payoutThreshold} />
          ) : (
            <Loading />
          )}
        </Card>
        <Card title="Next charge">
          {d.nextCharge.dueAt ? (
            <p>
              <strong>{money(d.nextCharge.amount)}</strong> on {when(d.nextCharge.dueAt)}
            </p>
          ) : (
            <Empty>No charge is scheduled.</Empty>
          )}
          {d.nextCharge.overdueInvoices.length > 0 && <PayNow />}
          <p>
            <Link to="/payments">Payment history</Link>
          </p>
        </Card>
        <KycCard kyc={d.kyc} reload={home.reload} />
        <Card title="Can I be selected?">
          <p>{d.eligibility.eligible ? "Yes: you meet every rule today." : "Not yet: see what is missing below."}</p>
          <ul className="checklist">
            {d.eligibility.rules.map((rule) => (
              <li key={rule.rule} className={rule.ok ? "pass" : "fail"}>
                <span aria-hidden="true">{rule.ok ? "✓" : "✗"}</span> {words(rule.rule)}
                {!rule.ok && rule.reasons.length > 0 && <small> — {rule.reasons.map(words).join(", ")}</small>}
                <span className="visually-hidden">{rule.ok ? " (met)" : " (not met)"}</span>
              </li>
            ))}
          </ul>
        </Card>
        <Card title={`Notifications${d.unreadNotifications ? ` (${d.unreadNotifications} unread)` : ""}`}>
          {d.notifications.length === 0 ? (
            <Empty>Nothing yet.</Empty>
          ) : (
            <ul className="feed">
              {d.notifications.slice(0, 3).map((n) => (
                <li key={n.id}>
                  <strong>{n.title}</strong> <small>{when(n.createdAt)}</small>
                </li>
              ))}
            </ul>
          )}
          <Link to="/notifications">All notifications</Link>
        </Card>
      </div>
    </Page>
  );
}

function MembershipCard({ d, reload }: { d: Dashboard; reload: () => void }) {
  const action = useAction();
  const m = d.membership;
  const act = (path: "/api/subscriptions/me/cancel" | "/api/subscriptions/me/undo-cancel") =>
    action.run(async () => {
      await ok(api.POST(path));
      reload();
    });
  return (
    <Card title="Membership">
      {m.status === "none" ? (
        <>
          <Empty>You are not a member yet.</Empty>
          <Link className="button" to="/join">
            Join
          </Link>
        </>
      ) : (
        <>
          <dl className="facts">
            <dt>Status</dt>
            <dd>{words(m.status)}</dd>
            <dt>Member number</dt>
            <dd>{m.memberNumber ?? "—"}</dd>
            <dt>Member since</dt>
            <dd>{when(m.tenureStart)}</dd>
            {m.graceEndsAt && (
              <>
                <dt>Pay before</dt>
                <dd className="warning">{when(m.graceEndsAt)}</dd>
              </>
            )}
            {m.cancelEffectiveAt && (
              <>
                <dt>Ends</dt>
                <dd>{when(m.cancelEffectiveAt)}</dd>
              </>
            )}
          </dl>
          <ProblemAlert error={action.error} />
          {action.stepUp}
          {m.canCancel && (
            <button type="button" className="secondary" disabled={action.busy} onClick={() => act("/api/subscriptions/me/cancel")}>
              Cancel at the end of this month
            </button>
          )}
          {m.canUndo && (
            <button type="button" disabled={action.busy} onClick={() => act("/api/subscriptions/me/undo-cancel")}>
              Keep my membership
            </button>
          )}
          {(m.canRejoin || m.status === "pending") && (
            <Link className="button" to="/join">
              {m.canRejoin ? "Rejoin" : "Finish joining"}
            </Link>
          )}
        </>
      )}
    </Card>
  );
}

function QueueCard({ d }: { d: Dashboard }) {
  const q = d.queue;
  return (
    <Card title="Your place in line">
      {!q.inQueue || q.position == null ? (
        <Empty>You are not in the queue.</Empty>
      ) : (
        <>
          <p className="big">
            #{q.position} <small>of {q.size}</small>
          </p>
          {q.tenure && (
            <p>
              Continuous tenure: {q.tenure.months} months, {q.tenure.days} days
            </p>
          )}
          {q.atRisk && <p className="warning">At risk: {q.atRiskReasons.map(words).join(", ")}</p>}
          <table className="window">
            <caption>You and your neighbours in line</caption>
            <thead>
              <tr>
                <th scope="col">Position</th>
                <th scope="col">Member since</th>
              </tr>
            </thead>
            <tbody>
              {q.window.map((n) => (
                <tr key={n.position} className={n.me ? "me" : undefined} aria-current={n.me ? "true" : undefined}>
                  <td>
                    {n.position}
                    {n.me && " (you)"}
                  </td>
                  <td>{n.tenureMonth}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Card>
  );
}

function FundProgress({ stats, threshold }: { stats: Schemas["QueueStatsOut"]; threshold: Schemas["MoneyOut"] }) {
  const pct = Math.min(100, Math.floor((stats.fund.amountCents * 100) / Math.max(1, threshold.amountCents)));
  return (
    <>
      <p>
        {money(stats.fund)} of {money(threshold)} needed for the next payout
      </p>
      <progress max={100} value={pct} aria-label="Reward fund progress">
        {pct}%
      </progress>
      <p>
        {stats.nextPayoutEstimate ? `Next payout: ${stats.nextPayoutEstimate.label}` : "No payout estimate yet."}
        {stats.payoutsPossibleFrom && ` Payouts start ${day(stats.payoutsPossibleFrom)}.`}
      </p>
      <p>Winners so far: {stats.winnersSoFar}</p>
    </>
  );
}

function KycCard({ kyc, reload }: { kyc: Schemas["KycOut"]; reload: () => void }) {
  const action = useAction();
  async function start() {
    const started = await action.run(() => ok(api.POST("/api/kyc/start")));
    if (started) window.location.assign(started.verificationUrl);
    else reload();
  }
  const canStart = kyc.status === "not_started" || kyc.mayRetry;
  return (
    <Card title="Identity verification">
      <p>
        Status: <strong>{words(kyc.status)}</strong>
        {kyc.validUntil && <> (valid until {day(kyc.validUntil)})</>}
      </p>
      {kyc.reasons.length > 0 && <p>{kyc.reasons.map(words).join(", ")}</p>}
      {kyc.verificationUrl && kyc.status === "pending" && (
        <p>
          <a href={kyc.verificationUrl}>Continue your verification</a>
        </p>
      )}
      <ProblemAlert error={action.error} />
      {action.stepUp}
      {canStart && (
        <button type="button" disabled={action.busy} onClick={start}>
          {kyc.status === "not_started" ? "Verify my identity" : "Try again"}
        </button>
      )}
      {kyc.retryAfter && <p>You can try again after {when(kyc.retryAfter)}.</p>}
    </Card>
  );
}

function PayNow() {
  const action = useAction();
  async function pay() {
    const link = await action.run(() => ok(api.POST("/api/subscriptions/me/pay-now")));
    if (link) window.location.assign(link.url);
  }
  return (
    <>
      <ProblemAlert error={action.error} />
      {action.stepUp}
      <button type="button" onClick={pay} disabled={action.busy}>
        Pay the overdue invoice
      </button>
    </>
  );
}
