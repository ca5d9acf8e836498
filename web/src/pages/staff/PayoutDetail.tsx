/** One payout for staff: its amounts, details and approvals, and every next step the rules allow — approve,
 * schedule, send (manual transfer or the bank file), record it sent, complete, fail, and cancel (two staff, a
 * reason from the closed list). The API refuses whatever the rules do not allow; its reasons are shown. */
import { useState } from "react";
import { useParams } from "react-router";
import { api, ok } from "../../api/client";
import { Card, Field, Loading, Page, ProblemAlert, useAction, useLoad } from "../../components/ui";
import { money, when, words } from "../../format";

const CANCEL_REASONS = [
  "not_disqualifying",
  "fraud",
  "duplicate_identity",
  "under_age",
  "jurisdiction",
  "joining_payment_reversed",
  "unclaimed",
  "declined_by_member",
];

export function PayoutDetail() {
  const { payoutId = "" } = useParams();
  const path = { params: { path: { payout_id: payoutId } } };
  const payout = useLoad(() => ok(api.GET("/api/payout/payouts/{payout_id}", path)), [payoutId]);
  const action = useAction();
  const [reference, setReference] = useState("");
  const [reason, setReason] = useState("not_disqualifying");

  const step = (run: () => Promise<unknown>) =>
    action.run(async () => {
      await run();
      payout.reload();
    });

  if (payout.error) return <Page title="Payout"><ProblemAlert error={payout.error} /></Page>;
  if (!payout.value) return <Loading />;
  const p = payout.value;
  return (
    <Page title={`Payout of the round of ${p.roundKey}`}>
      <div className="grid">
        <Card title="State">
          <dl className="facts">
            <dt>Status</dt>
            <dd>{words(p.status)}</dd>
            <dt>Approvals</dt>
            <dd>
              {p.approvals}
              {p.financeApproved ? " (finance ✓)" : " (finance still needed)"}
            </dd>
            <dt>Gross</dt>
            <dd>{money(p.gross)}</dd>
            {p.amounts && (
              <>
                <dt>Net</dt>
                <dd>{money(p.amounts.net)}</dd>
              </>
            )}
            <dt>Paid to</dt>
            <dd>{p.method ? `${p.method === "ach" ? "ACH" : "Cheque"} ${p.accountLast4 ? `••••${p.accountLast4}` : ""}` : "—"}</dd>
            <dt>W-9</dt>
            <dd>{p.w9OnFile ? "On file" : "Missing"}</dd>
            <dt>Missing</dt>
            <dd>{p.missing.length ? p.missing.map(words).join(", ") : "—"}</dd>
            {p.pendingCancellation && (
              <>
                <dt>Cancellation asked</dt>
                <dd>
                  {words(p.pendingCancellation.reason)} by {p.pendingCancellation.requestedBy}
                </dd>
              </>
            )}
          </dl>
        </Card>
        <Card title="Next steps">
          <ProblemAlert error={action.error} />
          {action.stepUp}
          <div className="actions">
            <button type="button" disabled={action.busy} onClick={() => step(() => ok(api.POST("/api/payout/payouts/{payout_id}/approve", path)))}>
              Approve
            </button>
            <button type="button" disabled={action.busy} onClick={() => step(() => ok(api.POST("/api/payout/payouts/{payout_id}/schedule", path)))}>
              Schedule
            </button>
            <button
              type="button"
              disabled={action.busy}
              onClick={() =>
                step(() => ok(api.POST("/api/payout/processing", { body: { payoutIds: [p.id], rail: "manual", reference: null } })))
              }
            >
              Start processing (manual transfer)
            </button>
          </div>
          <Field label="Transfer reference" value={reference} onChange={(e) => setReference(e.target.value)} />
          <div className="actions">
            <button
              type="button"
              disabled={action.busy || !reference}
              onClick={() => step(() => ok(api.POST("/api/payout/payouts/{payout_id}/sent", { ...path, body: { reference } })))}
            >
              Record as sent
            </button>
            <button type="button" disabled={action.busy} onClick={() => step(() => ok(api.POST("/api/payout/payouts/{payout_id}/complete", path)))}>
              Mark completed
            </button>
            <button
              type="button"
              className="secondary"
              disabled={action.busy || !reference}
              onClick={() =>
                step(() => ok(api.POST("/api/payout/payouts/{payout_id}/fail", { ...path, body: { failure: reference, notSent: false } })))
              }
            >
              Mark failed (reason in the field above)
            </button>
          </div>
          <div className="field">
            <label htmlFor="cancel-reason">Cancellation reason</label>
            <select id="cancel-reason" value={reason} onChange={(e) => setReason(e.target.value)}>
              {CANCEL_REASONS.map((r) => (
                <option key={r} value={r}>
                  {words(r)}
                </option>
              ))}
            </select>
          </div>
          <button
            type="button"
            className="secondary"
            disabled={action.busy}
            onClick={() => step(() => ok(api.POST("/api/payout/payouts/{payout_id}/cancel", { ...path, body: { reason } })))}
          >
            {p.pendingCancellation ? "Confirm the cancellation" : "Ask to cancel"}
          </button>
        </Card>
        <Card title="Transfers">
          {(p.transfers ?? []).length === 0 ? (
            <p className="empty">None yet.</p>
          ) : (
            <ul>
              {(p.transfers ?? []).map((t) => (
                <li key={t.attempt}>
                  Attempt {t.attempt} by {t.rail}: {money(t.amount)}
                  {t.reference && <> · reference {t.reference}</>}
                  {t.sentAt && <> · sent {when(t.sentAt)}</>}
                </li>
              ))}
            </ul>
          )}
          <p>Selected {when(p.selectedAt)}</p>
        </Card>
      </div>
    </Page>
  );
}
