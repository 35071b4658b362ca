import { availableParallelism, hostname } from 'node:os';
import { basename, resolve } from 'node:path';
import { z } from 'zod';
import { BACKEND_ORDER } from '../engine/backend.js';
import { JOB_CATALOG, type JobName } from '../modules/jobs/job-catalog.js';
import { DEFAULT_ACTIVATION_THRESHOLDS, type ActivationThresholds } from '../unlearning/activation.js';

/** Injection token for the frozen {@link LetheConfig}. */
export const CONFIG = Symbol('LETHE_CONFIG');

export const ROLES = ['api', 'worker', 'all'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const emptyToUndefined = (v: unknown): unknown => (v === '' ? undefined : v);
const opt = <T extends z.ZodType>(schema: T) => z.preprocess(emptyToUndefined, schema);

/** Body sizes as `100kb`, `1mb`, `512` (bytes) — the syntax express/body-parser accepts. */
const BODY_LIMIT_RE = /^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i;

/**
 * Every environment variable Lethe reads, with its default and meaning. The table in docs/service.md is
 * written from these descriptions; later issues add their variables here with a small edit.
 */
export const ENV_SCHEMA = {
  PORT: opt(z.coerce.number().int().min(0).max(65535).default(3000)).describe('HTTP port the API listens on (0 = any free port).'),
  HOST: opt(z.string().min(1).default('0.0.0.0')).describe('Interface the API binds to.'),
  DATABASE_URL: opt(z.url({ protocol: /^postgres(ql)?$/ }).optional()).describe(
    'Postgres server URL (postgres://user:pass@host:5432/db). Unset: embedded PGlite under LETHE_DATA_DIR/pgdata.',
  ),
  LETHE_DATA_DIR: opt(z.string().min(1).default('./.lethe')).describe('Folder for local state: the embedded database (pgdata/) and caches.'),
  LETHE_EMBEDDED_DB_THREAD: opt(z.enum(['worker', 'main']).default('worker')).describe(
    'Where the embedded database (no DATABASE_URL) runs: worker (its own thread, so queries do not hold the event loop that serves HTTP) or main.',
  ),
  LETHE_ROLE: opt(z.enum(ROLES).default('all')).describe('Process role: api (HTTP only), worker (jobs only) or all (both).'),
  LETHE_ADMIN_KEY: opt(
    z.string().regex(/^lethe_[0-9A-Za-z]{32,}$/, 'must look like lethe_<at least 32 base62 characters>').optional(),
  ).describe('Bootstrap admin API key. Unset: a random one is generated and printed once on the first start.'),
  LETHE_BACKEND: opt(z.enum(BACKEND_ORDER).optional()).describe(
    'Tensor backend: tensorflow-gpu | tensorflow | wasm | cpu. Unset: the first that loads, in that order.',
  ),
  LETHE_LOG_LEVEL: opt(z.enum(LOG_LEVELS).default('info')).describe('Log level: fatal | error | warn | info | debug | trace | silent.'),
  LETHE_BODY_LIMIT: opt(z.string().regex(BODY_LIMIT_RE, 'must be a size like 1mb, 512kb or 1048576').default('1mb')).describe(
    'Largest accepted request body; larger bodies get 413.',
  ),
  LETHE_JOBS_RETRY_LIMIT: opt(z.coerce.number().int().min(0).max(20).default(2)).describe(
    'Retries of a failed background job (exponential backoff between them); a job type may set its own.',
  ),
  LETHE_JOBS_RETRY_DELAY_SECONDS: opt(z.coerce.number().int().min(1).max(3600).default(5)).describe(
    'Base delay before a job retry, in seconds; doubled per retry, with jitter.',
  ),
  LETHE_JOBS_EXPIRE_SECONDS: opt(z.coerce.number().int().min(1).max(86_400).optional()).describe(
    'A job run longer than this is failed (and retried) and its AbortSignal fires, for every job type without its own LETHE_JOBS_EXPIRE_SECONDS_<TYPE>. Unset: each type\'s default.',
  ),
  ...jobExpiryVariables(),
  LETHE_JOBS_HEARTBEAT_SECONDS: opt(z.coerce.number().min(0.1).max(300).default(5)).describe(
    'How often a worker records that its running jobs are alive (job_heartbeat) and looks for abandoned ones.',
  ),
  LETHE_JOBS_STALE_SECONDS: opt(z.coerce.number().min(1).max(3600).default(30)).describe(
    'A running job whose worker has not beaten for this long is failed and retried (at least 2 heartbeats).',
  ),
  LETHE_WORKER_NAME: opt(z.string().regex(/^[\w.:@-]{1,128}$/, 'letters, digits and _ . : @ - only (at most 128)').optional()).describe(
    'Stable name of this worker across restarts; a restarted worker takes back its previous incarnation\'s jobs at once. Unset: the hostname. Live workers must not share one.',
  ),
  LETHE_SSE_PING_SECONDS: opt(z.coerce.number().min(0.05).max(300).default(15)).describe(
    'Server-sent event streams send a `: ping` comment this often, so proxies and clients see a live connection.',
  ),
  LETHE_JOBS_CONCURRENCY: opt(z.coerce.number().int().min(1).max(64).default(1)).describe(
    'Jobs of each type one worker process runs at the same time.',
  ),
  LETHE_JOBS_SHUTDOWN_GRACE_SECONDS: opt(z.coerce.number().min(0).max(3600).default(30)).describe(
    'On shutdown, running jobs get this long to finish; then they are handed back to the queue.',
  ),
  LETHE_JOBS_POLL_SECONDS: opt(z.coerce.number().min(0.5).max(60).default(2)).describe('How often an idle worker polls for jobs (seconds, at least 0.5).'),
  LETHE_JOBS_POOL_SIZE: opt(z.coerce.number().int().min(1).max(50).default(3)).describe('Database connections of the job queue (pg-boss).'),
  LETHE_METRICS_PUBLIC: opt(z.stringbool().default(false)).describe(
    'true: GET /metrics needs no API key (for a scraper on a private network). Default: admin key required.',
  ),
  LETHE_AUDIT_SIGNING_KEY: opt(z.string().min(32, 'must be at least 32 characters').max(1024).optional()).describe(
    'HMAC-SHA256 key signing audit heads (GET /v1/admin/audit/head). Unset: a random key generated once and stored in the database (server_secret), shared by all replicas.',
  ),
  LETHE_MODEL_DIR: opt(z.string().min(1).default('./models/demo')).describe(
    'Base model folder (Hugging Face layout: config.json, model.safetensors, tokenizer.json) served by /v1/completions.',
  ),
  LETHE_MODEL_ID: opt(z.string().regex(/^[\w.-]+$/, 'letters, digits, _ . - only').optional()).describe(
    'Model id clients name in `model` (adapters as `<id>:<adapter>`). Unset: the model folder name.',
  ),
  LETHE_INFERENCE_WORKERS: opt(z.coerce.number().int().min(0).max(64).optional()).describe(
    'Inference worker threads. Unset: one per core, at most 4. 0 runs inference on the main thread (debugging only).',
  ),
  LETHE_TENSOR_THREAD_NICE: opt(z.coerce.number().int().min(0).max(19).default(10)).describe(
    'Linux niceness of the threads doing tensor work (inference engines, training jobs): they yield a core to the threads that serve HTTP, route requests and run the embedded database, and still use every idle cycle. 0: the process\'s own priority.',
  ),
  LETHE_BATCH_WINDOW_MS: opt(z.coerce.number().min(0).max(1000).default(5)).describe('Micro-batching: how long the first request waits for company (ms).'),
  LETHE_MERGE_HOT_PLANS: opt(z.stringbool().default(false)).describe(
    'true: merge an adapter plan shared by a whole batch into the weights from its second use (hot plans run at the base model\'s cost, up to 64 MiB of merged copies per worker). Default: rank stacking always.',
  ),
  LETHE_BATCH_MAX_SIZE: opt(z.coerce.number().int().min(1).max(256).default(8)).describe('Micro-batching: most requests per batch.'),
  LETHE_QUEUE_MAX: opt(z.coerce.number().int().min(0).max(100_000).default(256)).describe(
    'Most inference requests waiting; beyond, 429 with Retry-After.',
  ),
  LETHE_REQUEST_TIMEOUT_MS: opt(z.coerce.number().int().min(0).max(3_600_000).default(60_000)).describe(
    'Inference request timeout, queue wait included (ms; 0 = none); a timed-out request gets 504.',
  ),
  LETHE_MAX_TOKENS_LIMIT: opt(z.coerce.number().int().min(1).max(100_000).default(256)).describe('Largest `max_tokens` a completion may ask for.'),
  LETHE_MAX_PROMPTS: opt(z.coerce.number().int().min(1).max(1024).default(16)).describe('Most prompts in one completion request (prompt as an array).'),
  LETHE_ADAPTER_CACHE_MB: opt(z.coerce.number().min(0).max(1_000_000).default(256)).describe(
    'Byte budget of the adapter cache (loaded adapters, per process), in MiB.',
  ),
  LETHE_ROUTING_SAMPLE_RATE: opt(z.coerce.number().min(0).max(1).default(1)).describe(
    'Share of routing decisions stored in routing_decision (0..1); admins\' requests are always stored.',
  ),
  LETHE_ROUTING_STRENGTH_MAX: opt(z.coerce.number().min(0).max(100).default(2)).describe('Upper bound of explicit adapter strengths (lower bound 0).'),
  LETHE_ROUTING_SPECULATIVE_PREFILL: opt(z.stringbool().default(false)).describe(
    'Routing pass: also prefill each prompt with the plan its entity gates make likely, in the same forward pass as the features, so a right guess generates without a second prefill. Off by default: slower on the demo model (docs/benchmarks.md).',
  ),
  LETHE_UNLEARNING_MAX_FORGET_ANSWER_RATE: opt(z.coerce.number().min(0).max(1).default(DEFAULT_ACTIVATION_THRESHOLDS.maxForgetAnswerRate)).describe(
    'Unlearning activation check: most checked forget items still answered with their original answer (0..1); above it the request ends needs_review.',
  ),
  LETHE_UNLEARNING_MAX_REFERENCE_FALSE_FIRE_RATE: opt(
    z.coerce.number().min(0).max(1).default(DEFAULT_ACTIVATION_THRESHOLDS.maxReferenceFalseFireRate),
  ).describe('Unlearning activation check: most reference prompts (bundled generic set, world.json utility items, the request\'s referencePrompts) the new gate may fire on (0..1).'),
  LETHE_UNLEARNING_MAX_NEAR_NEGATIVE_COLLATERAL: opt(
    z.coerce.number().min(0).max(1).default(DEFAULT_ACTIVATION_THRESHOLDS.maxNearNegativeCollateral),
  ).describe('Unlearning activation check: most generated near-negatives (the forget questions about other names) whose gated answer may change (0..1).'),
  LETHE_UNLEARNING_ESCALATION_SECONDS: opt(z.coerce.number().min(0).max(3600).default(DEFAULT_ACTIVATION_THRESHOLDS.escalationSeconds)).describe(
    'Seconds an unlearning request may spend escalating (more training, recalibration) after a failed activation check before it ends needs_review.',
  ),
};

/** `unlearning.train` → `LETHE_JOBS_EXPIRE_SECONDS_UNLEARNING_TRAIN`. */
export function jobExpiryVariable(name: string): string {
  return `LETHE_JOBS_EXPIRE_SECONDS_${name.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

/** One optional expiry variable per catalog job type; its default is the catalog's. */
function jobExpiryVariables() {
  return Object.fromEntries(
    Object.entries(JOB_CATALOG).map(([name, o]) => [
      jobExpiryVariable(name),
      opt(z.coerce.number().int().min(1).max(86_400).optional()).describe(
        `Expiry of \`${name}\` jobs in seconds. Unset: LETHE_JOBS_EXPIRE_SECONDS, else ${o.expireInSeconds ?? 900}.`,
      ),
    ]),
  );
}

