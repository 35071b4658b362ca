import { Global, Inject, Module, type DynamicModule, type INestApplication, type OnModuleInit } from '@nestjs/common';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { BACKEND_ORDER, initBackend } from '../../engine/backend.js';
import { httpMetricsMiddleware } from './http-metrics.middleware.js';
import { MetricsController, PublicMetricsController } from './metrics.controller.js';
import { MetricsService } from './metrics.service.js';

/** Sets `lethe_tensor_backend_info{backend}`: 1 for the backend in use, 0 for the others. */
class BackendGauge implements OnModuleInit {
  constructor(
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(CONFIG) private readonly config: LetheConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    const gauge = this.metrics.gauge({
      name: 'lethe_tensor_backend_info',
      help: 'Tensor backend this process runs on (1) among the known ones (0).',
      labelNames: ['backend'],
    });
    const info = await initBackend(this.config.backend).catch(() => undefined);
    for (const name of BACKEND_ORDER) gauge.set({ backend: name }, info?.name === name ? 1 : 0);
  }
}

/**
 * Prometheus metrics: the injectable MetricsService (global: any module registers its own
 * metrics), GET /metrics, the HTTP request counter/histogram (installed by {@link setupHttpMetrics})
 * and the tensor backend gauge.
 *
 * GET /metrics needs an admin key unless `publicMetrics` (LETHE_METRICS_PUBLIC): issue 2 lists
 * only /healthz, /readyz and /docs as public, and the metrics describe every tenant's traffic,
 * adapters and jobs. Prometheus sends the key with `authorization: { credentials_file: ... }`;
 * a scraper on a private network may instead be allowed in by the flag.
 */
@Global()
@Module({})
export class MetricsModule {
  static forRoot(publicMetrics = false): DynamicModule {
    return {
      module: MetricsModule,
      controllers: [publicMetrics ? PublicMetricsController : MetricsController],
      providers: [MetricsService, BackendGauge],
      exports: [MetricsService],
    };
  }
}

/** Installs the HTTP metrics middleware; call before the body parser (right after setupLogging). */
export function setupHttpMetrics(app: INestApplication): void {
  app.use(httpMetricsMiddleware(app.get(MetricsService)));
}
