// What counts as an email address the rotator may write to. Here (not in notify/) because settings validate
// addresses too, and settings import nothing above the small utilities.

// RFC 5321 dot-atom local part (no quoted strings) and a DNS host name with at least two labels.
// Display names ("Ann <a@b.c>"), IP literals and whitespace are refused: ACS wants a bare address.
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const LOCAL = new RegExp(`^${ATEXT}(?:\\.${ATEXT})*$`);
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const TLD = /^(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$/;

/** A DNS host name with at least two labels and a real top-level label (contoso.com, mail.contoso.co.uk). */
export function isDomainName(domain: string): boolean {
  if (domain.length > 253) return false;
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return false;
  return TLD.test(labels[labels.length - 1]!);
}

export function isEmailAddress(s: string): boolean {
  if (s.length > 254) return false;
  const at = s.lastIndexOf('@');
  if (at <= 0) return false;
  const local = s.slice(0, at);
  if (local.length > 64 || !LOCAL.test(local)) return false;
  return isDomainName(s.slice(at + 1));
}
