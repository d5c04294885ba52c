// The slice of OData $filter that Graph accepts on /applications and /servicePrincipals without advanced
// query headers: `appId eq`, `appId in (...)`, `displayName eq`, `tags/any(x:x eq ...)`, joined with and/or
// and parentheses. Everything else is refused the way Graph refuses an unsupported clause.
// `in` and or-chains hold at most 15 values ("limited to 15 expressions in the filter clause by default",
// Graph known issues, query parameters; the error text is the one users report, docs-contrib issue #1238).
import { SimHttpError } from '../http.js';
import type { SimApplication, SimServicePrincipal } from '../tenant.js';

/** What a filter can read of a directory object. */
interface Filterable {
  appId: string;
  displayName: string;
  tags: string[];
}
export type Predicate<T> = (item: T) => boolean;
export type AppPredicate = Predicate<SimApplication>;

type Token =
  | { kind: 'word'; text: string; at: number }
  | { kind: 'string'; text: string; at: number }
  | { kind: 'punct'; text: '(' | ')' | ',' | ':'; at: number };

function unsupported(detail: string): SimHttpError {
  return new SimHttpError(400, 'Request_UnsupportedQuery', detail);
}

function invalidClause(filter: string): SimHttpError {
  return unsupported(`Invalid filter clause: the simulator cannot parse '${filter}'.`);
}

function tokenize(filter: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < filter.length) {
    const c = filter[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      // OData escapes a quote inside a string literal by doubling it.
      let text = '';
      let j = i + 1;
      for (;;) {
        if (j >= filter.length) throw invalidClause(filter);
        if (filter[j] === "'") {
          if (filter[j + 1] === "'") {
            text += "'";
            j += 2;
            continue;
          }
          break;
        }
        text += filter[j];
        j++;
      }
      tokens.push({ kind: 'string', text, at: i });
      i = j + 1;
    } else if (c === '(' || c === ')' || c === ',' || c === ':') {
      tokens.push({ kind: 'punct', text: c, at: i });
      i++;
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_./]*/.exec(filter.slice(i));
      if (!m) throw invalidClause(filter);
      tokens.push({ kind: 'word', text: m[0], at: i });
      i += m[0].length;
    }
  }
  return tokens;
}

const MAX_OR_CLAUSES = 15;

function tooManyClauses(n: number): SimHttpError {
  return unsupported(
    `Too many child clauses specified in search filter expression containing 'OR' operators: ${n}. Max allowed: ${MAX_OR_CLAUSES}.`,
  );
}

const eqi = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export interface FilterOptions {
  /**
   * An advanced query (ConsistencyLevel: eventual and $count=true): the 15-value cap does not apply; the
   * request is limited by its URL length instead (checked by the route, see odata.ts checkAdvancedUrl).
   */
  advanced?: boolean;
}

/** Parses a $filter for /applications into a predicate, or throws Graph's 400. */
export function parseApplicationFilter(filter: string, opts: FilterOptions = {}): AppPredicate {
  return parseFilter(filter, 'Application', opts);
}

/** Parses a $filter for /servicePrincipals (the same clauses; service principals carry no tags here). */
export function parseServicePrincipalFilter(
  filter: string,
  opts: FilterOptions = {},
): Predicate<SimServicePrincipal> {
  const p = parseFilter(filter, 'ServicePrincipal', opts);
  return (sp) => p({ appId: sp.appId, displayName: sp.displayName, tags: [] });
}

function parseFilter(
  filter: string,
  resource: 'Application' | 'ServicePrincipal',
  opts: FilterOptions,
): Predicate<Filterable> {
  const maxOrClauses = opts.advanced ? Infinity : MAX_OR_CLAUSES;
  const tokens = tokenize(filter);
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => {
    const t = tokens[pos++];
    if (!t) throw invalidClause(filter);
    return t;
  };
  const expectPunct = (p: string) => {
    const t = next();
    if (t.kind !== 'punct' || t.text !== p) throw invalidClause(filter);
  };
  const stringLiteral = () => {
    const t = next();
    if (t.kind !== 'string') throw invalidClause(filter);
    return t.text;
  };
  const isWord = (t: Token | undefined, w: string) => t?.kind === 'word' && eqi(t.text, w);

  function orExpr(): Predicate<Filterable> {
    let left = andExpr();
    let children = 1;
    while (isWord(peek(), 'or')) {
      pos++;
      const l = left;
      const r = andExpr();
      left = (app) => l(app) || r(app);
      children++;
    }
    if (children > maxOrClauses) throw tooManyClauses(children);
    return left;
  }

  function andExpr(): Predicate<Filterable> {
    let left = primary();
    while (isWord(peek(), 'and')) {
      pos++;
      const l = left;
      const r = primary();
      left = (app) => l(app) && r(app);
    }
    return left;
  }

  function primary(): Predicate<Filterable> {
    const t = next();
    if (t.kind === 'punct' && t.text === '(') {
      const inner = orExpr();
      expectPunct(')');
      return inner;
    }
    if (t.kind !== 'word') throw invalidClause(filter);
    if (eqi(t.text, 'not'))
      throw unsupported(
        "Unsupported query: 'not' needs ConsistencyLevel: eventual and $count=true, which the simulator does not model.",
      );
    if (eqi(t.text, 'tags/any')) return tagsAny();
    const property = t.text;
    const op = next();
    if (op.kind !== 'word') throw invalidClause(filter);
    const canonical = ['appId', 'displayName'].find((p) => eqi(p, property));
    if (!canonical || !(eqi(op.text, 'eq') || (eqi(op.text, 'in') && canonical === 'appId'))) {
      throw unsupported(
        `Unsupported or invalid query filter clause specified for property '${property}' of resource '${resource}'.`,
      );
    }
    // Directory string comparisons are case-insensitive: the values are lowered once, each object's once per test.
    const get = (app: Filterable) => (canonical === 'appId' ? app.appId : app.displayName).toLowerCase();
    if (eqi(op.text, 'eq')) {
      const value = stringLiteral().toLowerCase();
      return (app) => get(app) === value;
    }
    expectPunct('(');
    const values = [stringLiteral()];
    while (peek()?.kind === 'punct' && peek()!.text === ',') {
      pos++;
      values.push(stringLiteral());
    }
    expectPunct(')');
    // `in` is shorthand for an or-chain and counts against the same limit.
    if (values.length > maxOrClauses) throw tooManyClauses(values.length);
    const lowered = new Set(values.map((v) => v.toLowerCase()));
    return (app) => lowered.has(get(app));
  }

  // tags/any(t:t eq 'x'): any lambda variable name, but it must be used consistently.
  function tagsAny(): Predicate<Filterable> {
    expectPunct('(');
    const variable = next();
    if (variable.kind !== 'word') throw invalidClause(filter);
    expectPunct(':');
    const used = next();
    if (used.kind !== 'word' || used.text !== variable.text) throw invalidClause(filter);
    const op = next();
    if (op.kind !== 'word' || !eqi(op.text, 'eq')) {
      throw unsupported(
        `Unsupported or invalid query filter clause specified for property 'tags' of resource '${resource}'.`,
      );
    }
    const value = stringLiteral();
    expectPunct(')');
    // Directory string comparisons are case-insensitive.
    return (app) => app.tags.some((tag) => eqi(tag, value));
  }

  const predicate = orExpr();
  if (pos !== tokens.length) throw invalidClause(filter);
  return predicate;
}
