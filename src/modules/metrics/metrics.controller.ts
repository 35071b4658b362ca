import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { MetricsService } from './metrics.service.js';

/**
 * GET /metrics in Prometheus text. Registered by MetricsModule as admin-only or public
 * (LETHE_METRICS_PUBLIC); see metrics.module.ts for why admin-only is the default.
 */
export abstract class MetricsEndpoint {
  constructor(private readonly metrics: MetricsService) {}

  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  @ApiOkResponse({ description: 'Prometheus text exposition format 0.0.4.' })
  async scrape(@Res() res: Response): Promise<void> {
    const body = await this.metrics.scrape();
    res.type(this.metrics.contentType).send(body);
  }
}

@ApiTags('metrics')
@Controller()
export class MetricsController extends MetricsEndpoint {
  constructor(@Inject(MetricsService) metrics: MetricsService) {
    super(metrics);
  }
}
