/**
 * The load generator's HTTP client (issue 13): OpenAI-style streaming completions over keep-alive
 * connections (node:http Agent, one socket per concurrent client, as a real client pool keeps
 * them), timing each request from the first byte written to the first streamed text (TTFT) and to
 * `[DONE]` (end to end). Runs inside the load worker thread (serving-load-worker.ts), so the
 * service's event loop under test does not also run the client.
 */
import { Agent, request } from 'node:http';

/** One request to send: the service's URL, an API key and the JSON body (`stream: true` is set here). */
export interface LoadRequest {
  url: string;
  key: string;
  body: Record<string, unknown>;
  /** Which series this request belongs to (way, adapter count…): carried to its record. */
  tag: string;
}

/** What one request measured. `status` 0: the connection failed (`error` says why). */
export interface LoadRecord {
  tag: string;
  status: number;
  /** Start, ms since the run began. */
  startMs: number;
  /** To the first non-empty text chunk; NaN when none came. */
  ttftMs: number;
  e2eMs: number;
  completionTokens: number;
  error?: string;
}

/** A keep-alive agent sized for `clients` concurrent requests. */
export function keepAliveAgent(clients: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: clients, maxFreeSockets: clients });
}

/** Sends one streaming completion and reads its server-sent events to the end. */
export function streamCompletion(agent: Agent, r: LoadRequest, runStart: number): Promise<LoadRecord> {
  const payload = JSON.stringify({ ...r.body, stream: true });
  const t0 = performance.now();
  const out: LoadRecord = { tag: r.tag, status: 0, startMs: t0 - runStart, ttftMs: NaN, e2eMs: NaN, completionTokens: 0 };
  return new Promise((resolve) => {
    const done = (error?: string) => {
      out.e2eMs = performance.now() - t0;
      if (error) out.error = error;
      resolve(out);
    };
    const u = new URL('/v1/completions', r.url);
    const req = request(
      {
        agent,
        hostname: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        headers: { authorization: `Bearer ${r.key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        out.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        let buffered = '';
        let failed: string | undefined;
        res.on('data', (chunk: string) => {
          if (out.status !== 200) {
            buffered += chunk;
            return;
          }
          buffered += chunk;
          let at: number;
          while ((at = buffered.indexOf('\n\n')) >= 0) {
            const event = buffered.slice(0, at);
            buffered = buffered.slice(at + 2);
            if (!event.startsWith('data: ')) continue; // SSE comment (ping)
            const data = event.slice(6);
            if (data === '[DONE]') continue;
            const msg = JSON.parse(data) as { choices?: Array<{ text: string }>; usage?: { completion_tokens: number }; error?: { message: string } };
            if (msg.error) failed = msg.error.message;
            if (Number.isNaN(out.ttftMs) && msg.choices?.some((c) => c.text !== '')) out.ttftMs = performance.now() - t0;
            if (msg.usage) out.completionTokens = msg.usage.completion_tokens;
          }
        });
        res.on('end', () => done(out.status !== 200 ? buffered.slice(0, 200) : failed));
        res.on('error', (e) => done(e.message));
      },
    );
    req.on('error', (e) => done(e.message));
    req.end(payload);
  });
}
