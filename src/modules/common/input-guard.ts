import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { DomainError, type FieldIssue } from './domain-error.js';

/**
 * The input rules every request passes before anything reaches class-transformer, a service or
 * Postgres (issue 12): no NUL and no lone UTF-16 surrogate in any string or key (Postgres refuses
 * `\u0000` in text and jsonb; canonical JSON and hashing throw on lone surrogates), no prototype
 * keys (`__proto__`, `constructor`, `prototype` would be stripped silently or reach object
 * merging), numbers finite and within ±(2^53 − 1) (beyond it a JSON number is not the integer the
 * client wrote, and `bigint` columns overflow), nesting at most {@link INPUT_LIMITS.maxDepth} deep
 * (class-transformer and class-validator recurse). Every refusal is a 400 naming the field.
 */
export const INPUT_LIMITS = Object.freeze({
  /** Deepest nesting of objects/arrays in a JSON body (the deepest DTO needs 4). */
  maxDepth: 32,
  /** Largest magnitude of a number anywhere in the input. */
  maxSafeNumber: Number.MAX_SAFE_INTEGER,
});

const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a string is refused, or undefined when it is acceptable. */
export function textProblem(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain NUL (\\u0000) characters';
  if (LONE_SURROGATE.test(s)) return 'must not contain lone UTF-16 surrogates (invalid Unicode)';
  return undefined;
}

/** Why a number is refused, or undefined when it is acceptable. */
export function numberProblem(n: number): string | undefined {
  if (!Number.isFinite(n)) return 'must be a finite number';
  if (Math.abs(n) > INPUT_LIMITS.maxSafeNumber) return `must be within ±${INPUT_LIMITS.maxSafeNumber} (2^53 − 1)`;
  return undefined;
}

/** Why an object key is refused (the key itself is a field name), or undefined. */
export function keyProblem(key: string): string | undefined {
  if (PROTOTYPE_KEYS.has(key)) return `prototype key "${key}" is not allowed`;
  const text = textProblem(key);
  return text ? `field names ${text}` : undefined;
}

function joinPath(parent: string, key: string | number): string {
  return parent ? `${parent}.${key}` : String(key);
}

export interface JsonIssueOptions {
  /** Prefix of the reported field paths (default none; the top level itself is `body`). */
  root?: string;
  maxDepth?: number;
  /** Check numbers too (default true; false where a domain check names a better reason). */
  numbers?: boolean;
}

/**
 * The first problem in a parsed JSON value (body, uploaded JSON file), found without recursion so
 * that hostile nesting cannot overflow the stack. `root` prefixes the reported field paths (empty:
 * paths as class-validator names them, `a.b.0.c`; the top level itself is `body`).
 */
export function findJsonIssue(value: unknown, options: JsonIssueOptions = {}): FieldIssue | undefined {
  const checkNumbers = options.numbers ?? true;
  const maxDepth = options.maxDepth ?? INPUT_LIMITS.maxDepth;
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: value, path: options.root ?? '', depth: 0 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!;
    const field = path || 'body';
    if (typeof v === 'string') {
      const p = textProblem(v);
      if (p) return { field, message: p };
    } else if (typeof v === 'number' && checkNumbers) {
      const p = numberProblem(v);
      if (p) return { field, message: p };
    } else if (v !== null && typeof v === 'object') {
      if (depth >= maxDepth) return { field, message: `nested deeper than ${maxDepth} levels` };
      if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: joinPath(path, i), depth: depth + 1 });
      } else {
        const keys = Object.keys(v);
        for (let i = keys.length - 1; i >= 0; i--) {
          const key = keys[i];
          const p = keyProblem(key);
          // Name the key by its position when the key itself is unprintable.
          if (p) return { field: PROTOTYPE_KEYS.has(key) ? joinPath(path, key) : joinPath(path, `<key ${i}>`), message: p };
          stack.push({ v: (v as Record<string, unknown>)[key], path: joinPath(path, key), depth: depth + 1 });
        }
      }
    }
  }
  return undefined;
}

