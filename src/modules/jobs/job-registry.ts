import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import type { JobCatalog, JobQueueOptions } from './job-catalog.js';
import { JobProcessor, type JobHandler } from './job-handler.js';

/** Injection token for the catalog the registry checks (JOB_CATALOG unless a test gives its own). */
export const JOB_CATALOG_TOKEN = Symbol('JOB_CATALOG');

/** Raised at start when catalog and handlers disagree; names every problem at once. */
export class JobRegistryError extends Error {
  constructor(readonly problems: string[]) {
    super(`job registry: ${problems.join('; ')}`);
    this.name = 'JobRegistryError';
  }
}

export interface RegisteredJob {
  readonly name: string;
  readonly options: JobQueueOptions;
  readonly handler: JobHandler;
}

/**
 * Pairs every catalog entry with its handler. Fails unless each catalog name has exactly one
 * handler and each handler's name is in the catalog.
 */
export function buildJobRegistry(catalog: JobCatalog, handlers: readonly JobHandler[]): Map<string, RegisteredJob> {
  const problems: string[] = [];
  const byName = new Map<string, JobHandler[]>();
  for (const h of handlers) {
    if (typeof h.name !== 'string' || typeof h.handle !== 'function') {
      problems.push(`${h.constructor?.name ?? 'a handler'} lacks a string name or a handle() method`);
      continue;
    }
    byName.set(h.name, [...(byName.get(h.name) ?? []), h]);
  }
  for (const [name, hs] of byName) {
    if (!Object.hasOwn(catalog, name)) problems.push(`handler ${hs.map((h) => h.constructor.name).join(', ')} serves unknown job '${name}'`);
    else if (hs.length > 1) problems.push(`job '${name}' has ${hs.length} handlers (${hs.map((h) => h.constructor.name).join(', ')})`);
  }
  for (const name of Object.keys(catalog)) {
    if (!byName.has(name)) problems.push(`job '${name}' has no handler`);
  }
  if (problems.length > 0) throw new JobRegistryError(problems);
  return new Map(Object.entries(catalog).map(([name, options]) => [name, { name, options, handler: byName.get(name)![0] }]));
}

/** The checked job registry of this app, built when modules initialise (so a bad one stops the start). */
@Injectable()
export class JobRegistry implements OnModuleInit {
  private jobs = new Map<string, RegisteredJob>();

  constructor(
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(JOB_CATALOG_TOKEN) private readonly catalog: JobCatalog,
  ) {}

  onModuleInit(): void {
    const handlers = this.discovery
      .getProviders({ metadataKey: JobProcessor.KEY })
      .map((w) => w.instance as JobHandler | undefined)
      .filter((h): h is JobHandler => h !== undefined && h !== null);
    this.jobs = buildJobRegistry(this.catalog, handlers);
  }

  get(name: string): RegisteredJob {
    const job = this.jobs.get(name);
    if (!job) throw new Error(`unknown job '${name}'`);
    return job;
  }

  has(name: string): boolean {
    return this.jobs.has(name);
  }

  all(): RegisteredJob[] {
    return [...this.jobs.values()];
  }
}
