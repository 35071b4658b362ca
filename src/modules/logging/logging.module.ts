import { Global, Module, type INestApplication } from '@nestjs/common';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { createRootLogger, PINO_LOGGER, type RootLogger } from './logger.js';
import { PinoLoggerService } from './pino-logger.service.js';
import { requestLoggingMiddleware } from './request-logging.middleware.js';

/**
 * Structured logs (pino). Provides the root logger (PINO_LOGGER) and the Nest LoggerService
 * adapter. {@link setupLogging} wires them into an app.
 */
@Global()
@Module({
  providers: [
    {
      provide: PINO_LOGGER,
      inject: [CONFIG],
      useFactory: (config: LetheConfig): RootLogger => createRootLogger(config.logLevel),
    },
    { provide: PinoLoggerService, inject: [PINO_LOGGER], useFactory: (logger: RootLogger) => new PinoLoggerService(logger) },
  ],
  exports: [PINO_LOGGER, PinoLoggerService],
})
export class LoggingModule {}

/**
 * Sends Nest's own logs through pino and installs the request-id / access-log middleware. Call it
 * right after NestFactory.create (create with `bufferLogs: true`) and before any other `app.use`
 * or `app.init()`: Nest adds its body parser at init, so this middleware runs before it and even
 * a 413 from the parser carries X-Request-Id.
 */
export function setupLogging(app: INestApplication): void {
  app.useLogger(app.get(PinoLoggerService));
  app.use(requestLoggingMiddleware(app.get<RootLogger>(PINO_LOGGER)));
}
