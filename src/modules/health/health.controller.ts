import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/auth.decorators.js';
import { DomainError, ErrorCode } from '../common/domain-error.js';
import { HealthService, type Readiness } from './health.service.js';

/** Probes for orchestrators: no key needed (issue 2: /healthz and /readyz are public). */
@ApiTags('health')
@Public()
@Controller()
export class HealthController {
  constructor(@Inject(HealthService) private readonly health: HealthService) {}

  /** Liveness: the process answers. Touches nothing else, so it stays cheap. */
  @Get('healthz')
  @ApiOkResponse({ description: 'The process is alive: `{ "status": "ok", "uptimeSeconds": N }`.' })
  healthz(): { status: 'ok'; uptimeSeconds: number } {
    return { status: 'ok', uptimeSeconds: this.health.uptimeSeconds() };
  }

  /**
   * Readiness: database answers, queue started (and workers running in worker roles), tensor
   * backend up, and (api and all roles) the model loaded: 503 while it loads.
   */
  @Get('readyz')
  @ApiOkResponse({ description: '`{ "status": "ready", "checks": { database, queue, backend, model } }`.' })
  @ApiServiceUnavailableResponse({ description: 'Not ready (for example while the model loads): error code UNAVAILABLE, `details.checks` says which check failed.' })
  async readyz(): Promise<{ status: 'ready'; checks: Readiness['checks'] }> {
    const r = await this.health.readiness();
    if (!r.ready) {
      const failing = Object.entries(r.checks)
        .filter(([, c]) => !c.ok)
        .map(([name]) => name);
      throw new DomainError(ErrorCode.UNAVAILABLE, `not ready: ${failing.join(', ')}`, { checks: r.checks });
    }
    return { status: 'ready', checks: r.checks };
  }
}
