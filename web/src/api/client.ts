/**
 * The typed API client. Types come from the service's own OpenAPI document (`src/api/schema.d.ts`, generated at
 * build time by `make web`), so a change of the API that the app does not follow fails the build.
 *
 * Every call sends the session cookie (same origin) and, on unsafe methods, the CSRF token the service set in the
 * `__Host-csrftoken` cookie. Errors are RFC 9457 problem documents; `ProblemError` carries them to the page.
 */
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"] & { problems?: string[]; errors?: { message: string; field?: string | null }[] };

const CSRF_COOKIE = "__Host-csrftoken";
const CSRF_HEADER = "x-csrftoken";
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

export class ProblemError extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail ?? problem.title);
    this.problem = problem;
  }
  get status(): number {
    return this.problem.status;
  }
  get code(): string {
    return this.problem.code;
  }
}

function cookie(name: string): string | undefined {
  const prefix = `${name}=`;
  return document.cookie
    .split("; ")
    .find((part) => part.startsWith(prefix))
    ?.slice(prefix.length);
}

async function csrfToken(): Promise<string | undefined> {
  if (!cookie(CSRF_COOKIE)) {
    await fetch("/api/auth/csrf", { credentials: "same-origin" });
  }
  return cookie(CSRF_COOKIE);
}

const csrf: Middleware = {
  async onRequest({ request }) {
    if (SAFE.has(request.method)) return request;
    const token = await csrfToken();
    if (token) request.headers.set(CSRF_HEADER, token);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(csrf);

/** The body of a successful call, or a thrown `ProblemError` (a network failure becomes one too). */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch {
    throw new ProblemError({
      type: "about:blank",
      title: "The service cannot be reached. Check your connection and try again.",
      status: 0,
      code: "network_error",
      instance: "",
      requestId: "",
    });
  }
  if (result.response.ok) return result.data as T;
  const error = result.error as Partial<Problem> | undefined;
  throw new ProblemError({
    type: error?.type ?? "about:blank",
    title: error?.title ?? result.response.statusText ?? "Request failed",
    status: result.response.status,
    code: error?.code ?? "error",
    instance: error?.instance ?? "",
    requestId: error?.requestId ?? "",
    detail: error?.detail ?? null,
    problems: error?.problems,
    errors: error?.errors,
  });
}
