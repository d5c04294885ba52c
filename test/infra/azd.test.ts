// azd wiring: azure.yaml, infra/main.parameters.json and the deploy guide agree with the templates.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (rel: string) => readFileSync(join(root, rel), 'utf8');

/** `param name type [= default]` lines; decorators are on their own lines, so line starts are enough. */
function bicepParams(rel: string): Map<string, { hasDefault: boolean; allowed?: string[] }> {
  const lines = read(rel).split('\n');
  const out = new Map<string, { hasDefault: boolean; allowed?: string[] }>();
  lines.forEach((line, k) => {
    const m = /^param\s+(\w+)\s+\w+(\s*=)?/.exec(line);
    if (!m) return;
    let allowed: string[] | undefined;
    for (let j = k - 1; j >= 0 && lines[j]!.startsWith('@'); j--) {
      const a = /^@allowed\(\[(.*)\]\)/.exec(lines[j]!);
      if (a) allowed = [...a[1]!.matchAll(/'([^']*)'/g)].map((x) => x[1]!);
    }
    out.set(m[1]!, { hasDefault: m[2] !== undefined, allowed });
  });
  return out;
}

/** Minimal YAML reading for azure.yaml's flat structure: indentation-keyed scalars. */
function yamlScalars(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const path: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const m = /^( *)([\w-]+):\s*(.*)$/.exec(line);
    if (!m) throw new Error(`unexpected azure.yaml line: ${line}`);
    const depth = m[1]!.length / 2;
    path.length = depth;
    path.push(m[2]!);
    if (m[3]) out.set(path.join('.'), m[3].replace(/^['"]|['"]$/g, ''));
  }
  return out;
}

describe('azure.yaml', () => {
  const yaml = yamlScalars(read('azure.yaml'));

  it('names the project and one function service, rotator, built from the repository root', () => {
    expect(yaml.get('name')).toBe('entra-secret-rotator');
    const services = new Set(
      [...yaml.keys()].filter((k) => k.startsWith('services.')).map((k) => k.split('.')[1]),
    );
    expect([...services]).toEqual(['rotator']);
    expect(yaml.get('services.rotator.host')).toBe('function');
    expect(['ts', 'js']).toContain(yaml.get('services.rotator.language'));
    expect(yaml.get('services.rotator.project')).toBe('.');
  });

  it('points at infra/main.bicep, and the Function App carries the service tag azd deploys to', () => {
    expect(yaml.get('infra.provider')).toBe('bicep');
    expect(existsSync(join(root, yaml.get('infra.path')!, `${yaml.get('infra.module')}.bicep`))).toBe(true);
    expect(read('infra/modules/functionapp.bicep')).toMatch(/'azd-service-name':\s*'rotator'/);
  });

  it('builds remotely; a .funcignore, when present, keeps node_modules out and the sources in', () => {
    expect(yaml.get('services.rotator.remoteBuild')).toBe('true');
    const ignorePath = join(root, '.funcignore');
    if (!existsSync(ignorePath)) return;
    const ignored = read('.funcignore')
      .split('\n')
      .map((l) => l.trim().replace(/\/$/, ''));
    expect(ignored).toContain('node_modules');
    for (const needed of [
      'src',
      '*.ts',
      'tsconfig.json',
      'tsconfig.build.json',
      'package.json',
      'package-lock.json',
      'host.json',
    ]) {
      expect(ignored, needed).not.toContain(needed);
    }
  });

  it('the project builds with npm run build and its entry point is the compiled functions', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; main: string };
    expect(pkg.scripts.build).toBeTruthy();
    expect(pkg.main).toMatch(/^dist\//);
  });
});

describe('infra/main.parameters.json', () => {
  const file = JSON.parse(read('infra/main.parameters.json')) as {
    parameters: Record<string, { value: unknown }>;
  };
  const params = bicepParams('infra/main.bicep');

  it('names only parameters main.bicep declares, and every required one', () => {
    for (const name of Object.keys(file.parameters)) expect([...params.keys()], name).toContain(name);
    for (const [name, p] of params)
      if (!p.hasDefault) expect(Object.keys(file.parameters), name).toContain(name);
  });

  it('takes the environment name and location from azd', () => {
    expect(file.parameters.environmentName?.value).toBe('${AZURE_ENV_NAME}');
    expect(file.parameters.location?.value).toBe('${AZURE_LOCATION}');
  });

  it('every value is one azd environment variable, and defaults are allowed values', () => {
    for (const [name, { value }] of Object.entries(file.parameters)) {
      expect(typeof value, name).toBe('string');
      const m = /^\$\{([A-Z][A-Z0-9_]*)(?:=([^}]*))?\}$/.exec(value as string);
      expect(m, `${name}: ${String(value)}`).not.toBeNull();
      const allowed = params.get(name)?.allowed;
      if (m![2] !== undefined && allowed) expect(allowed, name).toContain(m![2]);
    }
  });

  it('main.bicep marks location for azd', () => {
    expect(read('infra/main.bicep')).toMatch(
      /@metadata\(\{ azd: \{ type: 'location' \} \}\)\nparam location string/,
    );
  });
});

describe("README's Deploy section", () => {
  const readme = read('README.md');
  const start = readme.indexOf('## Deploy to Azure');
  const end = readme.indexOf('\n## ', start + 1);
  const doc = start < 0 ? '' : readme.slice(start, end < 0 ? undefined : end);

  it('covers deploy, grant, enroll, consume and remove', () => {
    for (const needle of [
      'azd up',
      'az deployment group create',
      'func azure functionapp publish',
      'Privileged Role Administrator',
      'Application.ReadWrite.All',
      'az ad app owner add',
      'infra/examples/enroll-app.bicep',
      '@Microsoft.KeyVault(SecretUri=',
      'azd down --purge',
      'purge protection',
    ]) {
      expect(doc, needle).toContain(needle);
    }
  });

  it('every parameter it names exists in main.bicep', () => {
    const params = bicepParams('infra/main.bicep');
    for (const m of doc.matchAll(/`(\w+)=/g)) {
      if (/^[a-z]/.test(m[1]!)) expect([...params.keys()], m[1]).toContain(m[1]);
    }
  });
});
