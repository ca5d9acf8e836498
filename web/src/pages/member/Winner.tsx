/** The winner's flow (DOMAIN.md §8): my payouts, where the money goes (bank account or cheque), the W-9, and the
 * amounts; and my entry in a round's published snapshot with its inclusion proof, checked against the root. */
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { api, ok, type Schemas } from "../../api/client";
import { Card, Empty, Field, Loading, Page, ProblemAlert, useAction, useLoad } from "../../components/ui";
import { day, money, when, words } from "../../format";

type Payout = Schemas["PayoutOut"];

export function MyPayouts() {
  const payouts = useLoad(() => ok(api.GET("/api/payout/me")));
  if (payouts.error) return <Page title="My payouts"><ProblemAlert error={payouts.error} /></Page>;
  if (!payouts.value) return <Loading />;
  return (
    <Page title="My payouts">
      {payouts.value.length === 0 ? (
        <Empty>You have not been selected yet. Your place in line is on your dashboard.</Empty>
      ) : (
        payouts.value.map((p) => <PayoutCard key={p.id} payout={p} reload={payouts.reload} />)
      )}
    </Page>
  );
}

function PayoutCard({ payout, reload }: { payout: Payout; reload: () => void }) {
  return (
    <Card title={`Round of ${day(payout.roundKey)}: ${words(payout.status)}`}>
      <dl className="facts">
        <dt>Reward (gross)</dt>
        <dd>{money(payout.gross)}</dd>
        {payout.amounts && (
          <>
            <dt>Withholding</dt>
            <dd>{money(payout.amounts.withholding)}</dd>
            <dt>Retention deduction</dt>
            <dd>{money(payout.amounts.retentionDeduction)}</dd>
            <dt>You receive</dt>
            <dd>{money(payout.amounts.net)}</dd>
          </>
        )}
        <dt>Paid to</dt>
        <dd>
          {payout.method === "ach"
            ? `Bank account ${payout.holderName ?? ""} ••••${payout.accountLast4 ?? ""}`
            : payout.method === "cheque"
              ? "Cheque to your verified address"
              : "Not given yet"}
        </dd>
        <dt>W-9</dt>
        <dd>{payout.w9OnFile ? `On file (${payout.tin ?? ""})` : "Not given yet"}</dd>
        <dt>Details needed by</dt>
        <dd>{when(payout.infoDeadline)}</dd>
        {payout.holdUntil && (
          <>
            <dt>On hold until</dt>
            <dd>{when(payout.holdUntil)}</dd>
          </>
        )}
      </dl>
      {payout.missing.length > 0 && <p className="warning">Still needed: {payout.missing.map(words).join(", ")}</p>}
      <p>
        <Link to={`/rounds/${payout.roundKey}`}>Check my entry in this round</Link>
      </p>
      {["pending_approval", "approved", "scheduled", "failed", "returned"].includes(payout.status) && (
        <div className="grid">
          <BankForm payout={payout} reload={reload} />
          <W9Form payout={payout} reload={reload} />
        </div>
      )}
    </Card>
  );
}

function BankForm({ payout, reload }: { payout: Payout; reload: () => void }) {
  const action = useAction();
  const [form, setForm] = useState({ holderName: "", routingNumber: "", accountNumber: "", accountType: "checking" });
  const path = { params: { path: { payout_id: payout.id } } };
  async function submit(event: FormEvent) {
    event.preventDefault();
    const done = await action.run(() =>
      ok(
        api.PUT("/api/payout/me/{payout_id}/bank-account", {
          ...path,
          body: { ...form, accountType: form.accountType as "checking" | "savings" },
        }),
      ),
    );
    if (done) reload();
  }
  return (
    <section className="card">
      <h3>Bank account (ACH)</h3>
      <form onSubmit={submit} className="form">
        <Field label="Account holder (as on your ID)" required value={form.holderName} onChange={(e) => setForm({ ...form, holderName: e.target.value })} />
        <Field label="Routing number" inputMode="numeric" pattern="[0-9]{9}" required value={form.routingNumber} onChange={(e) => setForm({ ...form, routingNumber: e.target.value.trim() })} />
        <Field label="Account number" inputMode="numeric" pattern="[0-9]{4,17}" required value={form.accountNumber} onChange={(e) => setForm({ ...form, accountNumber: e.target.value.trim() })} />
        <div className="field">
          <label htmlFor={`type-${payout.id}`}>Account type</label>
          <select id={`type-${payout.id}`} value={form.accountType} onChange={(e) => setForm({ ...form, accountType: e.target.value })}>
            <option value="checking">Checking</option>
            <option value="savings">Savings</option>
          </select>
        </div>
        <ProblemAlert error={action.error} />
        {action.stepUp}
        <button type="submit" disabled={action.busy}>
          Save bank account
        </button>
        <button
          type="button"
          className="secondary"
          disabled={action.busy}
          onClick={async () => {
            if (await action.run(() => ok(api.PUT("/api/payout/me/{payout_id}/cheque", path)))) reload();
          }}
        >
          Send me a cheque instead
        </button>
      </form>
    </section>
  );
}

