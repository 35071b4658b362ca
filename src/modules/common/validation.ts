import { Injectable, Param, ValidationPipe, type ArgumentMetadata, type PipeTransform, type ValidationError } from '@nestjs/common';
import { isUUID } from 'class-validator';
import { DomainError, type FieldIssue } from './domain-error.js';
import { findNumberIssue } from './input-guard.js';

/** Flattens class-validator's tree into `{ field: 'a.b.0.c', message }` issues. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldIssue[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flattenValidationErrors(e.children ?? [], field)];
  });
}

/**
 * ValidationPipe, then the input guard's number rule on the transformed value: query strings
 * become numbers only here (`offset=1e20` is an integer to class-validator, and overflows a
 * `bigint` column), so every number a DTO holds must be finite and within ±(2^53 − 1).
 */
export class GuardedValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const out: unknown = await super.transform(value, metadata);
    if (metadata.type === 'custom') return out;
    const issue = findNumberIssue(out);
    if (issue) throw DomainError.validation([issue]);
    return out;
  }
}

/** The global pipe: whitelist, forbid unknown fields, transform; errors name every field. */
export function createValidationPipe(): ValidationPipe {
  return new GuardedValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) => DomainError.validation(flattenValidationErrors(errors)),
  });
}

/** Rejects a path parameter that is not a UUID with a 400 naming the parameter. */
@Injectable()
export class UuidPipe implements PipeTransform<string, string> {
  constructor(private readonly field: string) {}

  transform(value: string): string {
    if (!isUUID(value)) throw DomainError.validation([{ field: this.field, message: `${this.field} must be a UUID` }]);
    return value;
  }
}

/** `@UuidParam('id') id: string` — a path parameter validated as a UUID. */
export const UuidParam = (name: string): ParameterDecorator => Param(name, new UuidPipe(name));