/** Same as {@link findJsonIssue}, throwing the 400. */
export function assertCleanJson(value: unknown, options: JsonIssueOptions = {}): void {
  const issue = findJsonIssue(value, options);
  if (issue) throw DomainError.validation([issue]);
}

/** Headers whose values are stored or hashed (checked like body strings). */
const STORED_HEADERS = ['idempotency-key'] as const;
const HEADER_NAMES: Record<(typeof STORED_HEADERS)[number], string> = { 'idempotency-key': 'Idempotency-Key' };

function decodeOrUndefined(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/**
 * The first problem in a request's path, query string and stored headers. Query keys are split on
 * `[`, `]` and `.` so that `__proto__[x]=1` and `a.constructor=1` are caught whatever the parser.
 */
export function findRequestIssue(req: Pick<Request, 'originalUrl' | 'url' | 'headers'>): FieldIssue | undefined {
  const url = req.originalUrl ?? req.url ?? '';
  const q = url.indexOf('?');
  const pathPart = q < 0 ? url : url.slice(0, q);
  for (const segment of pathPart.split('/')) {
    const decoded = decodeOrUndefined(segment);
    if (decoded === undefined) return { field: 'path', message: 'path is not valid percent-encoded UTF-8' };
    const p = textProblem(decoded);
    if (p) return { field: 'path', message: `path ${p}` };
  }
  if (q >= 0) {
    for (const pair of url.slice(q + 1).split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const rawKey = eq < 0 ? pair : pair.slice(0, eq);
      const rawValue = eq < 0 ? '' : pair.slice(eq + 1);
      const key = decodeOrUndefined(rawKey.replace(/\+/g, ' '));
      if (key === undefined) return { field: 'query', message: 'query string is not valid percent-encoded UTF-8' };
      const keyIssue = textProblem(key);
      if (keyIssue) return { field: 'query', message: `query parameter names ${keyIssue}` };
      for (const part of key.split(/[[\].]/)) {
        if (PROTOTYPE_KEYS.has(part)) return { field: key, message: `prototype key "${part}" is not allowed` };
      }
      const value = decodeOrUndefined(rawValue.replace(/\+/g, ' '));
      if (value === undefined) return { field: key, message: 'is not valid percent-encoded UTF-8' };
      const p = textProblem(value);
      if (p) return { field: key, message: p };
    }
  }
  for (const name of STORED_HEADERS) {
    const v = req.headers[name];
    for (const s of Array.isArray(v) ? v : v === undefined ? [] : [v]) {
      const p = textProblem(s);
      if (p) return { field: HEADER_NAMES[name], message: p };
    }
  }
  return undefined;
}

/** Express middleware: refuses a request whose path, query or stored headers break the rules. */
export function requestGuard(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const issue = findRequestIssue(req);
    if (!issue) return next();
    const error = DomainError.validation([issue]);
    // Drain the body so the client reads the 400 rather than a reset.
    req.resume();
    res.status(error.status).json(error.toBody());
  };
}

/** Numbers of an already transformed DTO (query strings turned numbers): finite and in range. */
export function findNumberIssue(value: unknown, maxDepth = INPUT_LIMITS.maxDepth): FieldIssue | undefined {
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: value, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === 'number') {
      // NaN is class-validator's to report (it knows the expected type); infinities and huge values are not.
      if (Number.isNaN(v)) continue;
      const p = numberProblem(v);
      if (p) return { field: path || 'value', message: p };
    } else if (v !== null && typeof v === 'object' && depth < maxDepth && !(v instanceof Date) && !ArrayBuffer.isView(v)) {
      for (const [k, child] of Object.entries(v)) stack.push({ v: child, path: joinPath(path, k), depth: depth + 1 });
    }
  }
  return undefined;
}
