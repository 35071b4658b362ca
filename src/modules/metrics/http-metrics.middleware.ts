import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MetricsService } from './metrics.service.js';

type RoutedRequest = IncomingMessage & { route?: { path?: unknown }; baseUrl?: string };

/**
 * The route label: the matched route's template (`/v1/adapters/:id`), never the raw URL, so
 * label cardinality stays bounded. Requests that matched no route count as `unmatched`.
 */
export function routeLabel(req: RoutedRequest): string {
  const path = req.route?.path;
  return typeof path === 'string' ? `${req.baseUrl ?? ''}${path}` : 'unmatched';
}

/**
 * Counts every HTTP request and observes its latency, labelled by method, route template and
 * status code. Installed with app.use before Nest's body parser, so 413s are counted too.
 */
export function httpMetricsMiddleware(metrics: MetricsService) {
  const requests = metrics.counter({
    name: 'lethe_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status code.',
    labelNames: ['method', 'route', 'status'],
  });
  const latency = metrics.histogram({
    name: 'lethe_http_request_duration_seconds',
    help: 'HTTP request latency in seconds (until the response is finished), by method, route and status.',
    labelNames: ['method', 'route', 'status'],
  });
  return (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void => {
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      const labels = { method: req.method ?? 'UNKNOWN', route: routeLabel(req as RoutedRequest), status: String(res.statusCode) };
      requests.inc(labels);
      latency.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
    });
    next();
  };
}
