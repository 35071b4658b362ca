import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { mapAuditEvent } from '../audit/audit.dto.js';
import { UuidParam } from '../common/validation.js';
import { AdapterDto, AdapterHistoryDto, AdapterPageDto, AdapterQueryDto, mapAdapter } from './adapter.dto.js';
import { AdapterRegistryService } from './adapter-registry.service.js';

/** Read-only registry routes, open to every role. */
@ApiTags('adapters')
@ApiBearerAuth()
@Controller('v1/adapters')
export class AdaptersController {
  constructor(@Inject(AdapterRegistryService) private readonly registry: AdapterRegistryService) {}

  @Get()
  @ApiOkResponse({ type: AdapterPageDto })
  async list(@Query() q: AdapterQueryDto): Promise<AdapterPageDto> {
    const limit = q.limit ?? 50;
    const offset = q.offset ?? 0;
    const page = await this.registry.list({ kind: q.kind, status: q.status, name: q.name, limit, offset });
    return { items: page.items.map(mapAdapter), total: page.total, limit, offset };
  }

  @Get(':id')
  @ApiOkResponse({ type: AdapterDto })
  async get(@UuidParam('id') id: string): Promise<AdapterDto> {
    return mapAdapter(await this.registry.get(id));
  }

  @Get(':id/history')
  @ApiOkResponse({ type: AdapterHistoryDto })
  async history(@UuidParam('id') id: string): Promise<AdapterHistoryDto> {
    return { items: (await this.registry.history(id)).map(mapAuditEvent) };
  }
}
