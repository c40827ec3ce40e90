/** Turning what the server says into sentences a person can act on. */

/** A request that failed as a whole: `code` is `extensions.code` or one of ours. */
export class ApiError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.code = code;
  }
}

export const NETWORK_ERROR = "NETWORK_ERROR";
export const SERVER_ERROR = "SERVER_ERROR";

const SENTENCES: Record<string, string> = {
  UNAUTHENTICATED: "Your session has ended. Please sign in again.",
  FORBIDDEN: "You are not allowed to do that.",
  NOT_FOUND: "That could not be found. It may have been deleted.",
  RATE_LIMITED: "Too many requests. Please wait a moment and try again.",
  QUERY_TOO_COMPLEX: "That request asks for too much at once.",
  SERVICE_UNAVAILABLE: "The server is busy. Please try again in a moment.",
  INTERNAL: "The server had a problem. Please try again.",
  [SERVER_ERROR]: "The server had a problem. Please try again.",
  [NETWORK_ERROR]: "The server could not be reached. Check your connection and try again.",
};

/** A sentence for a whole-request failure; codes we do not know name themselves. */
export function sentenceForCode(code: string): string {
  return SENTENCES[code] ?? `The server refused the request (${code.toLowerCase().replaceAll("_", " ")}).`;
}

/** The server's messages start in lower case ("the amount must be positive"): make them sentences. */
export function asSentence(message: string): string {
  const trimmed = message.trim();
  if (!trimmed) return trimmed;
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** What to show for anything a request threw. */
export function errorSentence(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return sentenceForCode(SERVER_ERROR);
}
