import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { DomainError, ErrorCode } from '../common/domain-error.js';
import { ApiKeyService } from './api-key.service.js';
import { IS_PUBLIC, REQUIRED_ROLE, type AuthPrincipal } from './auth.decorators.js';
import { roleSatisfies, type ApiKeyRole } from './roles.js';

/** Global guard: every route needs `Authorization: Bearer <key>` unless marked @Public(). */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(ApiKeyService) private readonly keys: ApiKeyService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const req = ctx.switchToHttp().getRequest<Request & { principal?: AuthPrincipal }>();
    const secret = bearerToken(req.headers.authorization);
    if (!secret) throw new DomainError(ErrorCode.UNAUTHORIZED, 'missing API key: send Authorization: Bearer <key>', null);
    const principal = await this.keys.authenticate(secret);
    if (!principal) throw new DomainError(ErrorCode.UNAUTHORIZED, 'invalid or revoked API key', null);
    req.principal = principal;
    const need = this.reflector.getAllAndOverride<ApiKeyRole | undefined>(REQUIRED_ROLE, targets) ?? 'client';
    if (!roleSatisfies(principal.role, need)) {
      throw new DomainError(ErrorCode.FORBIDDEN, `this route needs the ${need} role; the key has ${principal.role}`, { required: need, role: principal.role });
    }
    return true;
  }
}

function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}
