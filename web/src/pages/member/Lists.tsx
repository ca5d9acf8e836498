/** My payment history (with receipts) and my notifications feed, both paged. */
import { useState } from "react";
import { api, ok, type Schemas } from "../../api/client";
import { Empty, Loading, Page, ProblemAlert, useAction, useLoad } from "../../components/ui";
import { money, when, words } from "../../format";

export function Payments() {
  const [cursor, setCursor] = useState<string | undefined>();
  const [items, setItems] = useState<Schemas["PaymentOut"][]>([]);
  const page = useLoad(async () => {
    const next = await ok(api.GET("/api/billing/payments", { params: { query: { cursor, limit: 20 } } }));
    setItems((shown) => (cursor ? [...shown, ...next.items] : next.items));
    return next;
  }, [cursor]);
  if (page.error) return <Page title="Payments"><ProblemAlert error={page.error} /></Page>;
  if (!page.value) return <Loading />;
  return (
    <Page title="Payments">
      {items.length === 0 ? (
        <Empty>No payments yet.</Empty>
      ) : (
        <table>
          <caption>Every payment, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Paid</th>
              <th scope="col">For</th>
              <th scope="col">Amount</th>
              <th scope="col">Refunded</th>
              <th scope="col">Receipt</th>
            </tr>
          </thead>
          <tbody>
            {items.map((p) => (
              <tr key={p.id}>
                <td>{when(p.paidAt)}</td>
                <td>
                  {words(p.purpose)}
                  {p.purpose === "dues" && ` (month ${p.period})`}
                </td>
                <td>{money(p.amount)}</td>
                <td>{p.refunded.amountCents ? money(p.refunded) : "—"}</td>
                <td>{p.receiptUrl ? <a href={p.receiptUrl}>Receipt</a> : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {page.value.nextCursor && (
        <button type="button" className="secondary" onClick={() => setCursor(page.value!.nextCursor ?? undefined)}>
          Show older payments
        </button>
      )}
    </Page>
  );
}

export function Notifications() {
  const feed = useLoad(() => ok(api.GET("/api/notifications", { params: { query: { limit: 50 } } })));
  const action = useAction();
  if (feed.error) return <Page title="Notifications"><ProblemAlert error={feed.error} /></Page>;
  if (!feed.value) return <Loading />;
  const items = feed.value.items;
  return (
    <Page
      title="Notifications"
      actions={
        items.some((n) => !n.read) && (
          <button
            type="button"
            className="secondary"
            disabled={action.busy}
            onClick={() => action.run(async () => {
              await ok(api.POST("/api/notifications/read-all"));
              feed.reload();
            })}
          >
            Mark all as read
          </button>
        )
      }
    >
      <ProblemAlert error={action.error} />
      {action.stepUp}
      {items.length === 0 ? (
        <Empty>No notifications yet.</Empty>
      ) : (
        <ul className="feed">
          {items.map((n) => (
            <li key={n.id} className={n.read ? undefined : "unread"}>
              <h2>{n.title}</h2>
              <small>{when(n.createdAt)}</small>
              <p className="pre">{n.body}</p>
            </li>
          ))}
        </ul>
      )}
    </Page>
  );
}
