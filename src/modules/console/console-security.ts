import type { RequestHandler } from 'express';
import helmet from 'helmet';

/**
 * Content-Security-Policy of the console: its own scripts, styles and API only; no inline script
 * or style, no plugins, no framing, no base or form hijacking, and Trusted Types so that no
 * string can ever reach an HTML sink (the UI renders everything as text).
 */
export const CONSOLE_CSP_DIRECTIVES = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'"],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  manifestSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  requireTrustedTypesFor: ["'script'"],
  trustedTypes: ["'none'"],
  upgradeInsecureRequests: null,
} as const;

/** helmet with the console CSP and strict headers, for the /admin routes. */
export function consoleSecurityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { ...CONSOLE_CSP_DIRECTIVES } },
    crossOriginEmbedderPolicy: true,
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
    frameguard: { action: 'deny' },
  }) as RequestHandler;
}
