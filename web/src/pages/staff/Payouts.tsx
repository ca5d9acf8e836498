/** Payout rounds and payouts: run today's evaluation, see each payout, approve (two staff, one finance), and move
 * approved payouts through processing. */
import { Link } from "react-router";
import { api, ok, type Schemas } from "../../api/client";
import { Card, Empty, Loading, Page, ProblemAlert, useAction, useLoad } from "../../components/ui";
import { money, when, words } from "../../format";

export function Payouts() {
  const payouts = useLoad(() => ok(api.GET("/api/payout/payouts", { params: { query: { limit: 100 } } })));
  const evaluations = useLoad(() => ok(api.GET("/api/payout/evaluations", { params: { query: { limit: 5 } } })));
  const evaluate = useAction();

  async function runRound() {
    await evaluate.run(() => ok(api.POST("/api/payout/rounds/evaluate")));
    payouts.reload();
    evaluations.reload();
  }

  return (
    <Page
      title="Rounds and payouts"
      actions={
        <button type="button" onClick={runRound} disabled={evaluate.busy}>
          Evaluate today's round now
        </button>
      }
    >
      <ProblemAlert error={evaluate.error} />
      {evaluate.stepUp}
      <Card title="Latest evaluations">
        {!evaluations.value ? (
          <Loading />
        ) : evaluations.value.length === 0 ? (
          <Empty>No evaluation yet.</Empty>
        ) : (
          <ul>
            {evaluations.value.map((e) => (
              <li key={e.evaluatedAt}>
                {when(e.evaluatedAt)}: <strong>{words(e.outcome)}</strong>
                {e.blockers.length > 0 && <> ({e.blockers.map(words).join(", ")})</>} — fund {money(e.fund)}
              </li>
            ))}
          </ul>
        )}
      </Card>
      <Card title="Payouts">
        <ProblemAlert error={payouts.error} />
        {!payouts.value ? (
          <Loading />
        ) : payouts.value.length === 0 ? (
          <Empty>No payouts.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Round</th>
                <th scope="col">Status</th>
                <th scope="col">Gross</th>
                <th scope="col">Approvals</th>
                <th scope="col">Missing</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {payouts.value.map((p) => (
                <PayoutRow key={p.id} payout={p} reload={payouts.reload} />
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </Page>
  );
}

function PayoutRow({ payout, reload }: { payout: Schemas["PayoutOut"]; reload: () => void }) {
  const action = useAction();
  const approve = () =>
    action.run(async () => {
      await ok(api.POST("/api/payout/payouts/{payout_id}/approve", { params: { path: { payout_id: payout.id } } }));
      reload();
    });
  return (
    <tr>
      <td>{payout.roundKey}</td>
      <td>{words(payout.status)}</td>
      <td>{money(payout.gross)}</td>
      <td>
        {payout.approvals}
        {payout.financeApproved && " (finance ✓)"}
      </td>
      <td>{payout.missing.length ? payout.missing.map(words).join(", ") : "—"}</td>
      <td>
        <Link to={`/staff/payouts/${payout.id}`}>Details</Link>{" "}
        {payout.accountId && <Link to={`/staff/members/${payout.accountId}`}>Winner</Link>}{" "}
        {payout.status === "pending_approval" && (
          <button type="button" onClick={approve} disabled={action.busy} aria-label={`Approve payout of round ${payout.roundKey}`}>
            Approve
          </button>
        )}
        <ProblemAlert error={action.error} />
        {action.stepUp}
      </td>
    </tr>
  );
}
