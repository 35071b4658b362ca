import { Controller, Get, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '../auth/auth.decorators.js';
import { DomainError, ErrorCode } from '../common/domain-error.js';
import { findConsoleDist, resolveAsset } from './console-assets.js';

/**
 * Serves the built admin console (web/dist) at /admin. The files are public: every API call the
 * page makes carries the admin key, the page itself holds no data.
 */
@Public()
@ApiExcludeController()
@Controller('admin')
export class ConsoleController {
  private readonly root = findConsoleDist();

  @Get()
  index(@Res() res: Response): void {
    this.sendIndex(res);
  }

  @Get('*path')
  asset(@Param('path') path: string[] | string, @Res() res: Response): void {
    const root = this.requireRoot();
    const segments = Array.isArray(path) ? path : path.split('/');
    const file = resolveAsset(root, segments);
    if (file && segments[0] === 'assets') {
      // Vite puts a content hash in every asset name: cache them for good.
      res.sendFile(file, { maxAge: '365d', immutable: true, dotfiles: 'deny' });
      return;
    }
    if (file && !file.endsWith('index.html')) {
      res.sendFile(file, { maxAge: 0, dotfiles: 'deny' });
      return;
    }
    if (segments[0] === 'assets' || /\.[a-z0-9]+$/i.test(segments[segments.length - 1] ?? '')) {
      throw new DomainError(ErrorCode.NOT_FOUND, `no console file ${segments.join('/')}`, { field: 'path' });
    }
    // Any other path is a page of the single-page app.
    this.sendIndex(res);
  }

  private sendIndex(res: Response): void {
    const root = this.requireRoot();
    res.setHeader('cache-control', 'no-store');
    res.sendFile('index.html', { root, dotfiles: 'deny' });
  }

  private requireRoot(): string {
    if (!this.root) throw new DomainError(ErrorCode.UNAVAILABLE, 'the admin console is not built: run `npm run build`', null);
    return this.root;
  }
}
