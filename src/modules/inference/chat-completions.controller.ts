import { Body, Controller, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOkResponse, ApiOperation, ApiTags, ApiTooManyRequestsResponse } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { Principal, Roles, type AuthPrincipal } from '../auth/auth.decorators.js';
import { ErrorFilter, requestIdOf } from '../common/error.filter.js';
import { ChatCompletionsService } from './chat-completions.service.js';
import { respondWithInference } from './inference-response.js';

/** OpenAI-compatible chat completions (issue 14), served through the completions pipeline. */
@ApiTags('inference')
@ApiBearerAuth()
@Controller('v1/chat')
export class ChatCompletionsController {
  private readonly errors = new ErrorFilter();

  constructor(
    @Inject(ChatCompletionsService) private readonly chat: ChatCompletionsService,
    @Inject(CONFIG) private readonly config: LetheConfig,
  ) {}

  @Post('completions')
  @Roles('client')
  @HttpCode(200)
  @ApiOperation({
    summary: 'OpenAI-compatible chat completion; `stream: true` answers `chat.completion.chunk` events ending with [DONE]',
    description:
      '`messages`: `system` | `developer` | `user` | `assistant` turns, content a string or a list of `{ type: "text", text }` parts, rendered with the ' +
      "model's chat template (tokenizer_config.json `chat_template`). `max_tokens` or `max_completion_tokens` (default: what the context leaves), " +
      '`temperature`, `top_p`, `seed`, `stop`, `n` (1), `stream`, `stream_options.include_usage`, and Lethe\'s `lethe: { routing, adapters }` as in ' +
      '/v1/completions: unlearning adapters always apply through their gates, scored on the rendered prompt. The answer (and the stream chunk with ' +
      '`finish_reason`) carries `lethe.routing`, the plan. Empty messages, unknown roles, non-text parts or a conversation the template refuses: 400 naming the field.',
  })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['model', 'messages'],
      additionalProperties: true,
      properties: {
        model: { type: 'string', example: 'demo' },
        messages: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            required: ['role', 'content'],
            properties: {
              role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant'] },
              content: {
                oneOf: [
                  { type: 'string' },
                  { type: 'array', minItems: 1, items: { type: 'object', required: ['type', 'text'], properties: { type: { type: 'string', enum: ['text'] }, text: { type: 'string' } } } },
                ],
              },
              name: { type: 'string' },
            },
          },
        },
        max_tokens: { type: 'integer', minimum: 1 },
        max_completion_tokens: { type: 'integer', minimum: 1 },
        temperature: { type: 'number', minimum: 0, maximum: 2 },
        top_p: { type: 'number', minimum: 0, maximum: 1, description: 'greater than 0' },
        seed: { type: 'integer', minimum: 0 },
        stop: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, maxItems: 4 }] },
        n: { type: 'integer', enum: [1] },
        stream: { type: 'boolean' },
        stream_options: { type: 'object', properties: { include_usage: { type: 'boolean' } } },
        lethe: {
          type: 'object',
          properties: {
            routing: { type: 'string', enum: ['auto', 'manual', 'none'] },
            adapters: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, id: { type: 'string' }, strength: { type: 'number' } } } },
          },
        },
      },
    },
  })
  @ApiOkResponse({ description: 'An OpenAI `chat.completion` object with `lethe.routing`.' })
  @ApiTooManyRequestsResponse({ description: 'Queue full; retry after `Retry-After` seconds.' })
  async create(@Body() body: unknown, @Principal() who: AuthPrincipal, @Req() req: Request, @Res() res: Response): Promise<void> {
    await respondWithInference(req, res, this.errors, this.config.ssePingSeconds * 1000, async (io) => {
      const prepared = await this.chat.prepare(body, who, requestIdOf(req));
      if (!prepared.completion.request.stream) {
        io.json(await this.chat.run(prepared, io.signal));
        return;
      }
      await this.chat.stream(prepared, io.signal, (chunk) => io.send(chunk));
      io.done();
    });
  }
}
