import { Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { ConsoleController } from './console.controller.js';
import { consoleSecurityHeaders } from './console-security.js';

/** The admin console at /admin (static files from web/dist) under a strict CSP. */
@Module({ controllers: [ConsoleController] })
export class ConsoleModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(consoleSecurityHeaders()).forRoutes(ConsoleController);
  }
}
