import { ArgumentsHost, Catch, HttpException, HttpStatus, Logger, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError, ErrorCode, type ErrorBody } from './domain-error.js';

const STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  400: ErrorCode.VALIDATION,
  401: ErrorCode.UNAUTHORIZED,
  403: ErrorCode.FORBIDDEN,
  404: ErrorCode.NOT_FOUND,
  409: ErrorCode.CONFLICT,
  413: ErrorCode.PAYLOAD_TOO_LARGE,
  415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
  503: ErrorCode.UNAVAILABLE,
};

/** The request id set by the logging middleware (pino-http `req.id`) or sent by the client. */
export function requestIdOf(req: Request | undefined): string | undefined {
  const id = (req as { id?: unknown } | undefined)?.id ?? req?.headers?.['x-request-id'];
  return id === undefined ? undefined : String(id);
}

/**
 * Turns anything thrown into `{ error: { code, message, details } }`. DomainErrors keep their code;
 * Nest HttpExceptions map by status; unknown errors are logged with the request id and answered
 * with a generic 500 that leaks nothing.
 */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly log = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const req = host.switchToHttp().getRequest<Request>();
    const res = host.switchToHttp().getResponse<Response>();
    const { status, body } = this.toResponse(exception, req);
    if (res.headersSent) return;
    if (exception instanceof DomainError && exception.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(exception.retryAfterSeconds));
    res.status(status).json(body);
  }

  toResponse(exception: unknown, req?: Request): { status: number; body: ErrorBody } {
    if (exception instanceof DomainError) {
      // UNAVAILABLE is a state the service reports (model loading, a probe failing), not a fault:
      // one info line without a stack. Other 5xx domain errors are faults.
      if (exception.code === ErrorCode.UNAVAILABLE) this.logUnavailable(exception, req);
      else if (exception.status >= 500) this.logUnexpected(exception, req);
      return { status: exception.status, body: exception.toBody() };
    }
    const bodyParserError = toBodyParserError(exception);
    if (bodyParserError) return { status: bodyParserError.status, body: bodyParserError.toBody() };
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const code = STATUS_CODES[status];
      if (code) {
        const message = typeof exception.getResponse() === 'string' ? String(exception.getResponse()) : exception.message;
        return { status, body: { error: { code, message, details: null } } };
      }
    }
    this.logUnexpected(exception, req);
    return {
      status: HttpStatus.INTERNAL_SERVER_ERROR,
      body: { error: { code: ErrorCode.INTERNAL, message: 'internal error', details: { requestId: requestIdOf(req) ?? null } } },
    };
  }

  private logUnavailable(exception: DomainError, req?: Request): void {
    const id = requestIdOf(req);
    const retry = exception.retryAfterSeconds === undefined ? '' : ` (retry after ${exception.retryAfterSeconds} s)`;
    this.log.log(`503 on ${req?.method ?? '?'} ${req?.originalUrl ?? '?'}${id ? ` (request ${id})` : ''}: ${exception.message}${retry}`);
  }

  private logUnexpected(exception: unknown, req?: Request): void {
    const id = requestIdOf(req);
    const what = exception instanceof Error ? (exception.stack ?? exception.message) : String(exception);
    this.log.error(`unhandled error${id ? ` (request ${id})` : ''} on ${req?.method ?? '?'} ${req?.originalUrl ?? '?'}: ${what}`);
  }
}

/** body-parser reports its failures as plain errors with `type` and `status`. */
export function toBodyParserError(e: unknown): DomainError | undefined {
  const err = e as { type?: unknown; status?: unknown; limit?: unknown; message?: string } | null;
  switch (err?.type) {
    case 'entity.too.large':
      return new DomainError(ErrorCode.PAYLOAD_TOO_LARGE, `request body exceeds the limit of ${String(err.limit)} bytes`, {
        field: 'body',
        limitBytes: err.limit,
      });
    case 'entity.parse.failed':
      return new DomainError(ErrorCode.MALFORMED_JSON, 'request body is not valid JSON', { field: 'body', reason: err.message });
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new DomainError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, err.message ?? 'unsupported encoding', { field: 'body' });
    case 'request.aborted':
    case 'stream.encoding.set':
    case 'request.size.invalid':
      return new DomainError(ErrorCode.VALIDATION, err.message ?? 'bad request body', [{ field: 'body', message: err.message ?? '' }]);
    default:
      return undefined;
  }
}
