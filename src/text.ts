// Tenant input (display names, tag values) and service messages shown in one-line places: reports, tables, log
// lines, emails, error descriptions. The one text-cleaning function of the product.

// Control characters could forge extra lines in a terminal table, a log or an email's plain text, line/paragraph
// separators break lines in some viewers, and bidi overrides/isolates/marks can make a name read as something else
// (invoice\u202eexe.pdf): they are the point of this regex.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * One clean line: every control, line-separator and bidi-control character becomes a space, runs of white space
 * become one space, the ends are trimmed, and a value longer than `max` is cut to `max` characters ending in "…".
 * null and undefined are the empty string.
 */
export function cleanText(value: string | null | undefined, max = Infinity): string {
  if (value === null || value === undefined) return '';
  const clean = value.replace(UNSAFE, ' ').replace(/\s+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, Math.max(0, max - 1))}…` : clean;
}

/** The same function under the name the report and policy code use. */
export const oneLine = (s: string, max = Infinity): string => cleanText(s, max);
