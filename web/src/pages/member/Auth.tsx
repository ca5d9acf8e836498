/** Sign up, verify the email address, sign in (password, then a second factor if the account has one; or a
 * passkey), and sign out. */
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { api, ok, ProblemError } from "../../api/client";
import { Field, Page, ProblemAlert, useAction } from "../../components/ui";
import { useSession } from "../../session";
import { passkeysSupported, usePasskey } from "../../webauthn";

export function SignUp() {
  const navigate = useNavigate();
  const action = useAction();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");

  async function submit(event: FormEvent) {
    event.preventDefault();
    const done = await action.run(async () => {
      await ok(api.POST("/api/auth/sign-up", { body: { email, password } }));
      return true;
    });
    if (done) navigate(`/verify-email?email=${encodeURIComponent(email)}`);
  }

  return (
    <Page title="Become a member">
      <form onSubmit={submit} className="form narrow">
        <Field label="Email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <Field
          label="Password"
          type="password"
          autoComplete="new-password"
          required
          minLength={12}
          hint="At least 12 characters; a passphrase of a few words is good."
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <ProblemAlert error={action.error} />
        {action.stepUp}
        <button type="submit" disabled={action.busy}>
          Create account
        </button>
        <p>
          Already a member? <Link to="/sign-in">Sign in</Link>
        </p>
      </form>
    </Page>
  );
}

export function VerifyEmail() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const action = useAction();
  const resend = useAction();
  const [email, setEmail] = useState(params.get("email") ?? "");
  const [code, setCode] = useState("");
  const [resent, setResent] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const done = await action.run(async () => {
      await ok(api.POST("/api/auth/verify-email", { body: { email, code } }));
      return true;
    });
    if (done) navigate(`/sign-in?verified=1&email=${encodeURIComponent(email)}`);
  }

  return (
    <Page title="Check your email">
      <form onSubmit={submit} className="form narrow">
        <p>We sent a 6-digit code to your address. Enter it here to confirm it is yours.</p>
        <Field label="Email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <Field
          label="Code"
          inputMode="numeric"
          autoComplete="one-time-code"
          pattern="[0-9]{6}"
          required
          value={code}
          onChange={(e) => setCode(e.target.value.trim())}
        />
        <ProblemAlert error={action.error ?? resend.error} />
        <button type="submit" disabled={action.busy}>
          Confirm
        </button>
        <button
          type="button"
          className="secondary"
          disabled={resend.busy || !email}
          onClick={async () => {
            await resend.run(() => ok(api.POST("/api/auth/verify-email/resend", { body: { email } })));
            setResent(true);
          }}
        >
          Send a new code
        </button>
        {resent && <p role="status">If the address is waiting for confirmation, a new code is on its way.</p>}
      </form>
    </Page>
  );
}

export function SignIn() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const { signedIn } = useSession();
  const action = useAction();
  const [email, setEmail] = useState(params.get("email") ?? "");
  const [password, setPassword] = useState("");
  const [secondFactor, setSecondFactor] = useState("");
  const [needsSecondFactor, setNeedsSecondFactor] = useState(false);

  function land(role: string) {
    const next = params.get("next");
    const local = next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\");
    navigate(local ? next : role === "admin" || role === "finance" ? "/staff" : "/dashboard");
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    const session = await action.run(async () => {
      try {
        return await ok(
          api.POST("/api/auth/sign-in", {
            body: { email, password, secondFactor: needsSecondFactor ? secondFactor : null },
          }),
        );
      } catch (error) {
        if (error instanceof ProblemError && error.code === "second_factor_required") {
          setNeedsSecondFactor(true);
          return undefined;
        }
        throw error;
      }
    });
    if (session) {
      signedIn(session);
      land(session.role);
    }
  }

  async function withPasskey() {
    const session = await action.run(async () => {
      const ceremony = await ok(api.POST("/api/auth/passkeys/sign-in/options"));
      const credential = await usePasskey(ceremony.publicKey);
      return ok(api.POST("/api/auth/passkeys/sign-in", { body: { challengeId: ceremony.challengeId, credential } }));
    });
    if (session) {
      signedIn(session);
      land(session.role);
    }
  }

  return (
    <Page title="Sign in">
      <form onSubmit={submit} className="form narrow">
        {params.get("verified") && <p role="status">Your email address is confirmed. Sign in to continue.</p>}
        <Field label="Email" type="email" autoComplete="username webauthn" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <Field
          label="Password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {needsSecondFactor && (
          <Field
            label="Authenticator or backup code"
            autoComplete="one-time-code"
            required
            autoFocus
            hint="Your account has two-step sign-in: enter the code from your authenticator app, or a backup code."
            value={secondFactor}
            onChange={(e) => setSecondFactor(e.target.value.trim())}
          />
        )}
        <ProblemAlert error={action.error} />
        {action.stepUp}
        <button type="submit" disabled={action.busy}>
          Sign in
        </button>
        {passkeysSupported() && (
          <button type="button" className="secondary" onClick={withPasskey} disabled={action.busy}>
            Sign in with a passkey
          </button>
        )}
        <p>
          New here? <Link to="/sign-up">Become a member</Link>
        </p>
      </form>
    </Page>
  );
}
