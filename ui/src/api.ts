/**
 * The typed client of the HTTP API. Every call returns the contract's type or throws an
 * `ApiError` carrying the status and the server's own message, so a view can tell "the
 * token is wrong" (401) from "that route does not exist here" (404) from a server fault.
 */
import type {
  AllocationsResponse,
  ApiErrorBody,
  ExperimentsResponse,
  FeedbackListingsResponse,
  WeightsResponse,
  DeadLettersResponse,
  DlqAction,
  DlqActionResponse,
  DlqSelection,
  EntriesResponse,
  IdeaListingsResponse,
  GenerationsResponse,
  IdeasQuery,
  IdeasResponse,
  PickResponse,
  RefineResponse,
  ReviewAction,
  ReviewResponse,
  Snapshot,
  StreamInfo,
  TopologyJson
} from "../../operators/api/contract.ts"

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly path: string
  ) {
    super(message)
  }
  get unauthorized() {
    return this.status === 401
  }
  get notFound() {
    return this.status === 404
  }
}

const TOKEN_KEY = "desainz.token"

/** The bearer token lives in sessionStorage: entered once per tab, gone when it closes. */
export const tokenStore = {
  get: (): string => {
    try {
      return sessionStorage.getItem(TOKEN_KEY) ?? ""
    } catch {
      return ""
    }
  },
  set: (token: string) => {
    try {
      if (token === "") sessionStorage.removeItem(TOKEN_KEY)
      else sessionStorage.setItem(TOKEN_KEY, token)
    } catch {
      // Storage disabled: the token then lasts as long as the page.
    }
  }
}

const request = async <A>(path: string, init: RequestInit & { auth?: boolean } = {}): Promise<A> => {
  const headers = new Headers(init.headers)
  if (init.body !== undefined) headers.set("content-type", "application/json")
  if (init.auth) {
    const token = tokenStore.get()
    if (token !== "") headers.set("authorization", `Bearer ${token}`)
  }
  let response: Response
  try {
    response = await fetch(path, { ...init, headers })
  } catch (cause) {
    throw new ApiError(0, `the server does not answer (${cause instanceof Error ? cause.message : String(cause)})`, path)
  }
  const text = await response.text()
  let body: unknown = undefined
  try {
    body = text === "" ? undefined : JSON.parse(text)
  } catch {
    body = undefined
  }
  if (!response.ok) {
    const message = (body as ApiErrorBody | undefined)?.error ?? `${response.status} ${response.statusText}`
    throw new ApiError(response.status, message, path)
  }
  return body as A
}

const enc = encodeURIComponent

export const api = {
  topology: () => request<TopologyJson>("/api/topology"),
  snapshot: () => request<Snapshot>("/api/snapshot"),
  streamInfo: (stream: string) => request<StreamInfo>(`/api/streams/${enc(stream)}`),
  entries: (stream: string, count = 50, signal?: AbortSignal) =>
    request<EntriesResponse>(`/api/streams/${enc(stream)}/entries?count=${count}`, signal ? { signal } : {}),
  deadLetters: (operator: string, count = 100) => request<DeadLettersResponse>(`/api/dlq/${enc(operator)}?count=${count}`),
  dlqAction: (operator: string, action: DlqAction, selection: DlqSelection) =>
    request<DlqActionResponse>(`/api/dlq/${enc(operator)}/${action}`, { method: "POST", body: JSON.stringify(selection), auth: true }),
  ideas: (query: IdeasQuery = {}) => {
    const params = new URLSearchParams()
    if (query.status) params.set("status", query.status)
    if (query.review) params.set("review", query.review)
    if (query.limit) params.set("limit", String(query.limit))
    const qs = params.toString()
    return request<IdeasResponse>(`/api/ideas${qs ? `?${qs}` : ""}`)
  },
  listings: (ideaId: string) => request<IdeaListingsResponse>(`/api/ideas/${enc(ideaId)}/listings`),
  review: (ideaId: string, action: ReviewAction) =>
    request<ReviewResponse>(`/api/ideas/${enc(ideaId)}/${action}`, { method: "POST", body: "{}", auth: true }),
  feedbackListings: (limit = 50) => request<FeedbackListingsResponse>(`/api/feedback/listings?limit=${limit}`),
  experiments: () => request<ExperimentsResponse>("/api/feedback/experiments"),
  allocations: (days = 7) => request<AllocationsResponse>(`/api/feedback/allocations?days=${days}`),
  weights: () => request<WeightsResponse>("/api/feedback/weights"),
  generations: (ideaId: string) => request<GenerationsResponse>(`/api/ideas/${enc(ideaId)}/generations`),
  pick: (ideaId: string, candidateId: string) =>
    request<PickResponse>(`/api/ideas/${enc(ideaId)}/pick`, { method: "POST", body: JSON.stringify({ candidateId }), auth: true }),
  refine: (ideaId: string, instruction: string) =>
    request<RefineResponse>(`/api/ideas/${enc(ideaId)}/refine`, { method: "POST", body: JSON.stringify({ instruction }), auth: true })
}

/** A sentence for an error banner; 401 says what to do about it. */
export const describeApiError = (e: unknown): string => {
  if (!(e instanceof ApiError)) return e instanceof Error ? e.message : String(e)
  if (e.status === 401) {
    return tokenStore.get() === ""
      ? `401 Unauthorized: this action needs the API token (DESAINZ_TOKEN). Enter it in Settings. Server said: ${e.message}`
      : `401 Unauthorized: the server refused the token in Settings. Server said: ${e.message}`
  }
  if (e.status === 0) return e.message
  return `${e.status}: ${e.message}`
}
