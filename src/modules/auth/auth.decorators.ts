import { createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import type { ApiKeyRole } from './roles.js';

export const IS_PUBLIC = 'lethe:public';
export const REQUIRED_ROLE = 'lethe:role';

/** Who is calling: the API key that authenticated the request. */
export interface AuthPrincipal {
  /** API key id; use it as the audit `actor`. */
  keyId: string;
  name: string;
  role: ApiKeyRole;
}

/** The route needs no API key (health, docs). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);

/** The least role that may call the route (admin ⊃ operator ⊃ client). Without it: any key. */
export const Roles = (role: ApiKeyRole): MethodDecorator & ClassDecorator => SetMetadata(REQUIRED_ROLE, role);

/** Injects the {@link AuthPrincipal} of the request (undefined on @Public routes). */
export const Principal = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): AuthPrincipal | undefined => ctx.switchToHttp().getRequest<{ principal?: AuthPrincipal }>().principal,
);
