import { describe, expect, it } from 'vitest';
import { auditToCsv, csvCell } from './export.js';

describe('audit CSV export', () => {
  it('quotes per RFC 4180 and defuses spreadsheet formulas', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"\nbye')).toBe('"say ""hi""\nbye"');
    expect(csvCell('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvCell('-1')).toBe("'-1");
    expect(csvCell(null)).toBe('');
    expect(csvCell({ k: 1 })).toBe('"{""k"":1}"');
  });

  it('writes a header and one CRLF row per event', () => {
    const csv = auditToCsv([{ seq: 1, at: '2026-01-01T00:00:00.000Z', actor: 'system', action: 'adapter.create', subject: 'adapter:x', details: { name: '<img>' }, prevHash: '0', hash: 'h' }]);
    expect(csv).toBe('seq,at,actor,action,subject,details,prevHash,hash\r\n1,2026-01-01T00:00:00.000Z,system,adapter.create,adapter:x,"{""name"":""<img>""}",0,h\r\n');
  });
});
