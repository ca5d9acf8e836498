/** Which channels (email, SMS, in-app) carry which kinds of notices; mandatory ones are locked on. And the phone
 * number that SMS goes to, verified by a code. */
import { useState, type FormEvent } from "react";
import { api, ok, type Schemas } from "../../api/client";
import { Card, Field, Loading, Page, ProblemAlert, useAction, useLoad } from "../../components/ui";
import { words } from "../../format";

type Item = Schemas["PreferenceItem"];

export function NotificationSettings() {
  const prefs = useLoad(() => ok(api.GET("/api/settings/notifications")));
  const action = useAction();
  if (prefs.error) return <Page title="Notification settings"><ProblemAlert error={prefs.error} /></Page>;
  if (!prefs.value) return <Loading />;
  const groups = [...new Set(prefs.value.items.map((i) => i.group))];
  const channels = [...new Set(prefs.value.items.map((i) => i.channel))];
  const find = (group: string, channel: string) =>
    prefs.value!.items.find((i) => i.group === group && i.channel === channel);
  async function toggle(item: Item) {
    await action.run(async () => {
      await ok(
        api.PUT("/api/settings/notifications", {
          body: { changes: [{ group: item.group, channel: item.channel, enabled: !item.enabled }] },
        }),
      );
      prefs.reload();
    });
  }
  return (
    <Page title="Notification settings">
      <ProblemAlert error={action.error} />
      {action.stepUp}
      <table>
        <caption>Choose how each kind of notice reaches you. Locked ones are required (they concern your money or your place).</caption>
        <thead>
          <tr>
            <th scope="col">Notices about</th>
            {channels.map((c) => (
              <th key={c} scope="col">
                {c === "in_app" ? "In the app" : c === "sms" ? "SMS" : "Email"}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {groups.map((group) => (
            <tr key={group}>
              <th scope="row">{words(group)}</th>
              {channels.map((channel) => {
                const item = find(group, channel);
                return (
                  <td key={channel}>
                    {item && (
                      <input
                        type="checkbox"
                        aria-label={`${words(group)} by ${channel === "in_app" ? "in-app notice" : channel}`}
                        checked={item.enabled}
                        disabled={item.locked || action.busy}
                        onChange={() => toggle(item)}
                      />
                    )}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      <PhoneCard />
    </Page>
  );
}

function PhoneCard() {
  const start = useAction();
  const verify = useAction();
  const [sent, setSent] = useState(false);
  const [code, setCode] = useState("");
  const [verified, setVerified] = useState<string | null>(null);
  async function submit(event: FormEvent) {
    event.preventDefault();
    const phone = await verify.run(() => ok(api.POST("/api/auth/phone/verify", { body: { code } })));
    if (phone) setVerified(phone.phoneLast2);
  }
  return (
    <Card title="Phone for SMS">
      <p>Add your mobile number on your profile, then confirm it here with the code we text you.</p>
      <ProblemAlert error={start.error} />
      {start.stepUp}
      <button
        type="button"
        disabled={start.busy}
        onClick={async () => {
          if (await start.run(() => ok(api.POST("/api/auth/phone/start")))) setSent(true);
        }}
      >
        Text me a code
      </button>
      {sent && (
        <form onSubmit={submit} className="form narrow">
          <Field label="Code from the text" inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value.trim())} />
          <ProblemAlert error={verify.error} />
          {verify.stepUp}
          <button type="submit" disabled={verify.busy}>
            Confirm my phone
          </button>
        </form>
      )}
      {verified && <p role="status">Your phone ending in {verified} is confirmed.</p>}
    </Card>
  );
}
