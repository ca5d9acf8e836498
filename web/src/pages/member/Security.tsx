/** Sign-in security: passkeys (add, list, remove) and the authenticator app (TOTP) with backup codes. Adding a
 * second factor is required of staff before any staff page answers. */
import { useState, type FormEvent } from "react";
import { api, ok } from "../../api/client";
import { Card, Empty, Field, Loading, Page, ProblemAlert, useAction, useLoad } from "../../components/ui";
import { when } from "../../format";
import { createPasskey, passkeysSupported } from "../../webauthn";

export function Security() {
  const passkeys = useLoad(() => ok(api.GET("/api/auth/passkeys")));
  const security = useLoad(() => ok(api.GET("/api/settings/security")));
  const add = useAction();
  const totp = useAction();
  const [enrolment, setEnrolment] = useState<{ secret: string; qr: string } | null>(null);
  const [code, setCode] = useState("");
  const [backupCodes, setBackupCodes] = useState<string[] | null>(null);

  async function addPasskey() {
    const done = await add.run(async () => {
      const ceremony = await ok(api.POST("/api/auth/passkeys/registration/options"));
      const credential = await createPasskey(ceremony.publicKey);
      return ok(api.POST("/api/auth/passkeys", { body: { challengeId: ceremony.challengeId, credential, name: null } }));
    });
    if (done) passkeys.reload();
  }

  async function startTotp() {
    const started = await totp.run(() => ok(api.POST("/api/auth/totp/enrolment")));
    if (started) setEnrolment({ secret: started.secret, qr: started.qrSvgDataUri });
  }

  async function confirmTotp(event: FormEvent) {
    event.preventDefault();
    const codes = await totp.run(() => ok(api.POST("/api/auth/totp/confirm", { body: { code } })));
    if (codes) {
      setBackupCodes(codes.backupCodes);
      setEnrolment(null);
      security.reload();
    }
  }

  if (passkeys.error) return <Page title="Sign-in security"><ProblemAlert error={passkeys.error} /></Page>;
  if (!passkeys.value || !security.value) return <Loading />;
  return (
    <Page title="Sign-in security">
      <div className="grid">
        <Card title="Passkeys">
          {passkeys.value.items.length === 0 ? (
            <Empty>No passkeys yet. A passkey signs you in with your fingerprint, face or device PIN.</Empty>
          ) : (
            <ul>
              {passkeys.value.items.map((p) => (
                <li key={p.id}>
                  {p.name} <small>added {when(p.createdAt)}</small>
                </li>
              ))}
            </ul>
          )}
          <ProblemAlert error={add.error} />
          {add.stepUp}
          {passkeysSupported() ? (
            <button type="button" onClick={addPasskey} disabled={add.busy}>
              Add a passkey
            </button>
          ) : (
            <p>This browser does not support passkeys.</p>
          )}
        </Card>
        <Card title="Authenticator app">
          {security.value.secondFactorEnabled ? (
            <p>Two-step sign-in is on (an authenticator app or a passkey).</p>
          ) : enrolment ? (
            <form onSubmit={confirmTotp} className="form">
              <img src={enrolment.qr} alt="QR code to scan with your authenticator app" width={180} height={180} />
              <p>
                Or enter this key: <code data-testid="totp-secret">{enrolment.secret}</code>
              </p>
              <Field label="Code from the app" inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value.trim())} />
              <ProblemAlert error={totp.error} />
              {totp.stepUp}
              <button type="submit" disabled={totp.busy}>
                Turn on
              </button>
            </form>
          ) : (
            <>
              <p>Add an authenticator app for two-step sign-in.</p>
              <ProblemAlert error={totp.error} />
              {totp.stepUp}
              <button type="button" onClick={startTotp} disabled={totp.busy}>
                Set up an authenticator app
              </button>
            </>
          )}
          {backupCodes && (
            <div role="status">
              <p>Keep these backup codes somewhere safe; each works once:</p>
              <ul className="codes">
                {backupCodes.map((c) => (
                  <li key={c}>
                    <code>{c}</code>
                  </li>
                ))}
              </ul>
            </div>
          )}
        </Card>
      </div>
    </Page>
  );
}
