import type { AuditEvent } from '../api/types.js';

/**
 * One CSV cell (RFC 4180 quoting). Cells a spreadsheet would run as a formula (=, +, -, @, tab,
 * CR) get a leading apostrophe: the audit log holds user-supplied names.
 */
export function csvCell(v: unknown): string {
  let s = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const AUDIT_CSV_COLUMNS = ['seq', 'at', 'actor', 'action', 'subject', 'details', 'prevHash', 'hash'] as const;

/** Audit events as CSV (header row, CRLF line ends, details as JSON). */
export function auditToCsv(events: AuditEvent[]): string {
  const rows = [AUDIT_CSV_COLUMNS.join(','), ...events.map((e) => AUDIT_CSV_COLUMNS.map((c) => csvCell(e[c])).join(','))];
  return `${rows.join('\r\n')}\r\n`;
}

/** Offers `text` as a file download (a blob: URL, revoked right after). */
export function download(filename: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
