/** Small building blocks every page uses: headings, fields with labels, problem alerts, loading and empty states. */
import { useEffect, useId, useState, type InputHTMLAttributes, type ReactNode } from "react";
import { ProblemError } from "../api/client";
import { StepUpPrompt } from "./StepUp";
import { words } from "../format";

export function Page({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · Tenure`;
  }, [title]);
  return (
    <section className="page" aria-labelledby="page-title">
      <header className="page-header">
        <h1 id="page-title">{title}</h1>
        {actions}
      </header>
      {children}
    </section>
  );
}

export function Card({ title, children }: { title: string; children: ReactNode }) {
  const id = useId();
  return (
    <section className="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

type FieldProps = InputHTMLAttributes<HTMLInputElement> & { label: string; hint?: string };

export function Field({ label, hint, ...input }: FieldProps) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-describedby={hint ? `${id}-hint` : undefined} {...input} />
      {hint && (
        <small id={`${id}-hint`} className="hint">
          {hint}
        </small>
      )}
    </div>
  );
}

/** A problem document as the person should read it: the title, the detail, and each listed problem. */
export function ProblemAlert({ error }: { error: unknown }) {
  if (!error) return null;
  if (!(error instanceof ProblemError)) {
    return (
      <div role="alert" className="alert">
        Something went wrong. Please try again.
      </div>
    );
  }
  const { problem } = error;
  const details = [...(problem.problems ?? []).map(words), ...(problem.errors ?? []).map((e) => e.message)];
  return (
    <div role="alert" className="alert">
      <strong>{problem.title}</strong>
      {problem.detail && problem.detail !== problem.title && <p>{problem.detail}</p>}
      {details.length > 0 && (
        <ul>
          {details.map((text) => (
            <li key={text}>{text}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p className="loading" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** Load once (and again when `deps` change): the value, the error, and a reload. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []) {
  const [value, setValue] = useState<T | undefined>();
  const [error, setError] = useState<unknown>();
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let live = true;
    setError(undefined);
    load().then(
      (v) => live && setValue(v),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, version]);
  return { value, error, reload: () => setVersion((n) => n + 1) };
}

/** Run an action once at a time, keeping its error for display. When the API asks for a recent sign-in
 * (`step_up_required`), `stepUp` is the prompt to render; once confirmed the action runs again and `run` resolves
 * with that second result (or `undefined` if the person cancels). */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [pending, setPending] = useState<{ confirmed: () => void; cancelled: () => void } | null>(null);

  async function run<T>(action: () => Promise<T>): Promise<T | undefined> {
    setBusy(true);
    setError(undefined);
    try {
      return await action();
    } catch (e) {
      if (!(e instanceof ProblemError && e.code === "step_up_required")) {
        setError(e);
        return undefined;
      }
      const confirmed = await new Promise<boolean>((resolve) =>
        setPending({ confirmed: () => resolve(true), cancelled: () => resolve(false) }),
      );
      setPending(null);
      return confirmed ? run(action) : undefined;
    } finally {
      setBusy(false);
    }
  }

  const stepUp = pending ? <StepUpPrompt onDone={pending.confirmed} onCancel={pending.cancelled} /> : null;
  return { busy, error, run, setError, stepUp };
}
