import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public, Roles } from '../auth/auth.decorators.js';
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

/** The default: an admin key is needed. */
@ApiTags('metrics')
@ApiBearerAuth()
@Roles('admin')
@Controller()
export class MetricsController extends MetricsEndpoint {
  constructor(@Inject(MetricsService) metrics: MetricsService) {
    super(metrics);
  }
}

/** LETHE_METRICS_PUBLIC=true: no key, for a scraper on a private network. */
@ApiTags('metrics')
@Public()
@Controller()
export class PublicMetricsController extends MetricsEndpoint {
  constructor(@Inject(MetricsService) metrics: MetricsService) {
    super(metrics);
  }
}
