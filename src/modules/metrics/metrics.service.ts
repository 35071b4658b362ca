import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
} from 'prom-client';

/** Latency buckets in seconds, from a cached lookup to a long generation. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The one Prometheus registry of this app. Its own Registry (not prom-client's global one), so
 * several apps in one process (tests) never collide. Later modules register their metrics here:
 * `counter()`, `gauge()` and `histogram()` return the existing metric when the name is already
 * registered, so a provider may ask for it in its constructor without coordination.
 */
@Injectable()
export class MetricsService implements OnModuleDestroy {
  readonly registry = new Registry();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** A counter named `name` (use the `lethe_` prefix and a `_total` suffix). */
  counter<L extends string>(config: Omit<CounterConfiguration<L>, 'registers'>): Counter<L> {
    return this.getOrCreate(config.name, () => new Counter<L>({ ...config, registers: [this.registry] }), Counter);
  }

  gauge<L extends string>(config: Omit<GaugeConfiguration<L>, 'registers'>): Gauge<L> {
    return this.getOrCreate(config.name, () => new Gauge<L>({ ...config, registers: [this.registry] }), Gauge);
  }

  /** A histogram; `buckets` default to {@link LATENCY_BUCKETS}. */
  histogram<L extends string>(config: Omit<HistogramConfiguration<L>, 'registers'>): Histogram<L> {
    return this.getOrCreate(
      config.name,
      () => new Histogram<L>({ buckets: LATENCY_BUCKETS, ...config, registers: [this.registry] }),
      Histogram,
    );
  }

  /** The Prometheus text exposition of every metric. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  onModuleDestroy(): void {
    this.registry.clear();
  }

  private getOrCreate<M>(name: string, create: () => M, kind: abstract new (...args: never[]) => M): M {
    const existing = this.registry.getSingleMetric(name);
    if (existing === undefined) return create();
    if (!(existing instanceof kind)) throw new Error(`metric ${name} is already registered as another type`);
    return existing as M;
  }
}
