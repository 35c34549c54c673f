// Method's response envelopes and request errors (method.md §1.3–1.4), as the simulator sends them.

export interface MethodErrorBody {
  success: false;
  data: { error: { type: string; code: number; sub_type: string; message: string } };
  message: string;
}

/** A request error: HTTP status = `code`, Method's uppercase `type` and its `sub_type`. */
export class MethodApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly subType: string,
    message: string,
  ) {
    super(message);
    this.name = 'MethodApiError';
  }

  toBody(): MethodErrorBody {
    return {
      success: false,
      data: { error: { type: this.type, code: this.status, sub_type: this.subType, message: this.message } },
      message: this.message,
    };
  }
}

export function invalid(subType: string, message: string): MethodApiError {
  return new MethodApiError(400, 'INVALID_REQUEST', subType, message);
}

export function notFound(what: string, id: string): MethodApiError {
  return new MethodApiError(404, 'INVALID_REQUEST', 'NOT_FOUND', `${what} with id ${id} could not be found.`);
}

export function okBody<T>(
  data: T,
  message: string | null = null,
): { success: true; data: T; message: string | null } {
  return { success: true, data, message };
}

export const INTERNAL_ERROR = new MethodApiError(
  500,
  'API_ERROR',
  'INTERNAL_SERVER_ERROR',
  'An internal error occurred. Please try again later.',
);

export const IDEMPOTENCY_UNAVAILABLE = new MethodApiError(
  503,
  'API_ERROR',
  'IDEMPOTENCY_UNAVAILABLE',
  'Idempotent requests are temporarily unavailable. Please try again later.',
);

export function tooManyRequests(): MethodApiError {
  return new MethodApiError(
    429,
    'INVALID_REQUEST',
    'TOO_MANY_REQUESTS',
    'The maximum rate limit has been exceeded. Please retry after the time in the Retry-After header.',
  );
}
