// The soak's leak scanner: the same question as test/reliability/harness.ts Emitted.leaks (does any secret the cloud
// ever issued appear, raw or JSON-escaped, in anything the product emitted?), answered in time linear in the text
// instead of text × secrets: over a year the cloud issues thousands of secrets, and the product emits thousands of
// lines a day.

/** Secrets shorter than this are not looked for (as in harness.ts). */
const MIN = 8;

interface Secret {
  length: number;
}

interface Needle {
  text: string;
  secret: Secret;
  /** The JSON-escaped form of a secret that has characters JSON escapes. */
  escaped: boolean;
}

export class LeakIndex {
  /** Needles by their first MIN characters. */
  private readonly byPrefix = new Map<string, Needle[]>();
  private readonly known = new Set<string>();

  /** Adds the secrets not seen before (cheap to call with every secret every day). */
  addSecrets(secrets: Iterable<string>): void {
    for (const s of secrets) {
      if (s.length < MIN || this.known.has(s)) continue;
      this.known.add(s);
      const secret = { length: s.length };
      this.addNeedle({ text: s, secret, escaped: false });
      const escaped = JSON.stringify(s).slice(1, -1);
      if (escaped !== s) this.addNeedle({ text: escaped, secret, escaped: true });
    }
  }

  private addNeedle(n: Needle): void {
    const key = n.text.slice(0, MIN);
    const list = this.byPrefix.get(key);
    if (list) list.push(n);
    else this.byPrefix.set(key, [n]);
  }

  /** Locations (never the secret) where a known secret appears, worded as harness.ts words them. */
  scan(entries: Iterable<{ where: string; text: string }>): string[] {
    const hits: string[] = [];
    for (const { where, text } of entries) {
      const found = new Map<Secret, { at: number; escaped: boolean }>();
      for (let i = 0; i + MIN <= text.length; i++) {
        for (const n of this.byPrefix.get(text.slice(i, i + MIN)) ?? []) {
          if (!text.startsWith(n.text, i)) continue;
          const prior = found.get(n.secret);
          if (!prior || (prior.escaped && !n.escaped)) found.set(n.secret, { at: i, escaped: n.escaped });
        }
      }
      for (const [secret, f] of found)
        hits.push(
          f.escaped
            ? `${where} (JSON-escaped secret)`
            : `${where} at character ${f.at} (a secret of ${secret.length} characters)`,
        );
    }
    return hits;
  }
}
