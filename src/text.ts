// Tenant input (display names, tag values) shown in one-line places: reports, tables, log lines.

// Control characters could forge extra lines in a terminal table or a log; they are the point of this regex.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Replaces control characters and clips to `max` characters. */
export function oneLine(s: string, max = Infinity): string {
  const clean = s.replace(CONTROL, ' ');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
