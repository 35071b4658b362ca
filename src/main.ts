import 'reflect-metadata';
import { pathToFileURL } from 'node:url';
import { Logger, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import helmet from 'helmet';
import { AppModule } from './app.module.js';
import { ConfigError, loadConfig, type LetheConfig } from './config/config.js';
import { initBackend } from './engine/backend.js';
import { jsonBodyParser } from './modules/common/body-parser.js';
import { requestGuard } from './modules/common/input-guard.js';
import { createValidationPipe } from './modules/common/validation.js';
import { DatabaseConnection } from './modules/database/database-connection.js';
import { probesOnlyMiddleware } from './modules/health/probes-only.middleware.js';
import { setupLogging } from './modules/logging/logging.module.js';
import { setupHttpMetrics } from './modules/metrics/metrics.module.js';

/** A started Lethe process. */
export interface LetheApp {
  app: INestApplication;
  /** Base URL the API listens on (undefined in the worker role, which serves only /healthz, /readyz, /metrics). */
  url: string | undefined;
  close(): Promise<void>;
}

/**
 * Builds and starts the application for `config`: HTTP (roles api, all) and/or background work
 * (roles worker, all). Used by `npm start` and by the e2e app factory alike.
 */
export async function bootstrap(config: LetheConfig = loadConfig()): Promise<LetheApp> {
  const log = new Logger('Lethe');
  const started = Date.now();
  const backend = await initBackend(config.backend);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    bufferLogs: true,
  });
  // First: request id + access log, then HTTP metrics, so even a 413 from the body parser has both.
  setupLogging(app);
  setupHttpMetrics(app);
  app.use(helmet({ contentSecurityPolicy: false }));
  // The input guard (path, query, stored headers; the body parser checks bodies) before any route.
  app.use(requestGuard());
  app.use(jsonBodyParser(config.bodyLimit));
  app.useGlobalPipes(createValidationPipe());
  app.enableShutdownHooks();
  const docs = new DocumentBuilder()
    .setTitle('Lethe')
    .setDescription('Continual unlearning and per-request adapter routing')
    .addBearerAuth()
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, docs));

  let url: string | undefined;
  // The worker role serves only /healthz, /readyz and /metrics on PORT (healthchecks, job metrics).
  if (!config.runsApi) app.use(probesOnlyMiddleware());
  await app.listen(config.port, config.host);
  const addr = app.getHttpServer().address() as { port: number } | string | null;
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const listening = `http://${config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host}:${port}`;
  if (config.runsApi) url = listening;
  const db = app.get(DatabaseConnection);
  log.log(
    `Lethe ${config.role} ready in ${Date.now() - started} ms: ${url ? `listening on ${url} (docs ${url}/docs)` : `no API (worker role), probes on ${listening}`}; ` +
      `database ${db.description}; tensor backend ${backend.name}`,
  );
  return { app, url, close: () => app.close() };
}

// `nest start` runs `node dist/src/main` (no extension): Node resolves main.js, argv[1] keeps the name.
const entry = process.argv[1];
const isEntry = entry !== undefined && [entry, `${entry}.js`].some((p) => import.meta.url === pathToFileURL(p).href);
if (isEntry) {
  bootstrap().catch((error: unknown) => {
    const message = error instanceof ConfigError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
    // eslint-disable-next-line no-console
    console.error(`Lethe failed to start: ${message}`);
    process.exit(1);
  });
}
