/**
 * bench:reliability section `killRecovery`: the service (child process, demo model, embedded
 * PGlite, default heartbeat settings) trains a small unlearning request; it is SIGKILLed inside
 * the training loop and started again on the same data. Measured from the restart's spawn: when
 * the service listens again, when the lost attempt was recovered (the request back to queued and
 * its retry started), and when the request is final. Met when it is active within 90 s (the
 * promise is recovery within 60 s; the rest is the retry's own training).
 */
import { call, demoAuthorItems, FINAL_STATUSES, round, serviceHome, sleep, waitForRequest } from './reliability-support.js';

export interface KillRecoveryResult {
  model: string;
  database: 'embedded PGlite';
  items: number;
  firstTrainingSeconds: number | null;
  killedInPhase: string;
  killedAtStep: number | null;
  restartBootSeconds: number;
  restartToRecoveredSeconds: number | null;
  restartToFinalSeconds: number;
  finalStatus: string;
  attempts: number;
  recoveryReason: string | null;
  met: boolean;
}

export async function killRecoverySection(log: (line: string) => void = console.log): Promise<{ result: KillRecoveryResult; met: boolean }> {
  // A fixed worker name, as a container's hostname is across restarts; heartbeat and staleness:
  // the defaults (5 s, 30 s).
  const home = serviceHome({ LETHE_WORKER_NAME: 'bench-reliability', LETHE_JOBS_POLL_SECONDS: '0.5' });
  let svc = await home.start();
  try {
    const items = demoAuthorItems(0);
    const sub = await call(svc.url, home.adminKey, 'POST', '/v1/unlearning-requests', { name: 'kill-recovery', items, relabel: 'refusal' });
    if (sub.status !== 202) throw new Error(`submit: ${sub.status} ${JSON.stringify(sub.body)}`);
    const id = sub.body.id as string;
    const queuedAt = Date.now();
    // Into the training loop, then a third of the way through it.
    const inLoop = await waitForRequest(svc.url, home.adminKey, id, (r) => r.progress?.phase === 'training' || FINAL_STATUSES.has(r.status), 300_000, 50);
    if (FINAL_STATUSES.has(inLoop.status)) throw new Error(`the request finished before the kill: ${inLoop.status}`);
    const total = inLoop.progress.total as number | undefined;
    const target = total ? Math.max(1, Math.floor(total / 3)) : 1;
    const atKill = await waitForRequest(svc.url, home.adminKey, id, (r) => (r.progress?.step ?? 0) >= target || r.status !== 'training', 300_000, 50);
    const firstTrainingSeconds = (Date.now() - queuedAt) / 1000;
    await svc.kill('SIGKILL');
    log(`killRecovery: SIGKILL in ${atKill.status}/${atKill.progress?.phase} at step ${atKill.progress?.step}/${total} (${round(firstTrainingSeconds)} s after submit)`);

    const restartedAt = Date.now();
    svc = await home.start();
    const restartBootSeconds = svc.readyMs / 1000;
    let recoveredAt: number | null = null;
    let last: any;
    for (;;) {
      last = (await call(svc.url, home.adminKey, 'GET', `/v1/unlearning-requests/${id}`)).body;
      if (recoveredAt === null && (last.status === 'queued' || (last.progress?.attempt ?? 1) >= 2)) recoveredAt = Date.now();
      if (FINAL_STATUSES.has(last.status) || Date.now() - restartedAt > 300_000) break;
      await sleep(100);
    }
    const restartToFinalSeconds = (Date.now() - restartedAt) / 1000;
    const audit = await call(svc.url, home.adminKey, 'GET', `/v1/admin/audit?subject=unlearning_request:${id}`);
    const retry = (audit.body.items as { action: string; details: { reason?: string } }[]).find((e) => e.action === 'unlearning.retry');
    const met = last.status === 'active' && restartToFinalSeconds < 90;
    const result: KillRecoveryResult = {
      model: 'demo',
      database: 'embedded PGlite',
      items: items.length,
      firstTrainingSeconds: round(firstTrainingSeconds),
      killedInPhase: atKill.progress?.phase ?? atKill.status,
      killedAtStep: atKill.progress?.step ?? null,
      restartBootSeconds: round(restartBootSeconds),
      restartToRecoveredSeconds: recoveredAt === null ? null : round((recoveredAt - restartedAt) / 1000),
      restartToFinalSeconds: round(restartToFinalSeconds),
      finalStatus: last.status,
      attempts: last.attempts,
      recoveryReason: retry?.details.reason ?? null,
      met,
    };
    log('\n## killRecovery (SIGKILL mid-training, restart on the same data)\n');
    log('| restart boot | restart → recovered | restart → final | final status | attempts |');
    log('|---:|---:|---:|---|---:|');
    log(`| ${result.restartBootSeconds} s | ${result.restartToRecoveredSeconds ?? '–'} s | ${result.restartToFinalSeconds} s | ${result.finalStatus} | ${result.attempts} |`);
    log(`\nkillRecovery: ${met ? 'met' : 'NOT met'} (active within 90 s of the restart)`);
    return { result, met };
  } finally {
    await svc.stop().catch(() => undefined);
    home.dispose();
  }
}