const envSchema = z.object(ENV_SCHEMA);
type Env = z.infer<typeof envSchema>;

/** Typed, validated configuration; frozen after {@link loadConfig}. */
export interface LetheConfig {
  readonly port: number;
  readonly host: string;
  /** Postgres server URL, or undefined for the embedded database. */
  readonly databaseUrl: string | undefined;
  /** Absolute path of the data folder. */
  readonly dataDir: string;
  /** Thread of the embedded database (unused with databaseUrl). */
  readonly embeddedDbThread: Env['LETHE_EMBEDDED_DB_THREAD'];
  readonly role: Env['LETHE_ROLE'];
  readonly adminKey: string | undefined;
  readonly backend: Env['LETHE_BACKEND'];
  readonly logLevel: Env['LETHE_LOG_LEVEL'];
  readonly bodyLimit: string;
  /** True when this process serves HTTP (role api or all). */
  readonly runsApi: boolean;
  /** True when this process runs background jobs (role worker or all). */
  readonly runsWorker: boolean;
  /** Background job settings (LETHE_JOBS_*). */
  readonly jobs: {
    readonly retryLimit: number;
    readonly retryDelaySeconds: number;
    readonly concurrency: number;
    readonly shutdownGraceSeconds: number;
    readonly pollIntervalSeconds: number;
    readonly poolSize: number;
    /** LETHE_JOBS_EXPIRE_SECONDS when set: the expiry of every type without its own. */
    readonly expireAllSeconds: number | undefined;
    /** LETHE_JOBS_EXPIRE_SECONDS_<TYPE> that are set, by job name. */
    readonly expireSecondsByType: Readonly<Partial<Record<JobName, number>>>;
    readonly heartbeatSeconds: number;
    readonly staleSeconds: number;
    readonly workerName: string;
  };
  /** Seconds between `: ping` comments on server-sent event streams. */
  readonly ssePingSeconds: number;
  /** GET /metrics without an API key. */
  readonly metricsPublic: boolean;
  /** LETHE_AUDIT_SIGNING_KEY, or undefined to use the key stored in the database. */
  readonly auditSigningKey: string | undefined;
  /** Inference settings (LETHE_MODEL_*, LETHE_INFERENCE_WORKERS, LETHE_BATCH_*, ...). */
  readonly inference: {
    readonly modelDir: string;
    readonly modelId: string;
    readonly workers: number;
    /** Niceness of the tensor threads (engines and training jobs); 0 leaves them as the process. */
    readonly tensorThreadNice: number;
    readonly batchWindowMs: number;
    readonly batchMaxSize: number;
    readonly mergeHotPlans: boolean;
    readonly queueMax: number;
    readonly requestTimeoutMs: number;
    readonly maxTokensLimit: number;
    readonly maxPrompts: number;
    readonly adapterCacheBytes: number;
    readonly routingSampleRate: number;
    readonly strengthMax: number;
    readonly speculativePrefill: boolean;
  };
  /** Unlearning requests (LETHE_UNLEARNING_*). */
  readonly unlearning: {
    /** What a request's checks must meet to go active; otherwise it ends needs_review. */
    readonly activation: Readonly<ActivationThresholds>;
  };
}

