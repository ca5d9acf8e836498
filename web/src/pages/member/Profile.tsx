/** My profile: legal name, date of birth and US address (needed before joining), phone. */
import { useEffect, useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { api, ok } from "../../api/client";
import { Field, Loading, Page, ProblemAlert, useAction, useLoad } from "../../components/ui";

export function Profile() {
  const navigate = useNavigate();
  const { value: profile, error } = useLoad(() => ok(api.GET("/api/profiles/me")));
  const action = useAction();
  const [form, setForm] = useState({ first: "", last: "", dob: "", line1: "", line2: "", city: "", state: "", zip: "", phone: "" });
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    if (!profile) return;
    setForm({
      first: profile.legalFirstName ?? "",
      last: profile.legalLastName ?? "",
      dob: profile.dateOfBirth ?? "",
      line1: profile.address?.line1 ?? "",
      line2: profile.address?.line2 ?? "",
      city: profile.address?.city ?? "",
      state: profile.address?.state ?? "",
      zip: profile.address?.zip ?? "",
      phone: profile.phone ?? "",
    });
  }, [profile]);

  const set = (key: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement>) =>
    setForm({ ...form, [key]: e.target.value });

  async function submit(event: FormEvent) {
    event.preventDefault();
    setSaved(false);
    const done = await action.run(() =>
      ok(
        api.PATCH("/api/profiles/me", {
          body: {
            legalFirstName: form.first || null,
            legalLastName: form.last || null,
            dateOfBirth: form.dob || null,
            address: {
              line1: form.line1,
              line2: form.line2 || null,
              city: form.city,
              state: form.state.toUpperCase(),
              zip: form.zip,
            },
            phone: form.phone || null,
          },
        }),
      ),
    );
    if (done) {
      setSaved(true);
      navigate("/join");
    }
  }

  if (error) return <Page title="Your profile"><ProblemAlert error={error} /></Page>;
  if (!profile) return <Loading />;
  return (
    <Page title="Your profile">
      <form onSubmit={submit} className="form">
        <p>Your legal name, date of birth and a US address are needed to join (the program is for US persons).</p>
        <div className="row">
          <Field label="Legal first name" autoComplete="given-name" required value={form.first} onChange={set("first")} />
          <Field label="Legal last name" autoComplete="family-name" required value={form.last} onChange={set("last")} />
        </div>
        <Field label="Date of birth" type="date" autoComplete="bday" required value={form.dob} onChange={set("dob")} />
        <Field label="Street address" autoComplete="address-line1" required value={form.line1} onChange={set("line1")} />
        <Field label="Apartment, suite (optional)" autoComplete="address-line2" value={form.line2} onChange={set("line2")} />
        <div className="row">
          <Field label="City" autoComplete="address-level2" required value={form.city} onChange={set("city")} />
          <Field label="State" autoComplete="address-level1" required maxLength={2} hint="Two letters, e.g. IL" value={form.state} onChange={set("state")} />
          <Field label="ZIP code" autoComplete="postal-code" required value={form.zip} onChange={set("zip")} />
        </div>
        <Field
          label="Mobile phone (optional)"
          type="tel"
          autoComplete="tel"
          hint="For SMS notices, e.g. +15551234567; confirm it under Settings."
          value={form.phone}
          onChange={set("phone")}
        />
        <ProblemAlert error={action.error} />
        {action.stepUp}
        {saved && <p role="status">Saved.</p>}
        <button type="submit" disabled={action.busy}>
          Save and continue
        </button>
      </form>
    </Page>
  );
}
