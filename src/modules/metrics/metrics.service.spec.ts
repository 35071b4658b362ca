import { describe, expect, it } from 'vitest';
import { routeLabel } from './http-metrics.middleware.js';
import { MetricsService } from './metrics.service.js';

describe('MetricsService', () => {
  it('returns the same metric for the same name and refuses a type clash', () => {
    const sut = new MetricsService();
    const a = sut.counter({ name: 'lethe_things_total', help: 'h', labelNames: ['kind'] });
    const b = sut.counter({ name: 'lethe_things_total', help: 'h', labelNames: ['kind'] });
    expect(b).toBe(a);
    expect(() => sut.gauge({ name: 'lethe_things_total', help: 'h' })).toThrow(/another type/);
  });

  it('scrapes default process metrics and ours in Prometheus text', async () => {
    const sut = new MetricsService();
    sut.counter({ name: 'lethe_things_total', help: 'Things.', labelNames: ['kind'] }).inc({ kind: 'x' }, 3);
    sut.histogram({ name: 'lethe_wait_seconds', help: 'Waits.' }).observe(0.3);
    const text = await sut.scrape();
    expect(text).toContain('# TYPE lethe_things_total counter');
    expect(text).toContain('lethe_things_total{kind="x"} 3');
    expect(text).toContain('lethe_wait_seconds_bucket{le="0.5"} 1');
    expect(text).toContain('lethe_wait_seconds_bucket{le="0.25"} 0');
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(sut.contentType).toMatch(/^text\/plain/);
  });

  it('two services do not share a registry', async () => {
    new MetricsService().counter({ name: 'lethe_only_here_total', help: 'h' }).inc();
    expect(await new MetricsService().scrape()).not.toContain('lethe_only_here_total');
  });
});

describe('routeLabel', () => {
  it('uses the route template, never the raw url', () => {
    const req = { url: '/v1/adapters/123', route: { path: '/v1/adapters/:id' }, baseUrl: '' };
    expect(routeLabel(req as never)).toBe('/v1/adapters/:id');
    expect(routeLabel({ url: '/nope' } as never)).toBe('unmatched');
  });
});
