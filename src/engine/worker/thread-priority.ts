import { readFileSync, readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Lowers the calling thread's scheduling priority to niceness `nice` (Linux; elsewhere nothing
 * changes, since setpriority there applies to the whole process). Threads doing tensor work call
 * it so the threads that serve HTTP, route requests and run the embedded database get a core as
 * soon as they have work, while tensor work still uses every idle cycle. Returns whether the
 * niceness was set: a failure (no /proc) leaves the thread as it was and is not an error.
 */
export function niceThisThread(nice: number): boolean {
  if (!(nice > 0) || process.platform !== 'linux') return false;
  try {
    // /proc/thread-self -> "<pid>/task/<tid>"; Linux's setpriority takes a thread id as a pid.
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    setPriority(tid, Math.min(19, Math.round(nice)));
    return true;
  } catch {
    return false;
  }
}

/** The niceness the current thread runs at (Linux: this thread's; elsewhere: the process's). */
export function threadNiceness(): number {
  if (process.platform !== 'linux') return 0;
  try {
    // Field 19 of /proc/thread-self/stat; the command name (field 2) may hold spaces, so count after ')'.
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  } catch {
    return 0;
  }
}
