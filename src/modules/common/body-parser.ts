import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { toBodyParserError } from './error.filter.js';

/**
 * express.json with `limit`, whose failures (malformed JSON, 413) answer in the error shape
 * directly: they happen before Nest's routing, where exception filters cannot see them.
 */
export function jsonBodyParser(limit: string): RequestHandler {
  const parse = express.json({ limit });
  return (req: Request, res: Response, next: NextFunction) => {
    parse(req, res, (err?: unknown) => {
      if (!err) return next();
      const domain = toBodyParserError(err);
      if (!domain) return next(err);
      // Drain what's left of an oversize body so the client sees the 413 rather than a reset.
      req.resume();
      res.status(domain.status).json(domain.toBody());
    });
  };
}