/** Raised by {@link loadConfig}; `issues` names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; message: string }[]) {
    super(`invalid configuration: ${issues.map((i) => `${i.variable}: ${i.message}`).join('; ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Validates `env` (default: process.env) and returns a frozen config. Throws one ConfigError
 * that names every offending variable, so a bad start is fixed in one go.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): LetheConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? '?'), message: i.message })));
  }
  const e = parsed.data;
  if (e.LETHE_JOBS_STALE_SECONDS < 2 * e.LETHE_JOBS_HEARTBEAT_SECONDS) {
    throw new ConfigError([{ variable: 'LETHE_JOBS_STALE_SECONDS', message: `must be at least 2 × LETHE_JOBS_HEARTBEAT_SECONDS (${2 * e.LETHE_JOBS_HEARTBEAT_SECONDS})` }]);
  }
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: resolve(e.LETHE_DATA_DIR),
    embeddedDbThread: e.LETHE_EMBEDDED_DB_THREAD,
    role: e.LETHE_ROLE,
    adminKey: e.LETHE_ADMIN_KEY,
    backend: e.LETHE_BACKEND,
    logLevel: e.LETHE_LOG_LEVEL,
    bodyLimit: e.LETHE_BODY_LIMIT,
    runsApi: e.LETHE_ROLE !== 'worker',
    runsWorker: e.LETHE_ROLE !== 'api',
    jobs: Object.freeze({
      retryLimit: e.LETHE_JOBS_RETRY_LIMIT,
      retryDelaySeconds: e.LETHE_JOBS_RETRY_DELAY_SECONDS,
      expireAllSeconds: e.LETHE_JOBS_EXPIRE_SECONDS,
      expireSecondsByType: Object.freeze(
        Object.fromEntries(
          Object.keys(JOB_CATALOG).flatMap((name) => {
            const v = (e as Record<string, unknown>)[jobExpiryVariable(name)];
            return typeof v === 'number' ? [[name, v]] : [];
          }),
        ),
      ),
      heartbeatSeconds: e.LETHE_JOBS_HEARTBEAT_SECONDS,
      staleSeconds: e.LETHE_JOBS_STALE_SECONDS,
      workerName: e.LETHE_WORKER_NAME ?? (hostname() || 'worker'),
      concurrency: e.LETHE_JOBS_CONCURRENCY,
      shutdownGraceSeconds: e.LETHE_JOBS_SHUTDOWN_GRACE_SECONDS,
      pollIntervalSeconds: e.LETHE_JOBS_POLL_SECONDS,
      poolSize: e.LETHE_JOBS_POOL_SIZE,
    }),
    metricsPublic: e.LETHE_METRICS_PUBLIC,
    auditSigningKey: e.LETHE_AUDIT_SIGNING_KEY,
    ssePingSeconds: e.LETHE_SSE_PING_SECONDS,
    inference: Object.freeze({
      modelDir: resolve(e.LETHE_MODEL_DIR),
      modelId: e.LETHE_MODEL_ID ?? (basename(resolve(e.LETHE_MODEL_DIR)).replace(/[^\w.-]/g, '-') || 'model'),
      workers: e.LETHE_INFERENCE_WORKERS ?? Math.min(4, Math.max(1, availableParallelism())),
      tensorThreadNice: e.LETHE_TENSOR_THREAD_NICE,
      batchWindowMs: e.LETHE_BATCH_WINDOW_MS,
      batchMaxSize: e.LETHE_BATCH_MAX_SIZE,
      mergeHotPlans: e.LETHE_MERGE_HOT_PLANS,
      queueMax: e.LETHE_QUEUE_MAX,
      requestTimeoutMs: e.LETHE_REQUEST_TIMEOUT_MS,
      maxTokensLimit: e.LETHE_MAX_TOKENS_LIMIT,
      maxPrompts: e.LETHE_MAX_PROMPTS,
      adapterCacheBytes: Math.round(e.LETHE_ADAPTER_CACHE_MB * 1024 * 1024),
      routingSampleRate: e.LETHE_ROUTING_SAMPLE_RATE,
      strengthMax: e.LETHE_ROUTING_STRENGTH_MAX,
      speculativePrefill: e.LETHE_ROUTING_SPECULATIVE_PREFILL,
    }),
    unlearning: Object.freeze({
      activation: Object.freeze({
        maxForgetAnswerRate: e.LETHE_UNLEARNING_MAX_FORGET_ANSWER_RATE,
        maxReferenceFalseFireRate: e.LETHE_UNLEARNING_MAX_REFERENCE_FALSE_FIRE_RATE,
        maxNearNegativeCollateral: e.LETHE_UNLEARNING_MAX_NEAR_NEGATIVE_COLLATERAL,
        escalationSeconds: e.LETHE_UNLEARNING_ESCALATION_SECONDS,
      }),
    }),
  });
}

/** Variable name, default (or undefined) and description, for docs and `--help`. */
export function describeEnv(): { variable: string; default: string | undefined; description: string }[] {
  return Object.entries(ENV_SCHEMA).map(([variable, schema]) => {
    const probe = z.object({ v: schema }).safeParse({});
    const def = probe.success && probe.data.v !== undefined ? String(probe.data.v) : undefined;
    return { variable, default: def, description: schema.description ?? '' };
  });
}
