import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { DomainError } from './domain-error.js';
import { toBodyParserError } from './error.filter.js';
import { findJsonIssue } from './input-guard.js';

/**
 * express.json with `limit`, whose failures (malformed JSON, 413) answer in the error shape
 * directly: they happen before Nest's routing, where exception filters cannot see them. A parsed
 * body is then checked by the input guard (NUL, lone surrogates, prototype keys, numbers, depth)
 * before class-transformer sees it: JSON.parse itself is iterative, the guard walks without
 * recursion, and class-transformer (recursive) only ever gets bodies at most 32 levels deep.
 */
export function jsonBodyParser(limit: string): RequestHandler {
  const parse = express.json({ limit });
  return (req: Request, res: Response, next: NextFunction) => {
    parse(req, res, (err?: unknown) => {
      if (!err) {
        const issue = req.body === undefined ? undefined : findJsonIssue(req.body);
        if (!issue) return next();
        const error = DomainError.validation([issue]);
        return void res.status(error.status).json(error.toBody());
      }
      const domain = toBodyParserError(err);
      if (!domain) return next(err);
      // Drain what's left of an oversize body so the client sees the 413 rather than a reset.
      req.resume();
      res.status(domain.status).json(domain.toBody());
    });
  };
}
