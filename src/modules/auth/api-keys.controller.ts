import { Body, Controller, Get, HttpCode, Inject, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { UuidParam } from '../common/validation.js';
import { ApiKeyDto, CreateApiKeyDto, CreatedApiKeyDto, mapApiKey } from './api-key.dto.js';
import { ApiKeyService } from './api-key.service.js';
import { Principal, Roles, type AuthPrincipal } from './auth.decorators.js';

@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('v1/admin/api-keys')
export class ApiKeysController {
  constructor(@Inject(ApiKeyService) private readonly keys: ApiKeyService) {}

  @Post()
  @ApiCreatedResponse({ type: CreatedApiKeyDto, description: 'The secret is in `key`, shown this once' })
  async create(@Body() body: CreateApiKeyDto, @Principal() who: AuthPrincipal): Promise<CreatedApiKeyDto> {
    const { key, secret } = await this.keys.create(body, who.keyId);
    return { ...mapApiKey(key), key: secret };
  }

  @Get()
  @ApiOkResponse({ type: [ApiKeyDto] })
  async list(): Promise<ApiKeyDto[]> {
    return (await this.keys.list()).map(mapApiKey);
  }

  @Post(':id/revoke')
  @HttpCode(200)
  @ApiOkResponse({ type: ApiKeyDto })
  async revoke(@UuidParam('id') id: string, @Principal() who: AuthPrincipal): Promise<ApiKeyDto> {
    return mapApiKey(await this.keys.revoke(id, who.keyId));
  }
}
