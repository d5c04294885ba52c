// The one text-cleaning function (src/text.ts): what the report table, log lines, emails and error lines show of
// tenant input and service messages.
import { describe, expect, it } from 'vitest';
import { cleanText, oneLine } from '../../src/text.js';

describe('cleanText', () => {
  it.each<[string | null | undefined, string]>([
    [null, ''],
    [undefined, ''],
    ['Payroll API', 'Payroll API'],
    ['forged\nline', 'forged line'],
    ['a\r\n\r\nb', 'a b'], // no blank lines, no run of spaces
    ['tab\there', 'tab here'],
    ['  padded  ', 'padded'],
    ['invoice\u202eexe.pdf', 'invoice exe.pdf'], // bidi override
    ['iso\u2066late\u2069d', 'iso late d'],
    ['mark\u200f', 'mark'],
    ['para\u2029graph', 'para graph'],
    ['bell\u0007 del\u007f c1\u0085', 'bell del c1'],
    ['ünïcødé 名前 ok', 'ünïcødé 名前 ok'],
  ])('%j → %j', (input, expected) => {
    expect(cleanText(input)).toBe(expected);
  });

  it('cuts to exactly max characters, ending in …', () => {
    expect(cleanText('abcdefghij', 5)).toBe('abcd…');
    expect(cleanText('abcdefghij', 5)).toHaveLength(5);
    expect(cleanText('abcde', 5)).toBe('abcde');
  });

  it('never leaves a control or bidi character, whatever the input', () => {
    let all = '';
    for (let c = 0; c < 0x2070; c++) all += String.fromCharCode(c);
    // eslint-disable-next-line no-control-regex
    const unsafe = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
    expect(cleanText(all)).not.toMatch(unsafe);
  });

  it('oneLine is the same function', () => {
    expect(oneLine('a\nb\u202e', 80)).toBe(cleanText('a\nb\u202e', 80));
  });
});
