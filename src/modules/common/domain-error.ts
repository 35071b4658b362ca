import { HttpStatus } from '@nestjs/common';

/** Every error code the API answers with. Add a code here and TypeScript asks for its status. */
export enum ErrorCode {
  VALIDATION = 'VALIDATION',
  MALFORMED_JSON = 'MALFORMED_JSON',
  UNAUTHORIZED = 'UNAUTHORIZED',
  FORBIDDEN = 'FORBIDDEN',
  NOT_FOUND = 'NOT_FOUND',
  CONFLICT = 'CONFLICT',
  PAYLOAD_TOO_LARGE = 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE = 'UNSUPPORTED_MEDIA_TYPE',
  INTEGRITY = 'INTEGRITY',
  UNAVAILABLE = 'UNAVAILABLE',
  /** Back-pressure: the inference queue is full (with Retry-After). */
  TOO_MANY_REQUESTS = 'TOO_MANY_REQUESTS',
  /** The request ran past its timeout. */
  TIMEOUT = 'TIMEOUT',
  /** An uploaded adapter's values are finite but too large to apply (scale, weight norms, probe logits). */
  ADAPTER_OUT_OF_RANGE = 'ADAPTER_OUT_OF_RANGE',
  INTERNAL = 'INTERNAL',
  /** An unlearning adapter changes state only through its unlearning request (revoke). */
  UNLEARNING_ADAPTER_LOCKED = 'UNLEARNING_ADAPTER_LOCKED',
  /** An adapter name belongs to one kind (an import never takes an unlearning adapter's name). */
  ADAPTER_NAME_TAKEN = 'ADAPTER_NAME_TAKEN',
  /** An Idempotency-Key reused with a different request body. */
  IDEMPOTENCY_KEY_REUSED = 'IDEMPOTENCY_KEY_REUSED',
  /** A recorded audit head whose signature is not the server's. */
  AUDIT_HEAD_SIGNATURE_INVALID = 'AUDIT_HEAD_SIGNATURE_INVALID',
}

/** The one place codes meet HTTP (exhaustive: a missing code is a compile error). */
export const HTTP_STATUS: Record<ErrorCode, HttpStatus> = {
  [ErrorCode.VALIDATION]: HttpStatus.BAD_REQUEST,
  [ErrorCode.MALFORMED_JSON]: HttpStatus.BAD_REQUEST,
  [ErrorCode.UNAUTHORIZED]: HttpStatus.UNAUTHORIZED,
  [ErrorCode.FORBIDDEN]: HttpStatus.FORBIDDEN,
  [ErrorCode.NOT_FOUND]: HttpStatus.NOT_FOUND,
  [ErrorCode.CONFLICT]: HttpStatus.CONFLICT,
  [ErrorCode.PAYLOAD_TOO_LARGE]: HttpStatus.PAYLOAD_TOO_LARGE,
  [ErrorCode.UNSUPPORTED_MEDIA_TYPE]: HttpStatus.UNSUPPORTED_MEDIA_TYPE,
  // Stored data failed its integrity check (e.g. a blob's sha256): the server's fault, not the caller's.
  [ErrorCode.INTEGRITY]: HttpStatus.INTERNAL_SERVER_ERROR,
  [ErrorCode.UNAVAILABLE]: HttpStatus.SERVICE_UNAVAILABLE,
  [ErrorCode.TOO_MANY_REQUESTS]: HttpStatus.TOO_MANY_REQUESTS,
  [ErrorCode.TIMEOUT]: HttpStatus.GATEWAY_TIMEOUT,
  [ErrorCode.ADAPTER_OUT_OF_RANGE]: HttpStatus.BAD_REQUEST,
  [ErrorCode.INTERNAL]: HttpStatus.INTERNAL_SERVER_ERROR,
  [ErrorCode.UNLEARNING_ADAPTER_LOCKED]: HttpStatus.FORBIDDEN,
  [ErrorCode.ADAPTER_NAME_TAKEN]: HttpStatus.CONFLICT,
  [ErrorCode.IDEMPOTENCY_KEY_REUSED]: HttpStatus.UNPROCESSABLE_ENTITY,
  [ErrorCode.AUDIT_HEAD_SIGNATURE_INVALID]: HttpStatus.BAD_REQUEST,
};

/** One invalid input: `field` is a dotted path (`lethe.adapters.0.strength`) or a param name. */
export interface FieldIssue {
  field: string;
  message: string;
}

/** The JSON body of every error response. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details: unknown };
}

/** An error the service means to report; the exception filter turns it into {@link ErrorBody}. */
export class DomainError extends Error {
  /** Seconds for the `Retry-After` header (503 while starting, 429 back-pressure); unset: none. */
  retryAfterSeconds?: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
    this.name = 'DomainError';
  }

  /** The same error with a `Retry-After` hint (whole seconds, at least 1). */
  retryAfter(seconds: number): this {
    this.retryAfterSeconds = Math.max(1, Math.ceil(seconds));
    return this;
  }

  get status(): HttpStatus {
    return HTTP_STATUS[this.code];
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }

  static notFound(what: string, id: string): DomainError {
    return new DomainError(ErrorCode.NOT_FOUND, `${what} ${id} not found`, { id });
  }

  static validation(issues: FieldIssue[]): DomainError {
    const fields = [...new Set(issues.map((i) => i.field))].join(', ');
    return new DomainError(ErrorCode.VALIDATION, `invalid input: ${fields}`, issues);
  }
}
