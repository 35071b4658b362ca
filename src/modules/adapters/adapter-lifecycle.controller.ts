import { Controller, HttpCode, Inject, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Principal, Roles, type AuthPrincipal } from '../auth/auth.decorators.js';
import { UuidParam } from '../common/validation.js';
import { AdapterDto, mapAdapter } from './adapter.dto.js';
import { AdapterRegistryService } from './adapter-registry.service.js';

/**
 * Operator routes that switch an adapter on and off (audited by the registry, announced by NOTIFY).
 * Unlearning adapters are refused for every role, admin included (403 UNLEARNING_ADAPTER_LOCKED):
 * they change state only through POST /v1/unlearning-requests/:id/revoke.
 */
@ApiTags('adapters')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1/adapters')
export class AdapterLifecycleController {
  constructor(@Inject(AdapterRegistryService) private readonly registry: AdapterRegistryService) {}

  @Post(':id/activate')
  @HttpCode(200)
  @ApiOperation({ summary: 'inactive → active: routers on every replica start serving it (403 UNLEARNING_ADAPTER_LOCKED for unlearning adapters)' })
  @ApiOkResponse({ type: AdapterDto })
  async activate(@UuidParam('id') id: string, @Principal() who: AuthPrincipal): Promise<AdapterDto> {
    return mapAdapter(await this.registry.lifecycleActivate(id, who.keyId));
  }

  @Post(':id/deactivate')
  @HttpCode(200)
  @ApiOperation({ summary: 'active → inactive: routers stop serving it (403 UNLEARNING_ADAPTER_LOCKED for unlearning adapters)' })
  @ApiOkResponse({ type: AdapterDto })
  async deactivate(@UuidParam('id') id: string, @Principal() who: AuthPrincipal): Promise<AdapterDto> {
    return mapAdapter(await this.registry.lifecycleDeactivate(id, who.keyId));
  }
}
