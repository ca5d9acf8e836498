/** Confirming who you are again before a sensitive action (changing payout or tax details, adding a passkey or an
 * authenticator, moving money): the API answers `step_up_required` when the last sign-in is older than a few
 * minutes; this prompt re-authenticates (password and, if the account has one, a second factor; or a passkey) and
 * then runs the action again. */
import { useEffect, useRef, useState, type FormEvent } from "react";
import { createPortal } from "react-dom";
import { api, ok } from "../api/client";
import { passkeysSupported, usePasskey } from "../webauthn";
import { Field, ProblemAlert } from "./ui";

export function StepUpPrompt({ onDone, onCancel }: { onDone: () => void; onCancel: () => void }) {
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const dialog = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal(); // focus moves into the dialog; Escape cancels
  }, []);

  async function confirm(run: () => Promise<unknown>) {
    setBusy(true);
    setError(undefined);
    try {
      await run();
      onDone();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    event.stopPropagation(); // React events bubble through portals: never submit the form that asked for this
    void confirm(() => ok(api.POST("/api/auth/step-up", { body: { password, secondFactor: code || null } })));
  }

  function withPasskey() {
    void confirm(async () => {
      const ceremony = await ok(api.POST("/api/auth/passkeys/step-up/options"));
      const credential = await usePasskey(ceremony.publicKey);
      return ok(api.POST("/api/auth/passkeys/step-up", { body: { challengeId: ceremony.challengeId, credential } }));
    });
  }

  // Rendered into <body>: the action that needs it often sits in a form, and forms do not nest.
  return createPortal(
    <dialog ref={dialog} aria-labelledby="step-up-title" onCancel={onCancel} className="dialog">
      <form onSubmit={submit} className="form">
        <h2 id="step-up-title">Confirm it is you</h2>
        <p>This change needs a recent sign-in. Enter your password to continue.</p>
        <Field label="Password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        <Field
          label="Authenticator or backup code (if you use one)"
          autoComplete="one-time-code"
          value={code}
          onChange={(e) => setCode(e.target.value.trim())}
        />
        <ProblemAlert error={error} />
        <div className="actions">
          <button type="submit" disabled={busy}>
            Confirm
          </button>
          {passkeysSupported() && (
            <button type="button" className="secondary" disabled={busy} onClick={withPasskey}>
              Use a passkey
            </button>
          )}
          <button type="button" className="secondary" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </dialog>,
    document.body,
  );
}
