/** Identity reviews waiting for staff, the audit log, and the CSV exports. */
import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { api, ok, type Schemas } from "../../api/client";
import { Card, Empty, Field, Loading, Page, ProblemAlert, useAction, useLoad } from "../../components/ui";
import { when, words } from "../../format";

export function KycReviews() {
  const queue = useLoad(() => ok(api.GET("/api/admin/kyc/reviews", { params: { query: { limit: 50 } } })));
  if (queue.error) return <Page title="Identity reviews"><ProblemAlert error={queue.error} /></Page>;
  if (!queue.value) return <Loading />;
  return (
    <Page title="Identity reviews">
      {queue.value.items.length === 0 ? (
        <Empty>No verification is waiting for a decision.</Empty>
      ) : (
        queue.value.items.map((item) => <Review key={item.accountId} item={item} reload={queue.reload} />)
      )}
    </Page>
  );
}

function Review({ item, reload }: { item: Schemas["ReviewOut"]; reload: () => void }) {
  const action = useAction();
  const [reason, setReason] = useState("");
  const decide = (decision: "approve" | "reject") =>
    action.run(async () => {
      await ok(
        api.POST("/api/admin/kyc/{account_id}/decision", {
          params: { path: { account_id: item.accountId } },
          body: { decision, reason },
        }),
      );
      reload();
    });
  return (
    <Card title={`Member ${item.position ? `#${item.position} in line` : "not in line"}`}>
      <p>
        <Link to={`/staff/members/${item.accountId}`}>Open the member</Link> · waiting since {when(item.since)}
        {item.flagged && <strong> · flagged</strong>}
      </p>
      <p>Provider says: {item.reasons.map(words).join(", ") || "—"}</p>
      <Field label="Reason for your decision" required minLength={3} value={reason} onChange={(e) => setReason(e.target.value)} />
      <ProblemAlert error={action.error} />
      {action.stepUp}
      <button type="button" disabled={action.busy || reason.length < 3} onClick={() => decide("approve")}>
        Approve
      </button>{" "}
      <button type="button" className="secondary" disabled={action.busy || reason.length < 3} onClick={() => decide("reject")}>
        Reject
      </button>
    </Card>
  );
}

export function AuditLog() {
  const [filter, setFilter] = useState({ entityType: "", entityId: "", action: "" });
  const [applied, setApplied] = useState(filter);
  const page = useLoad(
    () =>
      ok(
        api.GET("/api/admin/audit", {
          params: {
            query: {
              entityType: applied.entityType || undefined,
              entityId: applied.entityId || undefined,
              action: applied.action || undefined,
              limit: 100,
            },
          },
        }),
      ),
    [applied],
  );
  function submit(event: FormEvent) {
    event.preventDefault();
    setApplied(filter);
  }
  return (
    <Page title="Audit log">
      <form onSubmit={submit} className="form row" role="search">
        <Field label="Entity type" value={filter.entityType} onChange={(e) => setFilter({ ...filter, entityType: e.target.value })} />
        <Field label="Entity id" value={filter.entityId} onChange={(e) => setFilter({ ...filter, entityId: e.target.value })} />
        <Field label="Action" value={filter.action} onChange={(e) => setFilter({ ...filter, action: e.target.value })} />
        <button type="submit">Filter</button>
      </form>
      <ProblemAlert error={page.error} />
      {!page.value ? (
        <Loading />
      ) : page.value.items.length === 0 ? (
        <Empty>No entries.</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">What</th>
              <th scope="col">Action</th>
              <th scope="col">By</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {page.value.items.map((e) => (
              <tr key={`${e.entityType}:${e.entityId}:${e.seq}`}>
                <td>{when(e.at)}</td>
                <td>
                  {e.entityType} <small>{e.entityId}</small>
                </td>
                <td>{words(e.action)}</td>
                <td>{e.actor}</td>
                <td>{e.reason ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}

export function Exports() {
  return (
    <Page title="Exports">
      <p>Each export streams as CSV; payments and payouts need the finance role. Bank and tax numbers are never included.</p>
      <ul>
        <li>
          <a href="/api/admin/exports/members.csv" download>
            Members (CSV)
          </a>
        </li>
        <li>
          <a href="/api/admin/exports/payments.csv" download>
            Payments (CSV)
          </a>
        </li>
        <li>
          <a href="/api/admin/exports/payouts.csv" download>
            Payouts (CSV)
          </a>
        </li>
      </ul>
    </Page>
  );
}
