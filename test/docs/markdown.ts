// Small readers for the documentation tests: the settings the code reads, and the links and headings of a
// Markdown file. Plain regular expressions over the text; each is exercised on samples in docs.test.ts.

/** Environment variable names as they appear in code: UPPER_SNAKE (two parts at least) or the Functions host's. */
const NAME = String.raw`(?:[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|AzureWebJobs[A-Za-z0-9_]*)`;

/**
 * Every setting name one TypeScript source reads: `process.env.NAME`, `env.NAME`, `env?.NAME`, `env['NAME']`,
 * and any call that gets the environment and a name, `read(env, 'NAME')`, `integerSetting(env, "NAME", …)`.
 * A template literal such as `AzureWebJobsStorage__${svc}ServiceUri` is returned as it is written; see
 * {@link templateMatcher}.
 */
export function settingsReadIn(source: string): string[] {
  const code = withoutComments(source);
  const found = new Set<string>();
  const patterns = [
    new RegExp(String.raw`\benv\??\.(?<name>${NAME})\b`, 'g'),
    new RegExp(String.raw`\benv(?:\?\.)?\[\s*(['"\`])(?<name>${NAME})\1\s*\]`, 'g'),
    new RegExp(String.raw`\(\s*(?:process\.)?env\s*,\s*(['"])(?<name>${NAME})\1`, 'g'),
    new RegExp(String.raw`\(\s*(?:process\.)?env\s*,\s*\`(?<name>[^\`]*\$\{[^\`]*)\``, 'g'),
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) found.add(m.groups!.name!);
  return [...found].sort();
}

/**
 * Whole string literals that look like setting names. Used on the settings module, where a name may be held in a
 * table or a constant before it is read (`{ name: 'ROTATION_INLINE_MAX', … }`, `{ LOCK_WAIT_SECONDS: … }`).
 */
export function settingNameLiterals(source: string): string[] {
  const code = withoutComments(source);
  const quoted = new RegExp(String.raw`(['"\`])(?<name>${NAME})\1`, 'g');
  const key = new RegExp(String.raw`[{,]\s*(?<name>${NAME})\s*:`, 'g'); // { KEY_VAULT_URL: …, RENEW_BEFORE_DAYS: … }
  const names = [...code.matchAll(quoted), ...code.matchAll(key)].map((m) => m.groups!.name!);
  return [...new Set(names)].sort();
}

/** The string literals of a union type alias: `export type EntryCode = DecisionCode | 'app-not-found' | …;`. */
export function unionLiterals(source: string, typeName: string): string[] {
  const body = new RegExp(String.raw`\btype\s+${typeName}\s*=([^;]*);`).exec(withoutComments(source))?.[1];
  return body ? [...body.matchAll(/'([^']+)'|"([^"]+)"/g)].map((m) => (m[1] ?? m[2])!) : [];
}

/** `AzureWebJobsStorage__${svc}ServiceUri` → a RegExp that accepts the names it can produce. */
export function templateMatcher(template: string): RegExp {
  const parts = template.split(/\$\{[^}]*\}/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('[A-Za-z0-9_]+')}$`);
}

function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:\\'"`])\/\/.*$/gm, '$1');
}

/** Lines outside fenced code blocks (``` or ~~~), with inline code spans blanked out. */
export function proseLines(markdown: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  let fence: string | undefined;
  markdown.split('\n').forEach((text, i) => {
    const opener = /^\s{0,3}(`{3,}|~{3,})/.exec(text)?.[1];
    if (fence) {
      if (opener && opener[0] === fence[0] && opener.length >= fence.length) fence = undefined;
      return;
    }
    if (opener) {
      fence = opener;
      return;
    }
    out.push({ line: i + 1, text: text.replace(/(`+)[\s\S]*?\1/g, (s) => ' '.repeat(s.length)) });
  });
  return out;
}

/** Inline links and images `[text](target "title")` and reference definitions `[id]: target`, outside code. */
export function linksIn(markdown: string): Array<{ line: number; target: string }> {
  const links: Array<{ line: number; target: string }> = [];
  for (const { line, text } of proseLines(markdown)) {
    for (const m of text.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+["'(][^)]*)?\)/g)) {
      links.push({ line, target: m[1]!.replace(/^<|>$/g, '') });
    }
    const def = /^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(text);
    if (def) links.push({ line, target: def[1]!.replace(/^<|>$/g, '') });
  }
  return links;
}

/** True for links that leave the repository (http:, https:, mailto:, protocol-relative). */
export function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');
}

/**
 * The anchors GitHub makes for a file's headings: the heading's text without Markdown, lower-cased, with
 * everything but letters, digits, spaces, `-` and `_` removed and spaces turned into `-`; repeats get `-1`, `-2`.
 * Explicit `<a name="…">` / `id="…"` anchors count as well.
 */
export function anchorsIn(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(unblank(markdown))) {
    for (const m of text.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) anchors.add(m[1]!);
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(text)?.[1];
    if (heading === undefined) continue;
    const base = githubSlug(heading);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

// anchorsIn needs the text of code spans in headings (`### \`owned\` or \`tagged\``), which proseLines blanks:
// mark the backticks so that the spans survive, and drop the marks in githubSlug.
function unblank(markdown: string): string {
  return markdown
    .split('\n')
    .map((l) => (/^\s{0,3}#{1,6}\s/.test(l) ? l.replace(/`/g, '\uE000') : l))
    .join('\n');
}

export function githubSlug(heading: string): string {
  const text = heading
    .replace(/\uE000/g, '')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML
    .replace(/[*_~`]/g, (c) => (c === '_' ? '_' : '')); // emphasis marks (underscores are kept, as GitHub does)
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}
