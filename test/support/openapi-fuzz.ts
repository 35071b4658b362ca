/**
 * Property-based fuzz of every operation in an OpenAPI document (issue 12), over real HTTP.
 * Requests are drawn with fast-check from the document itself: each parameter and body field is
 * mostly valid for its schema and sometimes hostile (NUL, lone surrogates, 1e20, 1e400, negative
 * and fractional numbers, wrong types, long strings, deep nesting, prototype keys, unknown
 * fields); bodies are sometimes hostile as a whole (malformed JSON, 20,000 levels deep, wrong
 * content type). The property: no 5xx, no hang, and every 4xx in the documented error shape
 * `{ error: { code, message, details } }`.
 *
 * Used by test/e2e/fuzz-openapi.test.ts (CI, ≥ 2,000 cases) and scripts/bench-reliability.ts
 * (more cases, a table per endpoint). Test support only: product code must not import it.
 */
import fc from 'fast-check';

type Schema = Record<string, unknown>;
type Doc = { paths: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, Schema> } };
interface Operation {
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: Schema }>;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}

/** One operation of the document, as the fuzz drives it. */
export interface FuzzOperation {
  /** `POST /v1/adapters/{id}/activate` */
  name: string;
  method: string;
  path: string;
  pathParams: string[];
  query: Array<{ name: string; schema: Schema }>;
  headers: string[];
  body: { kind: 'json'; schema: Schema } | { kind: 'multipart' } | undefined;
}

/** What the drawn requests may refer to: existing ids, keys, PEFT files. */
export interface FuzzContext {
  adminKey: string;
  /** Keys of lesser roles (sent now and then instead of the admin key). */
  otherKeys: string[];
  /** Existing resource ids (path parameters draw from them, so requests reach the handlers). */
  ids: string[];
  /** Valid PEFT adapter_config.json objects and weights for multipart uploads. */
  peft?: { config: Record<string, unknown>; weights: Uint8Array[] };
  /** Example bodies for operations whose schema is opaque (`{ type: object }`), by operation name. */
  bodyHints?: Record<string, fc.Arbitrary<Record<string, unknown>>>;
}

/** A drawn request. `body` is the exact bytes sent (JSON text with raw pieces spliced in). */
export interface FuzzRequest {
  op: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string | FormData;
}

export interface FuzzOutcome {
  request: FuzzRequest;
  status: number;
  /** Why the outcome breaks the property (undefined: it holds). */
  violation?: string;
  /** The response body, cut short (for the report of a violation). */
  excerpt?: string;
}

export interface FuzzReport {
  cases: number;
  seed: number;
  /** Per operation: cases, 2xx, 4xx, 5xx and other violations. */
  byOperation: Record<string, { cases: number; ok: number; clientErrors: number; serverErrors: number; violations: number }>;
  violations: FuzzOutcome[];
  elapsedMs: number;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** Every operation of the document (resolving `$ref` bodies). */
export function operationsOf(doc: Doc): FuzzOperation[] {
  const ops: FuzzOperation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const params = op.parameters ?? [];
      const content = op.requestBody?.content ?? {};
      const json = content['application/json']?.schema;
      // Multipart operations without a documented body (the PEFT import) are known by their path.
      const multipart = content['multipart/form-data'] !== undefined || path.endsWith('/import');
      ops.push({
        name: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        query: params.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: resolve(doc, p.schema ?? {}) })),
        headers: [...new Set(params.filter((p) => p.in === 'header').map((p) => p.name.toLowerCase()))],
        body: json ? { kind: 'json', schema: resolve(doc, json) } : multipart && method === 'post' ? { kind: 'multipart' } : undefined,
      });
    }
  }
  return ops;
}

function resolve(doc: Doc, s: Schema): Schema {
  let cur = s;
  for (let i = 0; i < 10 && typeof cur.$ref === 'string'; i++) {
    const name = (cur.$ref as string).split('/').pop()!;
    cur = doc.components?.schemas?.[name] ?? {};
  }
  return cur;
}

// ---- hostile values -------------------------------------------------------------------------

/**
 * Raw JSON pieces that JSON.stringify cannot write (1e400, 20,000 levels, duplicate keys) are
 * drawn as placeholders and spliced into the text afterwards.
 */
