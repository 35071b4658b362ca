import { Controller, Get, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiConsumes, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { AdapterDto, mapAdapter } from '../adapters/adapter.dto.js';
import { Principal, Roles, type AuthPrincipal } from '../auth/auth.decorators.js';
import { DomainError, ErrorCode } from '../common/domain-error.js';
import { UuidParam } from '../common/validation.js';
import { AdapterTransferService, IMPORT_LIMITS, type UploadedPart } from './adapter-transfer.service.js';

const MAX_UPLOAD = IMPORT_LIMITS.maxWeightBytes + IMPORT_LIMITS.maxConfigBytes + 64 * 1024;

/** PEFT import (multipart) and export (tar), operators only. */
@ApiTags('adapters')
@ApiBearerAuth()
@Roles('operator')
@Controller('v1/adapters')
export class AdapterTransferController {
  constructor(@Inject(AdapterTransferService) private readonly transfer: AdapterTransferService) {}

  @Post('import')
  @HttpCode(201)
  @ApiConsumes('multipart/form-data')
  @ApiOperation({
    summary: 'Import a PEFT LoRA adapter: multipart with `name`, adapter_config.json and adapter_model.safetensors',
    description: 'Checked against the base model (target modules, shapes, rank ≤ 256, ≤ 64 MiB); stored as kind `imported`, inactive.',
  })
  @ApiCreatedResponse({ type: AdapterDto })
  async import(@Req() req: Request, @Principal() who: AuthPrincipal): Promise<AdapterDto> {
    const parts = await readMultipart(req);
    return mapAdapter(await this.transfer.import(parts, who.keyId));
  }

  @Get(':id/export')
  @ApiOperation({ summary: 'The adapter in PEFT layout, as a tar: `curl … | tar -x -C my-adapter` then PeftModel.from_pretrained(base, "my-adapter")' })
  @ApiOkResponse({ description: 'application/x-tar with adapter_config.json and adapter_model.safetensors' })
  async export(@UuidParam('id') id: string, @Res() res: Response): Promise<void> {
    const { filename, tar } = await this.transfer.export(id);
    res.status(200).set({ 'content-type': 'application/x-tar', 'content-disposition': `attachment; filename="${filename}"` });
    res.end(Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength));
  }
}

/** Reads a multipart/form-data body (bounded) and splits it with the platform's form-data parser. */
async function readMultipart(req: Request): Promise<UploadedPart[]> {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data;\s*boundary=/i.test(type)) {
    throw new DomainError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'upload the adapter as multipart/form-data', { field: 'body' });
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_UPLOAD) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_UPLOAD) {
      req.resume();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  let form: FormData;
  try {
    form = await new Request('http://upload.invalid/', { method: 'POST', headers: { 'content-type': type }, body: Buffer.concat(chunks) }).formData();
  } catch (e) {
    throw DomainError.validation([{ field: 'body', message: `malformed multipart body (${(e as Error).message})` }]);
  }
  const parts: UploadedPart[] = [];
  for (const [field, value] of form.entries()) {
    if (typeof value === 'string') parts.push({ field, filename: null, data: Buffer.from(value) });
    else parts.push({ field, filename: value.name, data: new Uint8Array(await value.arrayBuffer()) });
  }
  return parts;
}

function tooLarge(): DomainError {
  return new DomainError(ErrorCode.PAYLOAD_TOO_LARGE, `upload exceeds ${MAX_UPLOAD} bytes`, { field: 'body', limitBytes: MAX_UPLOAD });
}
