/** Find a member (email prefix, name, member number; status), and one member's page. */
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { api, ok } from "../../api/client";
import { Card, Empty, Field, Loading, Page, ProblemAlert, useLoad } from "../../components/ui";
import { money, when, words } from "../../format";

export function MemberSearch() {
  const [text, setText] = useState("");
  const [query, setQuery] = useState<{ q?: string; status?: string }>({});
  const [status, setStatus] = useState("");
  const page = useLoad(
    () => ok(api.GET("/api/admin/members", { params: { query: { ...query, limit: 50 } } })),
    [query.q, query.status],
  );
  function submit(event: FormEvent) {
    event.preventDefault();
    setQuery({ q: text || undefined, status: status || undefined });
  }
  return (
    <Page title="Members">
      <form onSubmit={submit} className="form row" role="search">
        <Field label="Email, name or member number" value={text} onChange={(e) => setText(e.target.value)} />
        <div className="field">
          <label htmlFor="status">Status</label>
          <select id="status" value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">Any</option>
            {["active", "past_due", "pending", "won", "paid", "cancelled", "defaulted", "ended", "none"].map((s) => (
              <option key={s} value={s}>
                {words(s)}
              </option>
            ))}
          </select>
        </div>
        <button type="submit">Search</button>
      </form>
      <ProblemAlert error={page.error} />
      {!page.value ? (
        <Loading />
      ) : page.value.items.length === 0 ? (
        <Empty>No member matches.</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Member</th>
              <th scope="col">Name</th>
              <th scope="col">Number</th>
              <th scope="col">Membership</th>
              <th scope="col">Joined the site</th>
            </tr>
          </thead>
          <tbody>
            {page.value.items.map((m) => (
              <tr key={m.accountId}>
                <td>
                  <Link to={`/staff/members/${m.accountId}`}>{m.email}</Link>
                </td>
                <td>{[m.firstName, m.lastName].filter(Boolean).join(" ") || "—"}</td>
                <td>{m.memberNumber ?? "—"}</td>
                <td>{m.membershipStatus ? words(m.membershipStatus) : "none"}</td>
                <td>{when(m.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}

export function MemberDetail() {
  const { accountId = "" } = useParams();
  const detail = useLoad(
    () => ok(api.GET("/api/admin/members/{account_id}", { params: { path: { account_id: accountId } } })),
    [accountId],
  );
  if (detail.error) return <Page title="Member"><ProblemAlert error={detail.error} /></Page>;
  if (!detail.value) return <Loading />;
  const d = detail.value;
  const home = d.home;
  return (
    <Page title={d.account.email}>
      <div className="grid">
        <Card title="Account">
          <dl className="facts">
            <dt>Status</dt>
            <dd>{words(d.account.status)}</dd>
            <dt>Email verified</dt>
            <dd>{d.account.emailVerified ? "Yes" : "No"}</dd>
            <dt>Two-step sign-in</dt>
            <dd>{d.account.totpEnabled || d.account.passkeys > 0 ? "On" : "Off"}</dd>
            <dt>Name</dt>
            <dd>{[d.profile?.firstName, d.profile?.lastName].filter(Boolean).join(" ") || "—"}</dd>
          </dl>
        </Card>
        <Card title="Membership and place">
          <dl className="facts">
            <dt>Status</dt>
            <dd>{words(home.membership.status)}</dd>
            <dt>Member number</dt>
            <dd>{home.membership.memberNumber ?? "—"}</dd>
            <dt>Position</dt>
            <dd>{home.queue.position ? `${home.queue.position} of ${home.queue.size}` : "—"}</dd>
            <dt>Tenure since</dt>
            <dd>{when(home.membership.tenureStart)}</dd>
            <dt>Identity</dt>
            <dd>{words(home.kyc.status)}</dd>
            <dt>Next charge</dt>
            <dd>{money(home.nextCharge.amount)}</dd>
          </dl>
          <ul className="checklist">
            {home.eligibility.rules.map((r) => (
              <li key={r.rule} className={r.ok ? "pass" : "fail"}>
                {r.ok ? "✓" : "✗"} {words(r.rule)} {!r.ok && <small>{r.reasons.map(words).join(", ")}</small>}
              </li>
            ))}
          </ul>
        </Card>
        <Card title={`Audit trail${d.auditChainValid ? "" : " (chain broken!)"}`}>
          {d.audit.length === 0 ? (
            <Empty>No changes recorded.</Empty>
          ) : (
            <ol className="audit">
              {d.audit.map((e) => (
                <li key={e.seq}>
                  <strong>{words(e.action)}</strong> by {e.actor} <small>{when(e.at)}</small>
                  {e.reason && <div>Reason: {e.reason}</div>}
                </li>
              ))}
            </ol>
          )}
        </Card>
      </div>
    </Page>
  );
}
