// Tenant input (display names, tag values) shown in one-line places: reports, tables, log lines.

// Control characters could forge extra lines in a terminal table or a log, line/paragraph separators break lines in
// some viewers, and bidi overrides/isolates can make a name read as something else (invoice\u202eexe.pdf): they are
// the point of this regex.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Replaces control, line-separator and bidi-control characters and clips to `max` characters. */
export function oneLine(s: string, max = Infinity): string {
  const clean = s.replace(CONTROL, ' ');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
