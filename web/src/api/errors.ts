// ApiError: every failure of an API call, whatever its cause, has this
// shape, so screens show `message` and branch on `code`.

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | null;

  constructor(status: number, code: string, message: string, requestId: string | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

export const NETWORK_ERROR_MESSAGE =
  'Cannot reach the server. Check your connection and try again.';
export const STREAM_INTERRUPTED_MESSAGE =
  'The connection was lost before the answer finished.';
export const SESSION_ENDED_MESSAGE = 'Your session has ended. Please sign in again.';
export const ACCOUNT_DISABLED_MESSAGE =
  'Your account has been disabled by an administrator.';

export function networkError(): ApiError {
  return new ApiError(0, 'network_error', NETWORK_ERROR_MESSAGE);
}

export function isAbortError(e: unknown): boolean {
  return (
    typeof e === 'object' &&
    e !== null &&
    (e as { name?: string }).name === 'AbortError'
  );
}

/** The ApiError for a non-2xx response, from the API's JSON error body
 * when there is one (a proxy's HTML 502 has none). */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  const headerId = res.headers.get('X-Request-Id');
  let text = '';
  try {
    text = await res.text();
  } catch {
    return new ApiError(res.status, 'bad_response', unexpectedMessage(res.status), headerId);
  }
  try {
    const body = JSON.parse(text) as unknown;
    const err = (body as { error?: unknown } | null)?.error as
      | { code?: unknown; message?: unknown; request_id?: unknown }
      | undefined;
    if (err && typeof err.code === 'string' && typeof err.message === 'string') {
      const rid = typeof err.request_id === 'string' ? err.request_id : headerId;
      return new ApiError(res.status, err.code, err.message, rid);
    }
  } catch {
    // not JSON: fall through
  }
  return new ApiError(res.status, 'bad_response', unexpectedMessage(res.status), headerId);
}

function unexpectedMessage(status: number): string {
  if (status === 502 || status === 503 || status === 504) {
    return `The server is unavailable right now (HTTP ${status}). Try again in a moment.`;
  }
  return `The server sent an unexpected answer (HTTP ${status}).`;
}

/** Friendly words for the error codes a stored or streamed answer may carry
 * (a stored message keeps only its code). */
export const ANSWER_ERROR_MESSAGES: Record<string, string> = {
  quota_exceeded: 'The daily token quota is used up; it resets at 00:00 UTC.',
  model_unavailable: "This bot's model is not available on this server.",
  provider_throttled: 'The model provider is busy (too many requests). Try again shortly.',
  provider_unavailable: 'The model provider could not be reached.',
  provider_error: 'The model provider reported an error.',
  provider_timeout: 'The model stopped answering in time.',
  unavailable: 'The server was stopping; the answer was cut short.',
  worker_lost: 'The server lost the answer part-way.',
  timeout: 'The answer took too long and was stopped.',
  stream_interrupted: STREAM_INTERRUPTED_MESSAGE,
  network_error: NETWORK_ERROR_MESSAGE,
};

/** The resume request's refusals (GET /chats/{id}/stream), said plainly:
 * these end an answer that lost its connection. */
export const RESUME_ERROR_MESSAGES: Record<string, string> = {
  no_stream: 'The connection was lost and the answer could not be resumed: the server no longer has it.',
  chat_not_found: 'The connection was lost and the answer could not be resumed: this chat was not found.',
  invalid_last_event_id: 'The connection was lost and the server could not resume the answer from where it stopped.',
};

export function describeAnswerError(code: string | null | undefined, message?: string | null): string {
  if (message) return message;
  if (code && ANSWER_ERROR_MESSAGES[code]) return ANSWER_ERROR_MESSAGES[code];
  return code ? `The answer failed (${code}).` : 'The answer failed.';
}