const RAW = '\u0001raw:';
const raw = (text: string) => `${RAW}${text}`;
const RAW_PIECES = [
  '1e400',
  '-1e400',
  `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
  `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`,
  `${'['.repeat(40)}${']'.repeat(40)}`,
  '{"__proto__":{"admin":true}}',
  '{"constructor":{"prototype":{"x":1}}}',
  '"\\u0000"',
  '"\\ud800"',
  '"\\udfff tail"',
  '123456789012345678901234567890',
];

const hostileString = fc.oneof(
  fc.constantFrom('\u0000', 'a\u0000b', '\uD800', 'x\uDFFF', '\uDBFF\uD800', '', ' ', '../../etc/passwd', "' OR 1=1 --", '<script>x</script>', '\u202E', '😀', 'null', 'NaN', '1e20', '-1', '%00', '\\'),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom('x'.repeat(1_001), 'é'.repeat(5_000), 'y'.repeat(100_000)),
);
const hostileNumber = fc.oneof(
  fc.constantFrom(1e20, -1e20, 1e308, -1e308, -1, 0, -0, 0.5, 1.5, -2.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 63, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1e-300),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

function protoObject(key: string, value: unknown): Record<string, unknown> {
  // A literal `{ __proto__: … }` would set the prototype; JSON.stringify writes own properties only.
  const o: Record<string, unknown> = {};
  Object.defineProperty(o, key, { value, enumerable: true, configurable: true, writable: true });
  return o;
}

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 4, arbitrary: hostileNumber },
  { weight: 2, arbitrary: fc.constantFrom<unknown>(null, true, false, [], {}, [1, 'a'], { x: 1 }) },
  { weight: 2, arbitrary: fc.constantFrom(...RAW_PIECES).map(raw) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype').map((k) => protoObject(k, { polluted: true })) },
);

// ---- values from schemas ---------------------------------------------------------------------

interface Draw {
  ids: string[];
}

function validValue(s: Schema, ctx: Draw, depth: number): fc.Arbitrary<unknown> {
  if (Array.isArray(s.enum) && s.enum.length > 0) return fc.constantFrom(...(s.enum as unknown[]));
  const type = s.type as string | undefined;
  if (type === 'string') {
    if (s.format === 'uuid' || /id$/i.test(String(s.description ?? ''))) return fc.oneof(fc.constantFrom(...ctx.ids), fc.uuid());
    if (s.format === 'date-time') return fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
    if (typeof s.pattern === 'string') return fc.stringMatching(new RegExp(s.pattern as string));
    const max = Math.min(typeof s.maxLength === 'number' ? s.maxLength : 40, 60);
    return fc.string({ minLength: typeof s.minLength === 'number' ? Math.min(s.minLength, max) : 0, maxLength: max });
  }
  if (type === 'number' || type === 'integer') {
    const min = typeof s.minimum === 'number' ? s.minimum : 0;
    // Small values: the fuzz is about input handling, not about running 20,000 training steps.
    const max = Math.min(typeof s.maximum === 'number' ? s.maximum : min + 100, min + 100);
    return fc.oneof(fc.integer({ min: Math.ceil(min), max: Math.max(Math.ceil(min), Math.floor(max)) }), fc.double({ min, max, noNaN: true }));
  }
  if (type === 'boolean') return fc.boolean();
  if (type === 'array') {
    if (depth > 4) return fc.constant([]);
    const item = (s.items as Schema | undefined) ?? {};
    const minLength = typeof s.minItems === 'number' ? Math.min(s.minItems, 5) : 0;
    return fc.array(fieldValue(item, ctx, depth + 1), { minLength, maxLength: Math.max(minLength, 4) });
  }
  if (type === 'object' || s.properties) return objectValue(s, ctx, depth + 1);
  return fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean());
}

/** Mostly valid for the schema, sometimes hostile. */
function fieldValue(s: Schema, ctx: Draw, depth: number): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 5, arbitrary: validValue(s, ctx, depth) }, { weight: 1, arbitrary: hostileValue });
}

function objectValue(s: Schema, ctx: Draw, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const props = (s.properties as Record<string, Schema> | undefined) ?? {};
  const required = new Set((s.required as string[] | undefined) ?? []);
  const names = Object.keys(props);
  if (names.length === 0) return fc.constant({});
  const fields = names.map((name) =>
    fc.oneof(
      { weight: required.has(name) ? 10 : 4, arbitrary: fieldValue(props[name], ctx, depth).map((v) => [name, v] as const) },
      { weight: 1, arbitrary: fc.constant(undefined) },
    ),
  );
  return fc.tuple(...fields).map((entries) => {
    const o: Record<string, unknown> = {};
    for (const e of entries) if (e) o[e[0]] = e[1];
    return o;
  });
}

/** An object body: the schema's fields, sometimes plus an unknown field or a prototype key. */
function jsonBody(schema: Schema, hint: fc.Arbitrary<Record<string, unknown>> | undefined, ctx: Draw): fc.Arbitrary<unknown> {
  const base = hint ?? objectValue(schema, ctx, 0);
  const extra = fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), hostileValue) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('__proto__', 'constructor', 'prototype'), fc.constantFrom<unknown>({ role: 'admin' }, 1, 'x')) },
  );
  const whole = fc.oneof(
    { weight: 12, arbitrary: fc.tuple(base, extra).map(([o, e]) => (e ? { ...o, ...protoObject(e[0], e[1]) } : o)) },
    { weight: 1, arbitrary: hostileValue },
    { weight: 1, arbitrary: fc.array(base, { maxLength: 2 }) },
  );
  return whole;
}

/** JSON text of a drawn value, raw placeholders spliced in. */
export function toJsonText(value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  return text.replace(/"\\u0001raw:((?:[^"\\]|\\.)*)"/g, (_m, esc: string) => JSON.parse(`"${esc}"`) as string);
}

// ---- whole requests --------------------------------------------------------------------------

const rawPathValue = fc.constantFrom('%00', 'not-a-uuid', '%ED%A0%80', '%E0%A4%A', '..', '%2F', 'x'.repeat(300), '00000000-0000-0000-0000-000000000000', 'ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ', '%20', '1e20', '-1');
const rawQueryValue = fc.constantFrom('%00', 'a%00b', '1e20', '-1e20', '1e308', '1e400', 'Infinity', 'NaN', '-1', '0', '1.5', '0x10', '9'.repeat(30), '', '%ED%A0%80', '%', 'true', '[]', 'x'.repeat(5000));

function encodeValue(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? '';
  try {
    return encodeURIComponent(s);
  } catch {
    return '%ED%A0%80'; // a lone surrogate has no UTF-8: send the bytes it would be in CESU-8
  }
}

function queryArb(op: FuzzOperation, ctx: Draw): fc.Arbitrary<string> {
  const params = op.query.map((q) =>
    fc.oneof(
      { weight: 4, arbitrary: fc.constant<string | undefined>(undefined) },
      { weight: 3, arbitrary: validValue(q.schema, ctx, 0).map((v) => `${encodeURIComponent(q.name)}=${encodeValue(v)}`) },
      { weight: 2, arbitrary: rawQueryValue.map((v) => `${encodeURIComponent(q.name)}=${v}`) },
      { weight: 1, arbitrary: fc.tuple(rawQueryValue, rawQueryValue).map(([a, b]) => `${q.name}=${a}&${q.name}=${b}`) },
    ),
  );
  const extra = fc.oneof(
    { weight: 8, arbitrary: fc.constant<string | undefined>(undefined) },
    { weight: 1, arbitrary: fc.constantFrom('__proto__[admin]=1', 'constructor[prototype][x]=1', 'a.__proto__=1', 'unknownField=1', 'a[b][c][d][e][f][g][h]=1', '%00=1') },
  );
  return fc.tuple(fc.tuple(...params), extra).map(([ps, e]) => [...ps, e].filter((p): p is string => p !== undefined).join('&'));
}

function authArb(ctx: FuzzContext): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 17, arbitrary: fc.constant(`Bearer ${ctx.adminKey}`) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom('Bearer lethe_garbage', 'Basic eDp5', 'Bearer ', `Bearer ${ctx.adminKey}x`) },
    { weight: 1, arbitrary: ctx.otherKeys.length > 0 ? fc.constantFrom(...ctx.otherKeys).map((k) => `Bearer ${k}`) : fc.constant(undefined) },
  );
}

function multipartArb(ctx: FuzzContext): fc.Arbitrary<FormData> {
  const peft = ctx.peft;
  const configArb: fc.Arbitrary<unknown> = peft
    ? fc.oneof(
        { weight: 3, arbitrary: fc.constant(peft.config) },
        {
          weight: 6,
          arbitrary: fc.tuple(fc.constantFrom('lora_alpha', 'r', 'use_rslora', 'target_modules', 'base_model_name_or_path', 'peft_type', 'bias'), fc.oneof(hostileValue, fc.constantFrom<unknown>(1e308, 1e30, 1e-30, true))).map(([k, v]) => ({ ...peft.config, [k]: v })),
        },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom('lora_alpha', 'r'), fc.boolean()).map(([k]) => ({ ...peft.config, lora_alpha: 1e308, use_rslora: true, [k]: k === 'r' ? 16 : 1e308 })) },
        { weight: 1, arbitrary: hostileValue },
      )
    : hostileValue;
  const weightsArb: fc.Arbitrary<Uint8Array> = fc.oneof(
    ...(peft ? peft.weights.map((w) => fc.constant(w)) : []),
    fc.uint8Array({ maxLength: 64 }),
    fc.constant(new TextEncoder().encode('{"not":"safetensors"}')),
  );
  const nameArb = fc.oneof(fc.stringMatching(/^fz[a-z0-9]{1,8}$/), hostileString);
  return fc.tuple(nameArb, configArb, weightsArb, fc.constantFrom('both', 'no-config', 'no-weights', 'extra')).map(([name, config, weights, layout]) => {
    const form = new FormData();
    form.append('name', name);
    if (layout !== 'no-config') form.append('files', new Blob([toJsonText(config)], { type: 'application/json' }), 'adapter_config.json');
    if (layout !== 'no-weights') form.append('files', new Blob([new Uint8Array(weights)]), 'adapter_model.safetensors');
    if (layout === 'extra') form.append('files', new Blob(['x']), 'evil.bin');
    return form;
  });
}

/** The arbitrary of one request to `op`. */
export function requestArb(op: FuzzOperation, ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const draw: Draw = { ids: ctx.ids.length > 0 ? ctx.ids : ['00000000-0000-4000-8000-000000000000'] };
  const pathArbs = op.pathParams.map(() =>
    fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...draw.ids) }, { weight: 1, arbitrary: fc.uuid() }, { weight: 3, arbitrary: rawPathValue }),
  );
  const headerArb = op.headers.includes('idempotency-key')
    ? fc.oneof(fc.constant(undefined), fc.stringMatching(/^[A-Za-z0-9-]{1,40}$/), fc.constantFrom('', 'x'.repeat(300), 'é')).map((v) => (v === undefined ? {} : { 'idempotency-key': v }))
    : fc.constant({});
  let bodyArb: fc.Arbitrary<{ body?: string | FormData; contentType?: string }> = fc.constant({});
  if (op.body?.kind === 'json') {
    const json = jsonBody(op.body.schema, ctx.bodyHints?.[op.name], draw).map((v) => ({ body: toJsonText(v), contentType: 'application/json' }));
    bodyArb = fc.oneof(
      { weight: 16, arbitrary: json },
      { weight: 1, arbitrary: fc.constantFrom('{', '{"a":}', 'nul', '', '\u0000', '[1,2', '{"a":1}}').map((t) => ({ body: t, contentType: 'application/json' })) },
      { weight: 1, arbitrary: json.map((j) => ({ body: j.body, contentType: 'text/plain' })) },
      { weight: 1, arbitrary: fc.constant({}) },
    );
  } else if (op.body?.kind === 'multipart') {
    bodyArb = fc.oneof({ weight: 8, arbitrary: multipartArb(ctx).map((f) => ({ body: f })) }, { weight: 1, arbitrary: fc.constant({ body: '{}', contentType: 'application/json' }) });
  }
  return fc.tuple(fc.tuple(...pathArbs), queryArb(op, draw), authArb(ctx), headerArb, bodyArb).map(([pathValues, query, auth, extraHeaders, b]) => {
    let path = op.path;
    op.pathParams.forEach((name, i) => (path = path.replace(`{${name}}`, pathValues[i])));
    const headers: Record<string, string> = { ...extraHeaders };
    if (auth) headers.authorization = auth;
    if (b.contentType) headers['content-type'] = b.contentType;
    return { op: op.name, method: op.method, url: query ? `${path}?${query}` : path, headers, body: b.body };
  });
}

/** Sends one request; streams (SSE) are read for at most `streamMs` and then closed. */
export async function sendFuzzRequest(baseUrl: string, req: FuzzRequest, options: { timeoutMs?: number; streamMs?: number } = {}): Promise<FuzzOutcome> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(new Error('timeout')), options.timeoutMs ?? 15_000);
  try {
    const res = await fetch(`${baseUrl}${req.url}`, { method: req.method, headers: req.headers, body: req.method === 'GET' ? undefined : req.body, signal: ctrl.signal });
    let text = '';
    if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
      const streamTimer = setTimeout(() => ctrl.abort(new Error('stream read')), options.streamMs ?? 300);
      text = await res.text().catch(() => '');
      clearTimeout(streamTimer);
    } else {
      text = await res.text();
    }
    return { request: req, status: res.status, violation: checkAnswer(res.status, res.headers.get('content-type') ?? '', text), excerpt: text.slice(0, 300) };
  } catch (e) {
    return { request: req, status: 0, violation: `no answer: ${(e as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

/** Why a response breaks the property (5xx, or a 4xx not in the error shape), or undefined. */
export function checkAnswer(status: number, contentType: string, text: string): string | undefined {
  if (status >= 500) return `answered ${status}`;
  if (status < 400) return undefined;
  if (!contentType.includes('application/json')) return `${status} is not JSON (${contentType || 'no content type'})`;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `${status} body is not valid JSON`;
  }
  const error = (body as { error?: Record<string, unknown> } | null)?.error;
  if (!error || typeof error.code !== 'string' || typeof error.message !== 'string' || !('details' in error)) {
    return `${status} body is not { error: { code, message, details } }`;
  }
  return undefined;
}

export interface FuzzRunOptions {
  baseUrl: string;
  context: FuzzContext;
  cases: number;
  seed: number;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** Operations to leave out, by name (`GET /metrics`). */
  skip?: string[];
}

/**
 * Draws `cases` requests (seeded: the same seed and document give the same requests), spread
 * evenly over the operations, sends them and collects the outcomes.
 */
export async function runOpenApiFuzz(options: FuzzRunOptions): Promise<FuzzReport> {
  const started = Date.now();
  const doc = (await (await fetch(`${options.baseUrl}/docs-json`)).json()) as Doc;
  const ops = operationsOf(doc).filter((o) => !options.skip?.includes(o.name));
  const arb = fc.oneof(...ops.map((o) => requestArb(o, options.context)));
  const requests = fc.sample(arb, { seed: options.seed, numRuns: options.cases });
  const byOperation: FuzzReport['byOperation'] = {};
  for (const o of ops) byOperation[o.name] = { cases: 0, ok: 0, clientErrors: 0, serverErrors: 0, violations: 0 };
  const violations: FuzzOutcome[] = [];
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const req = requests[next++];
      const out = await sendFuzzRequest(options.baseUrl, req);
      const row = byOperation[req.op];
      row.cases++;
      if (out.status >= 500) row.serverErrors++;
      else if (out.status >= 400) row.clientErrors++;
      else if (out.status > 0) row.ok++;
      if (out.violation) {
        row.violations++;
        violations.push(out);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  return { cases: requests.length, seed: options.seed, byOperation, violations, elapsedMs: Date.now() - started };
}

/** A violation as a line a developer can replay with curl. */
export function describeOutcome(o: FuzzOutcome): string {
  const body = typeof o.request.body === 'string' ? o.request.body.slice(0, 200) : o.request.body ? '<multipart>' : '';
  return `${o.request.method} ${o.request.url.slice(0, 200)} [${o.status}] ${o.violation}; body ${JSON.stringify(body)}; answer ${JSON.stringify(o.excerpt ?? '')}`;
}

/** The per-operation table (cases, 2xx, 4xx, 5xx, violations) as text. */
export function formatFuzzTable(report: FuzzReport): string {
  const rows = Object.entries(report.byOperation).sort(([a], [b]) => a.localeCompare(b));
  const w = Math.max(9, ...rows.map(([n]) => n.length));
  const line = (cols: string[]) => `${cols[0].padEnd(w)}  ${cols.slice(1).map((c) => c.padStart(7)).join('  ')}`;
  const total = rows.reduce((t, [, r]) => ({ cases: t.cases + r.cases, ok: t.ok + r.ok, c4: t.c4 + r.clientErrors, c5: t.c5 + r.serverErrors, v: t.v + r.violations }), { cases: 0, ok: 0, c4: 0, c5: 0, v: 0 });
  return [
    line(['operation', 'cases', '2xx/3xx', '4xx', '5xx', 'broken']),
    ...rows.map(([n, r]) => line([n, String(r.cases), String(r.ok), String(r.clientErrors), String(r.serverErrors), String(r.violations)])),
    line(['total', String(total.cases), String(total.ok), String(total.c4), String(total.c5), String(total.v)]),
  ].join('\n');
}
