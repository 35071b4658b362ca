import { Body, Controller, Get, HttpCode, Inject, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { AdapterDto, mapAdapter } from '../adapters/adapter.dto.js';
import { Principal, Roles, type AuthPrincipal } from '../auth/auth.decorators.js';
import { GenerateAdapterDto, GeneratorListDto, mapGenerator, TrainGeneratorDto, TrainGeneratorResponseDto } from './generator.dto.js';
import { GeneratorService } from './generator.service.js';

/** ICM-LoRA generator versions (operator). */
@ApiTags('generator')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1/generator')
export class GeneratorController {
  constructor(@Inject(GeneratorService) private readonly generator: GeneratorService) {}

  @Post('train')
  @HttpCode(202)
  @ApiAcceptedResponse({ type: TrainGeneratorResponseDto })
  @ApiConflictResponse({ description: 'fewer than 2 trained tasks (compose: trained tasks with parts)' })
  train(@Body() dto: TrainGeneratorDto, @Principal() who: AuthPrincipal): Promise<TrainGeneratorResponseDto> {
    return this.generator.requestTraining(dto ?? {}, who.keyId);
  }

  @Get()
  @ApiOkResponse({ type: GeneratorListDto })
  async list(): Promise<GeneratorListDto> {
    return { items: (await this.generator.list()).map(mapGenerator) };
  }
}

/** `POST /v1/adapters/generate` (operator): a generated adapter with lineage. */
@ApiTags('adapters')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1/adapters')
export class GenerateAdapterController {
  constructor(@Inject(GeneratorService) private readonly generator: GeneratorService) {}

  @Post('generate')
  @ApiCreatedResponse({ type: AdapterDto })
  @ApiNotFoundResponse({ description: 'unknown task, or unknown generator version (`generator`)' })
  @ApiConflictResponse({ description: 'no generator version is ready, or the chosen one is not ready' })
  async generate(@Body() dto: GenerateAdapterDto, @Principal() who: AuthPrincipal): Promise<AdapterDto> {
    return mapAdapter(await this.generator.generate(dto, who.keyId));
  }
}
