import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { RoutingPlan } from '../../routing/routing-types.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { AdapterStore } from './adapter-store.service.js';

/**
 * Prometheus metrics of serving: per adapter (times routed, strength sum → mean strength), latency
 * and time-to-first-token histograms, tokens and tokens/s, queue rejections, adapter cache
 * hits/misses/evictions (read from the cache at scrape time).
 */
@Injectable()
export class InferenceMetrics {
  private readonly routed: Counter<'adapter' | 'name' | 'kind'>;
  private readonly strengthSum: Counter<'adapter' | 'name' | 'kind'>;
  private readonly latency: Histogram<'stream'>;
  private readonly ttft: Histogram;
  private readonly tokens: Counter<'type'>;
  private readonly tokensPerSec: Gauge;
  private readonly requests: Counter<'outcome'>;
  private rate = 0;

  constructor(@Optional() @Inject(MetricsService) metrics: MetricsService | undefined, @Inject(AdapterStore) store: AdapterStore) {
    const m = metrics ?? new MetricsService();
    this.routed = m.counter({ name: 'lethe_adapter_routed_total', help: 'Prompts routed to an adapter (applied plan entries).', labelNames: ['adapter', 'name', 'kind'] });
    this.strengthSum = m.counter({
      name: 'lethe_adapter_strength_sum',
      help: 'Sum of applied strengths per adapter; mean strength = this / lethe_adapter_routed_total.',
      labelNames: ['adapter', 'name', 'kind'],
    });
    this.latency = m.histogram({ name: 'lethe_inference_latency_seconds', help: 'Completion latency, queue wait included.', labelNames: ['stream'] });
    this.ttft = m.histogram({ name: 'lethe_inference_time_to_first_token_seconds', help: 'Time to the first streamed token.' });
    this.tokens = m.counter({ name: 'lethe_inference_tokens_total', help: 'Tokens processed, by type (prompt, completion).', labelNames: ['type'] });
    this.tokensPerSec = m.gauge({ name: 'lethe_inference_tokens_per_second', help: 'Completion tokens per second (exponentially weighted over requests).' });
    this.requests = m.counter({ name: 'lethe_inference_requests_total', help: 'Completion requests by outcome.', labelNames: ['outcome'] });
    let last = { hits: 0, misses: 0, evictions: 0, invalidations: 0 };
    const hits = m.counter({ name: 'lethe_adapter_cache_hits_total', help: 'Adapter cache hits.' });
    const misses = m.counter({ name: 'lethe_adapter_cache_misses_total', help: 'Adapter cache misses (loads from Postgres).' });
    const evictions = m.counter({ name: 'lethe_adapter_cache_evictions_total', help: 'Adapters evicted to fit the byte budget.' });
    const invalidations = m.counter({ name: 'lethe_adapter_cache_invalidations_total', help: 'Adapters dropped after registry changes.' });
    m.gauge({
      name: 'lethe_adapter_cache_bytes',
      help: 'Bytes of adapters in the cache.',
      collect() {
        const s = store.cache.stats();
        this.set(s.bytes);
        hits.inc(s.hits - last.hits);
        misses.inc(s.misses - last.misses);
        evictions.inc(s.evictions - last.evictions);
        invalidations.inc(s.invalidations - last.invalidations);
        last = { hits: s.hits, misses: s.misses, evictions: s.evictions, invalidations: s.invalidations };
      },
    });
  }

  /** Records one answered prompt's plan. */
  recordPlan(plan: RoutingPlan): void {
    for (const e of plan.entries) {
      if (!e.applied) continue;
      const labels = { adapter: e.adapterId, name: e.name, kind: e.kind };
      this.routed.inc(labels);
      this.strengthSum.inc(labels, e.strength);
    }
  }

  recordRequest(outcome: string, seconds: number, stream: boolean, promptTokens: number, completionTokens: number, generationSeconds: number): void {
    this.requests.inc({ outcome });
    if (outcome !== 'ok') return;
    this.latency.observe({ stream: String(stream) }, seconds);
    this.tokens.inc({ type: 'prompt' }, promptTokens);
    this.tokens.inc({ type: 'completion' }, completionTokens);
    if (generationSeconds > 0) {
      const r = completionTokens / generationSeconds;
      this.rate = this.rate === 0 ? r : 0.9 * this.rate + 0.1 * r;
      this.tokensPerSec.set(this.rate);
    }
  }

  recordFirstToken(seconds: number): void {
    this.ttft.observe(seconds);
  }

  recordFailure(outcome: string): void {
    this.requests.inc({ outcome });
  }
}