function W9Form({ payout, reload }: { payout: Payout; reload: () => void }) {
  const action = useAction();
  const [form, setForm] = useState({ legalName: "", tin: "", tinType: "ssn", line1: "", city: "", region: "", postalCode: "", certified: false });
  async function submit(event: FormEvent) {
    event.preventDefault();
    const done = await action.run(() =>
      ok(
        api.PUT("/api/payout/me/{payout_id}/w9", {
          params: { path: { payout_id: payout.id } },
          body: {
            legalName: form.legalName,
            tin: form.tin,
            tinType: form.tinType as "ssn" | "ein",
            address: { line1: form.line1, line2: null, city: form.city, region: form.region.toUpperCase(), postalCode: form.postalCode, country: "US" },
            certified: form.certified,
          },
        }),
      ),
    );
    if (done) reload();
  }
  return (
    <section className="card">
      <h3>W-9 (taxpayer identification)</h3>
      <form onSubmit={submit} className="form">
        <Field label="Legal name" required value={form.legalName} onChange={(e) => setForm({ ...form, legalName: e.target.value })} />
        <Field label="SSN or EIN" inputMode="numeric" required autoComplete="off" value={form.tin} onChange={(e) => setForm({ ...form, tin: e.target.value.trim() })} />
        <div className="field">
          <label htmlFor={`tin-${payout.id}`}>Number type</label>
          <select id={`tin-${payout.id}`} value={form.tinType} onChange={(e) => setForm({ ...form, tinType: e.target.value })}>
            <option value="ssn">SSN</option>
            <option value="ein">EIN</option>
          </select>
        </div>
        <Field label="Street address" required value={form.line1} onChange={(e) => setForm({ ...form, line1: e.target.value })} />
        <div className="row">
          <Field label="City" required value={form.city} onChange={(e) => setForm({ ...form, city: e.target.value })} />
          <Field label="State" required maxLength={2} value={form.region} onChange={(e) => setForm({ ...form, region: e.target.value })} />
          <Field label="ZIP code" required value={form.postalCode} onChange={(e) => setForm({ ...form, postalCode: e.target.value })} />
        </div>
        <div className="check">
          <input id={`cert-${payout.id}`} type="checkbox" checked={form.certified} onChange={(e) => setForm({ ...form, certified: e.target.checked })} />
          <label htmlFor={`cert-${payout.id}`}>
            Under penalties of perjury, I certify that the number shown is my correct taxpayer identification number and
            that I am not subject to backup withholding.
          </label>
        </div>
        <ProblemAlert error={action.error} />
        {action.stepUp}
        <button type="submit" disabled={action.busy}>
          Save W-9
        </button>
      </form>
    </section>
  );
}

export function RoundEntry() {
  const { roundKey = "" } = useParams();
  const mine = useLoad(
    () => ok(api.GET("/api/queue/me/rounds/{round_key}", { params: { path: { round_key: roundKey } } })),
    [roundKey],
  );
  const check = useAction();
  const [verdict, setVerdict] = useState<boolean | null>(null);
  if (mine.error) return <Page title="My round entry"><ProblemAlert error={mine.error} /></Page>;
  if (!mine.value) return <Loading />;
  const e = mine.value;
  async function verify() {
    const result = await check.run(() =>
      ok(
        api.POST("/api/queue/rounds/{round_key}/check", {
          params: { path: { round_key: roundKey } },
          body: { entry: e.entry, salt: e.salt, proof: e.proof },
        }),
      ),
    );
    if (result) setVerdict(result.valid);
  }
  return (
    <Page title={`My entry in the round of ${day(e.round.evaluatedAt)}`}>
      <Card title="The published round">
        <dl className="facts">
          <dt>Snapshot root</dt>
          <dd>
            <code>{e.round.root}</code>
          </dd>
          <dt>Winners</dt>
          <dd>{e.round.winners}</dd>
          <dt>Members in the snapshot</dt>
          <dd>{e.round.queueSize}</dd>
        </dl>
      </Card>
      <Card title="My entry">
        <dl className="facts">
          <dt>Position</dt>
          <dd>{e.entry.position}</dd>
          <dt>Member number</dt>
          <dd>{e.entry.memberNumber}</dd>
          <dt>Eligible</dt>
          <dd>{e.entry.eligible ? "Yes" : `No (${e.entry.reasons.map(words).join(", ")})`}</dd>
        </dl>
        <p>
          The proof has {e.proof.path.length} steps from your entry to the root. Anyone can check it; so can you:
        </p>
        <ProblemAlert error={check.error} />
        {check.stepUp}
        <button type="button" onClick={verify} disabled={check.busy}>
          Check my entry against the root
        </button>
        {verdict !== null && (
          <p role="status" className={verdict ? undefined : "warning"}>
            {verdict ? "Your entry is in the published snapshot." : "This entry does not match the published root."}
          </p>
        )}
      </Card>
    </Page>
  );
}
