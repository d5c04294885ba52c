// Size limits for src/, counted with the TypeScript compiler rather than by eye: no file over 400 lines, no
// function over 80 lines, and no function in a trigger file (src/functions/*.ts) over 40 lines. A function's
// lines run from its first token to its closing brace (leading comments not counted); nested functions count
// towards the function that holds them, too. Exit code 1, with one line per breach, when any limit is broken.
//   npx tsx scripts/check-size.ts [dir]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 80;
const MAX_HANDLER_LINES = 40;

const root = resolve(import.meta.dirname, '..');
const dir = resolve(root, process.argv[2] ?? 'src');

function sourceFiles(d: string): string[] {
  return readdirSync(d).flatMap((name) => {
    const path = join(d, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|cts)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/**
 * A trigger file: src/functions/<name>.ts, or its handler src/functions/handlers/<name>.ts (loaded when the
 * function first runs). Their helpers under src/functions/lib/ are ordinary code.
 */
const isTriggerFile = (path: string) => {
  const parts = relative(root, path).split(sep);
  if (parts[0] !== 'src' || parts[1] !== 'functions') return false;
  return parts.length === 3 || (parts.length === 4 && parts[2] === 'handlers');
};

function functionName(node: ts.Node): string {
  const named = node as { name?: ts.Node };
  if (named.name && ts.isIdentifier(named.name)) return named.name.text;
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (parent && ts.isPropertyAssignment(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  return '(anonymous)';
}

export function breaches(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const shown = relative(root, path);
  const out: string[] = [];
  const lines = file.getLineAndCharacterOfPosition(file.getEnd()).line + (text.endsWith('\n') ? 0 : 1);
  if (lines > MAX_FILE_LINES) out.push(`${shown}: ${lines} lines (file limit ${MAX_FILE_LINES})`);
  const limit = isTriggerFile(path) ? MAX_HANDLER_LINES : MAX_FUNCTION_LINES;
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && (node as { body?: ts.Node }).body) {
      const start = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
      const end = file.getLineAndCharacterOfPosition(node.getEnd()).line;
      const count = end - start + 1;
      if (count > limit)
        out.push(`${shown}:${start + 1}: function ${functionName(node)} has ${count} lines (limit ${limit})`);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return out;
}

const found = sourceFiles(dir).flatMap(breaches);
for (const line of found) process.stderr.write(`${line}\n`);
if (found.length) {
  process.stderr.write(`check-size: ${found.length} limit(s) broken\n`);
  process.exitCode = 1;
} else {
  process.stdout.write(
    `check-size: every file and function in ${relative(root, dir) || '.'} is within its limit\n`,
  );
}
