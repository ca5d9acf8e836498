/** Joining: the fees, the terms, and off to the hosted checkout (the sandbox page, or Stripe). Also the page the
 * checkout sends the member back to. */
import { useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { api, ok } from "../../api/client";
import { Card, Loading, Page, ProblemAlert, useAction, useLoad } from "../../components/ui";
import { money, words } from "../../format";

export function Join() {
  const [params] = useSearchParams();
  const rules = useLoad(() => ok(api.GET("/api/business-rules")));
  const status = useLoad(() => ok(api.GET("/api/subscriptions/me")));
  const action = useAction();
  const [accepted, setAccepted] = useState(false);

  if (rules.error || status.error) return <Page title="Join"><ProblemAlert error={rules.error ?? status.error} /></Page>;
  if (!rules.value || !status.value) return <Loading />;
  const rejoin = status.value.canRejoin;
  const live = ["pending", "active", "past_due", "won", "paid"].includes(status.value.status);

  async function checkout() {
    const started = await action.run(() =>
      ok(
        api.POST(rejoin ? "/api/subscriptions/rejoin" : "/api/subscriptions/checkout", {
          body: { acceptTermsVersion: rules.value!.termsVersion, acceptPaymentAuthorization: true },
        }),
      ),
    );
    if (started) window.location.assign(started.checkoutUrl);
  }

  return (
    <Page title={rejoin ? "Rejoin Tenure" : "Join Tenure"}>
      {params.get("cancelled") && <p role="status">Checkout was cancelled; nothing was charged.</p>}
      {live && status.value.status !== "pending" ? (
        <p>
          You are already a member. <Link to="/dashboard">Go to your dashboard</Link>.
        </p>
      ) : (
        <Card title="What you pay">
          <dl className="facts">
            <dt>Joining fee (includes your first month)</dt>
            <dd>{money(rules.value.joiningFee)}</dd>
            <dt>Monthly dues, from one month after joining</dt>
            <dd>{money(rules.value.monthlyDues)}</dd>
            <dt>Reward per winner</dt>
            <dd>{money(rules.value.reward)}</dd>
          </dl>
          <p>
            Your place in the queue counts from the moment your joining payment goes through. Missing a payment gives you{" "}
            {rules.value.graceDays} days to pay before you lose your place.
          </p>
          <div className="check">
            <input id="terms" type="checkbox" checked={accepted} onChange={(e) => setAccepted(e.target.checked)} />
            <label htmlFor="terms">
              I accept the membership terms (version {rules.value.termsVersion}) and authorize the joining fee and monthly
              dues to be charged to my card.
            </label>
          </div>
          <ProblemAlert error={action.error} />
          {action.stepUp}
          {action.error ? (
            <p>
              <Link to="/profile">Check your profile</Link>
            </p>
          ) : null}
          <button type="button" disabled={!accepted || action.busy} onClick={checkout}>
            Continue to payment
          </button>
        </Card>
      )}
    </Page>
  );
}

export function CheckoutComplete() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const sessionId = params.get("session_id") ?? "";
  const result = useLoad(
    () => ok(api.GET("/api/subscriptions/checkout/complete", { params: { query: { session_id: sessionId } } })),
    [sessionId],
  );
  if (result.error) return <Page title="Payment"><ProblemAlert error={result.error} /></Page>;
  if (!result.value) return <Loading what="Confirming your payment" />;
  const status = result.value;
  return (
    <Page title={status.status === "active" ? "Welcome to Tenure" : "Payment received"}>
      <Card title="Your membership">
        <dl className="facts">
          <dt>Status</dt>
          <dd>{words(status.status)}</dd>
          <dt>Member number</dt>
          <dd>{status.memberNumber ?? "—"}</dd>
          <dt>Place in the queue</dt>
          <dd>{status.position ? `${status.position} of ${status.queueSize}` : "—"}</dd>
        </dl>
        <button type="button" onClick={() => navigate("/dashboard")}>
          Go to your dashboard
        </button>
      </Card>
    </Page>
  );
}
