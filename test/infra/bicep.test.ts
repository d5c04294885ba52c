// Structural checks of the Bicep templates. No Bicep compiler can run offline (azure-contracts.md §F/§H),
// so this file reads the .bicep text with a small scanner and checks what a compiler would not:
// least privilege, pinned API versions, no secrets in outputs, and the contract's settings.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const infraDir = join(root, 'infra');

interface BicepFile {
  rel: string;
  raw: string;
  /** Comments removed, strings kept. */
  code: string;
  /** Like `code`, with the text of string literals blanked (interpolations kept). Same length as `code`. */
  bare: string;
}

type Frame = { kind: 'code' } | { kind: 'str' } | { kind: 'multi' } | { kind: 'interp'; depth: number };

/** Removes comments and blanks string text, keeping every index aligned between `code` and `bare`. */
function scan(raw: string): { code: string; bare: string } {
  let code = '';
  let bare = '';
  const stack: Frame[] = [{ kind: 'code' }];
  const emit = (c: string, b = c) => {
    code += c;
    bare += b;
  };
  let i = 0;
  while (i < raw.length) {
    const top = stack[stack.length - 1]!;
    const c = raw[i]!;
    if (top.kind === 'code' || top.kind === 'interp') {
      if (raw.startsWith('//', i)) {
        while (i < raw.length && raw[i] !== '\n') i++;
        continue;
      }
      if (raw.startsWith('/*', i)) {
        const end = raw.indexOf('*/', i + 2);
        const stop = end < 0 ? raw.length : end + 2;
        for (; i < stop; i++) if (raw[i] === '\n') emit('\n');
        continue;
      }
      if (raw.startsWith("'''", i)) {
        stack.push({ kind: 'multi' });
        emit("'''");
        i += 3;
        continue;
      }
      if (c === "'") stack.push({ kind: 'str' });
      if (top.kind === 'interp') {
        if (c === '{') top.depth++;
        if (c === '}' && top.depth-- === 0) stack.pop();
      }
      emit(c);
      i++;
    } else if (top.kind === 'str') {
      if (c === '\\') {
        emit(raw.slice(i, i + 2), '  ');
        i += 2;
      } else if (raw.startsWith('${', i)) {
        stack.push({ kind: 'interp', depth: 0 });
        emit('${');
        i += 2;
      } else {
        if (c === "'") stack.pop();
        emit(c, c === "'" || c === '\n' ? c : ' ');
        i++;
      }
    } else if (raw.startsWith("'''", i)) {
      stack.pop();
      emit("'''");
      i += 3;
    } else {
      emit(c, c === '\n' ? '\n' : ' ');
      i++;
    }
  }
  return { code, bare };
}

function listBicep(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listBicep(join(dir, e.name)) : e.name.endsWith('.bicep') ? [join(dir, e.name)] : [],
  );
}

function load(path: string): BicepFile {
  const raw = readFileSync(path, 'utf8');
  return { rel: relative(infraDir, path).replaceAll('\\', '/'), raw, ...scan(raw) };
}

const files = listBicep(infraDir).map(load);
const byRel = new Map(files.map((f) => [f.rel, f]));
function file(rel: string): BicepFile {
  const f = byRel.get(rel);
  if (!f) throw new Error(`infra/${rel} is missing`);
  return f;
}
const deployed = files.filter((f) => !f.rel.startsWith('examples/'));

interface Param {
  name: string;
  type: string;
  defaultValue?: string;
  decorators: string;
}

function params(f: BicepFile): Param[] {
  return [...f.code.matchAll(/^param\s+(\w+)\s+(\w+)(?:\s*=\s*(.+))?$/gm)].map((m) => {
    const before = f.code.slice(0, m.index).split('\n');
    const decorators: string[] = [];
    for (let k = before.length - 2; k >= 0 && before[k]!.trim().startsWith('@'); k--)
      decorators.push(before[k]!);
    return { name: m[1]!, type: m[2]!, defaultValue: m[3]?.trim(), decorators: decorators.join('\n') };
  });
}

/** Text between the `{` that opens the declaration's body and its matching `}`. */
function blockAt(f: BicepFile, from: number): string {
  const open = f.bare.indexOf('{', f.bare.indexOf('=', from));
  let depth = 0;
  for (let k = open; k < f.bare.length; k++) {
    if (f.bare[k] === '{') depth++;
    if (f.bare[k] === '}' && --depth === 0) return f.code.slice(open + 1, k);
  }
  throw new Error(`unbalanced braces in ${f.rel} at ${from}`);
}

interface Decl {
  symbol: string;
  target: string;
  body: string;
  existing: boolean;
}

function resources(f: BicepFile): Decl[] {
  return [...f.code.matchAll(/^\s*resource\s+(\w+)\s+'([^']+)'\s*(existing)?/gm)].map((m) => ({
    symbol: m[1]!,
    target: m[2]!,
    existing: m[3] === 'existing',
    body: blockAt(f, m.index),
  }));
}

function modules(f: BicepFile): Decl[] {
  return [...f.code.matchAll(/^\s*module\s+(\w+)\s+'([^']+)'/gm)].map((m) => ({
    symbol: m[1]!,
    target: m[2]!,
    existing: false,
    body: blockAt(f, m.index),
  }));
}

/** Keys at the top level of an object body. */
function topLevelKeys(body: string): string[] {
  const { bare } = scan(body);
  let depth = 0;
  let line = '';
  const keys: string[] = [];
  for (const c of bare + '\n') {
    if (c === '\n') {
      const m = depth === 0 ? /^\s*(\w+)\s*:/.exec(line) : null;
      if (m) keys.push(m[1]!);
      line = '';
      continue;
    }
    if (depth === 0) line += c;
    if ('{[('.includes(c)) depth++;
    if ('}])'.includes(c)) depth--;
  }
  return keys;
}

/** The object literal (or other value) assigned to `key` inside `body`. */
function valueOf(body: string, key: string): string {
  const m = new RegExp(`^\\s*${key}\\s*:\\s*`, 'm').exec(body);
  if (!m) throw new Error(`no ${key}: in block`);
  const start = m.index + m[0].length;
  const { bare } = scan(body.slice(start));
  let depth = 0;
  for (let k = 0; k < bare.length; k++) {
    const c = bare[k]!;
    if ('{[('.includes(c)) depth++;
    if ('}])'.includes(c)) depth--;
    if (depth === 0 && c === '\n') return body.slice(start, start + k + 1).trim();
  }
  return body.slice(start).trim();
}

/** Identifier used somewhere other than its declaration, an object key, or after a dot. */
function uses(f: BicepFile, name: string): number {
  // `for x in name:` reads name although a colon follows it.
  return [...f.bare.matchAll(new RegExp(`(?<![.\\w])${name}\\b(?!\\s*:)|(?<=\\bin\\s+)${name}\\b`, 'g'))]
    .length;
}

function guidLines(f: BicepFile): { guid: string; line: string }[] {
  return f.raw.split('\n').flatMap((line) =>
    [...line.matchAll(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi)].map((m) => ({
      guid: m[0].toLowerCase(),
      line,
    })),
  );
}

// Built-in Azure role definition ids (identical in every tenant).
const ROLE_IDS: Record<string, string> = {
  'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  'Storage Blob Data Contributor': 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  'Storage Queue Data Contributor': '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  'Storage Table Data Contributor': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  'Key Vault Secrets Officer': 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  'Communication and Email Service Owner': '09976791-48a7-449e-bb21-39d1a415f350',
  'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb',
};
const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const AZURE_CLI_APP_ID = '04b07795-8ddb-461a-bbee-02f9e1bf7b46';

describe('Bicep files are well formed', () => {
  it('finds the templates', () => {
    expect(files.map((f) => f.rel).sort()).toEqual(
      expect.arrayContaining([
        'main.bicep',
        'resources.bicep',
        'modules/storage.bicep',
        'modules/functionapp.bicep',
        'modules/keyvault.bicep',
        'modules/email.bicep',
        'modules/monitoring.bicep',
        'modules/role-assignments.bicep',
        'modules/graph-permissions.bicep',
        'modules/package-storage.bicep',
        'modules/alerts.bicep',
        'modules/api-app.bicep',
        'examples/enroll-app.bicep',
      ]),
    );
  });

  it('the scanner keeps code and blanked text aligned and ignores comments and strings', () => {
    const s = scan("var a = 'x // y ${b ? 'c' : 'd'}' // param z\n/* { */ var e = '''\n{'''");
    expect(s.code.length).toBe(s.bare.length);
    expect(s.code).not.toContain('param z');
    expect(s.bare).toContain('${b ?');
    expect(s.bare).not.toContain('x // y');
    expect(s.bare).not.toContain('{\n');
    for (const f of files) expect(f.code.length, f.rel).toBe(f.bare.length);
  });

  it('braces, brackets and parentheses balance in every file', () => {
    for (const f of files) {
      for (const [o, c] of ['{}', '[]', '()']) {
        expect(f.bare.split(o!).length, `${f.rel} ${o}${c}`).toBe(f.bare.split(c!).length);
      }
    }
  });

  it('every declared parameter and variable is used', () => {
    for (const f of files) {
      for (const p of params(f)) expect(uses(f, p.name), `${f.rel}: param ${p.name}`).toBeGreaterThan(1);
      for (const m of f.code.matchAll(/^var\s+(\w+)\s*=/gm)) {
        expect(uses(f, m[1]!), `${f.rel}: var ${m[1]}`).toBeGreaterThan(1);
      }
    }
  });

  it('every module exists, receives only its declared parameters and all its required ones', () => {
    for (const f of files) {
      for (const mod of modules(f)) {
        const targetPath = resolve(dirname(join(infraDir, f.rel)), mod.target);
        expect(existsSync(targetPath), `${f.rel} -> ${mod.target}`).toBe(true);
        const target = load(targetPath);
        const declared = params(target);
        const passed = topLevelKeys(valueOf(mod.body, 'params').replace(/^\{|\}$/g, ''));
        const names = declared.map((p) => p.name);
        for (const key of passed) expect(names, `${f.rel}: ${mod.symbol} passes ${key}`).toContain(key);
        for (const p of declared.filter((d) => d.defaultValue === undefined)) {
          expect(passed, `${f.rel}: ${mod.symbol} misses required ${p.name}`).toContain(p.name);
        }
        // Every output read from the module exists in it.
        const outputs = [...target.code.matchAll(/^output\s+(\w+)\s/gm)].map((m) => m[1]);
        for (const m of f.bare.matchAll(new RegExp(`\\b${mod.symbol}!?\\.outputs\\.(\\w+)`, 'g'))) {
          expect(outputs, `${f.rel}: ${mod.symbol}.outputs.${m[1]}`).toContain(m[1]);
        }
      }
    }
  });

  it('every resource type pins a stable API version', () => {
    const all = files.flatMap((f) => resources(f).map((r) => ({ ...r, rel: f.rel })));
    expect(all.length).toBeGreaterThan(15);
    for (const r of all) {
      const [type, version] = r.target.split('@');
      expect(type, r.symbol).toMatch(/^Microsoft\.\w+\/[\w/]+$/);
      // Diagnostic settings have no newer non-preview version; 2021-05-01-preview is the one in use everywhere.
      if (type === 'Microsoft.Insights/diagnosticSettings') expect(version).toBe('2021-05-01-preview');
      else expect(version, `${r.rel}: ${r.target}`).toMatch(/^(\d{4}-\d{2}-\d{2}|v1\.0)$/);
    }
  });

  it('Graph resources come from the GA Graph extension, declared where they are used', () => {
    const config = JSON.parse(readFileSync(join(infraDir, 'bicepconfig.json'), 'utf8')) as {
      extensions: Record<string, string>;
    };
    expect(config.extensions.microsoftGraphV1).toBe(
      'br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0',
    );
    for (const f of files) {
      const usesGraph = resources(f).some((r) => r.target.startsWith('Microsoft.Graph/'));
      expect(/^extension\s+microsoftGraphV1\s*$/m.test(f.code), f.rel).toBe(usesGraph);
    }
  });
});

describe('least privilege', () => {
  const roles = file('modules/role-assignments.bicep');
  const guidVar = (name: string) =>
    new RegExp(`^var\\s+${name}\\s*=\\s*'([0-9a-f-]{36})'`, 'm').exec(roles.code)?.[1];

  it('every GUID is a known role id named on its line, or the Graph appId', () => {
    const known = new Map(Object.entries(ROLE_IDS).map(([name, id]) => [id, name]));
    for (const f of files) {
      for (const { guid, line } of guidLines(f)) {
        if (guid === GRAPH_APP_ID) {
          expect(line, f.rel).toMatch(/Microsoft Graph/);
          continue;
        }
        if (guid === AZURE_CLI_APP_ID) {
          expect(line, f.rel).toMatch(/Azure CLI/);
          continue;
        }
        expect(known.has(guid), `${f.rel}: unknown GUID ${guid}`).toBe(true);
        expect(line, `${f.rel}: ${guid}`).toContain(known.get(guid));
      }
    }
  });

  it('assigns exactly the roles the app needs, each on its own resource, to the rotator only', () => {
    const decls = resources(roles);
    const existing = new Map(decls.filter((d) => d.existing).map((d) => [d.symbol, d.target.split('@')[0]]));
    const assigned = decls
      .filter((d) => d.target.startsWith('Microsoft.Authorization/roleAssignments@'))
      .map((d) => {
        expect(d.body, d.symbol).toMatch(/^\s*principalId:\s*principalId\s*$/m);
        expect(d.body, d.symbol).toMatch(/^\s*principalType:\s*'ServicePrincipal'\s*$/m);
        const scope = /^\s*scope:\s*(\w+)\s*$/m.exec(d.body)?.[1];
        const def = valueOf(d.body, 'roleDefinitionId');
        const direct = /subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions',\s*(\w+)\)/.exec(
          def,
        );
        return { scopeType: existing.get(scope ?? ''), def: direct ? guidVar(direct[1]!) : def };
      });
    expect(assigned).toEqual(
      expect.arrayContaining([
        { scopeType: 'Microsoft.Storage/storageAccounts', def: ROLE_IDS['Storage Blob Data Owner'] },
        { scopeType: 'Microsoft.Storage/storageAccounts', def: ROLE_IDS['Storage Queue Data Contributor'] },
        { scopeType: 'Microsoft.Storage/storageAccounts', def: ROLE_IDS['Storage Table Data Contributor'] },
        { scopeType: 'Microsoft.KeyVault/vaults', def: 'vaultRoleDefinitionId' },
        { scopeType: 'Microsoft.Insights/components', def: ROLE_IDS['Monitoring Metrics Publisher'] },
        { scopeType: 'Microsoft.Communication/communicationServices', def: 'emailRoleDefinitionId' },
      ]),
    );
    expect(assigned).toHaveLength(6);
  });

  it('mail is sent with a custom role limited to the documented actions, or the built-in ACS role', () => {
    const emailVar = /^var\s+emailRoleDefinitionId\s*=([\s\S]*?)\n\n/m.exec(roles.code)?.[1] ?? '';
    expect(emailVar).toMatch(
      /useCustomRoles\s*\?\s*emailSenderRole\.id\s*:\s*subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions',\s*communicationAndEmailServiceOwner\)/,
    );
    expect(guidVar('communicationAndEmailServiceOwner')).toBe(
      ROLE_IDS['Communication and Email Service Owner'],
    );
    const custom = resources(roles).find((r) => r.symbol === 'emailSenderRole')!;
    const actions = [...valueOf(custom.body, 'permissions').matchAll(/'(Microsoft\.[^']+)'/g)].map(
      (m) => m[1],
    );
    expect(actions.sort()).toEqual([
      'Microsoft.Communication/CommunicationServices/Read',
      'Microsoft.Communication/CommunicationServices/Write',
      'Microsoft.Communication/EmailServices/write',
    ]);
    expect(custom.body).toMatch(/assignableScopes:\s*\[resourceGroup\(\)\.id\]/);
  });

  const graph = file('modules/graph-permissions.bicep');
  /** Evaluates `var graphAppRoles = [...]` for one rotation scope. */
  function graphRolesFor(scope: 'owned' | 'tagged'): string[] {
    const list = /^var\s+graphAppRoles\s*=\s*\[([\s\S]*?)^\]/m.exec(graph.code)?.[1] ?? '';
    return list
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((item) => {
        const ternary = /^rotationScope\s*==\s*'(\w+)'\s*\?\s*'([^']+)'\s*:\s*'([^']+)'$/.exec(item);
        if (ternary) return scope === ternary[1] ? ternary[2]! : ternary[3]!;
        const literal = /^'([^']+)'$/.exec(item);
        if (!literal) throw new Error(`cannot evaluate graph role item: ${item}`);
        return literal[1]!;
      });
  }

  it('Graph app roles: OwnedBy + User.ReadBasic.All, Application.ReadWrite.All only for tagged scope', () => {
    expect(graphRolesFor('owned').sort()).toEqual(['Application.ReadWrite.OwnedBy', 'User.ReadBasic.All']);
    expect(graphRolesFor('tagged').sort()).toEqual(['Application.ReadWrite.All', 'User.ReadBasic.All']);
    // No other Graph permission name appears in the deployed templates (Rotation.* are the API's own roles).
    const names = deployed.flatMap((f) =>
      [...f.code.matchAll(/'([A-Z]\w+\.[A-Z]\w+(?:\.[A-Z]\w+)*)'/g)]
        .map((m) => m[1])
        .filter((n) => !n!.startsWith('Rotation.')),
    );
    expect([...new Set(names)].sort()).toEqual([
      'Application.ReadWrite.All',
      'Application.ReadWrite.OwnedBy',
      'User.ReadBasic.All',
    ]);
  });

  it('the grants loop over those roles, looked up by value on the Graph service principal', () => {
    const decls = resources(graph);
    const sp = decls.find((d) => d.target === 'Microsoft.Graph/servicePrincipals@v1.0' && d.existing)!;
    expect(sp.body).toContain(`appId: '${GRAPH_APP_ID}'`);
    const grants = decls.filter((d) => d.target === 'Microsoft.Graph/appRoleAssignedTo@v1.0');
    expect(grants).toHaveLength(1);
    expect(graph.code).toMatch(
      /'Microsoft\.Graph\/appRoleAssignedTo@v1\.0'\s*=\s*\[\s*for\s+(\w+)\s+in\s+graphAppRoles\s*:/,
    );
    const body = grants[0]!.body;
    expect(body).toMatch(/^\s*principalId:\s*principalId\s*$/m);
    expect(body).toMatch(new RegExp(`^\\s*resourceId:\\s*${sp.symbol}\\.id\\s*$`, 'm'));
    expect(body).toMatch(
      new RegExp(
        `appRoleId:\\s*filter\\(${sp.symbol}\\.appRoles,\\s*(\\w+)\\s*=>\\s*\\1\\.value\\s*==\\s*role\\)\\[0\\]\\.id`,
      ),
    );
  });

  it('the rotator identity gets the Graph roles and the RBAC roles (same principal)', () => {
    const r = file('resources.bicep');
    const roleMod = modules(r).find((m) => m.target === 'modules/role-assignments.bicep')!;
    const graphMod = modules(r).find((m) => m.target === 'modules/graph-permissions.bicep')!;
    expect(roleMod.body).toMatch(/^\s*principalId:\s*principalId\s*$/m);
    expect(graphMod.body).toMatch(/^\s*principalId:\s*principalId\s*$/m);
    expect(graphMod.body).toMatch(/^\s*rotationScope:\s*rotationScope\s*$/m);
    expect(r.code).toMatch(
      /^var\s+principalId\s*=\s*useUserAssigned\s*\?\s*userIdentity!\.properties\.principalId\s*:\s*functionApp\.outputs\.systemPrincipalId$/m,
    );
  });
});

describe('no secrets leave the deployment', () => {
  it('no list*() calls, keys, or connection strings with keys', () => {
    for (const f of files) {
      expect(f.bare, f.rel).not.toMatch(/\blist[A-Z]\w*\s*\(/);
      expect(f.code, f.rel).not.toMatch(
        /AccountKey=|accesskey=|SharedAccessSignature|primaryKey|secondaryKey/i,
      );
      expect(f.code, f.rel).not.toMatch(/ACS_CONNECTION_STRING|^\s*AzureWebJobsStorage\s*:/m);
    }
  });

  it('no secure or secret-looking outputs', () => {
    for (const f of files) {
      const lines = f.code.split('\n');
      lines.forEach((line, k) => {
        if (!/^output\s/.test(line)) return;
        expect(lines[k - 1] ?? '', `${f.rel}: ${line}`).not.toMatch(/@secure\(\)/);
        expect(line, f.rel).not.toMatch(
          /^output\s+\w*(secret|password|connection|accesskey|apikey|instrumentation)/i,
        );
        expect(line, f.rel).not.toMatch(/ConnectionString|\.keys\b|secretText/i);
      });
    }
  });

  it('no @secure() parameter is needed (the deployment takes no secret input)', () => {
    for (const f of files) expect(f.code, f.rel).not.toMatch(/@secure\(\)/);
  });
});

describe('hardening', () => {
  const res = (rel: string, type: string) => {
    const r = resources(file(rel)).find((d) => d.target.startsWith(`${type}@`) && !d.existing);
    if (!r) throw new Error(`${rel} declares no ${type}`);
    return r.body;
  };

  it('storage: no shared keys, no public blobs, TLS 1.2, and the containers, queues and table the app uses', () => {
    const body = res('modules/storage.bicep', 'Microsoft.Storage/storageAccounts');
    expect(body).toMatch(/allowSharedKeyAccess:\s*false/);
    expect(body).toMatch(/allowBlobPublicAccess:\s*false/);
    expect(body).toMatch(/minimumTlsVersion:\s*'TLS1_2'/);
    expect(body).toMatch(/supportsHttpsTrafficOnly:\s*true/);
    const storage = file('modules/storage.bicep').code;
    expect(storage).toMatch(/name:\s*'rotation-locks'/);
    expect(storage).toMatch(/\['rotation-work',\s*'rotation-work-poison'\]/);
    expect(storage).toMatch(/name:\s*'rotationruns'/);
  });

  it('Key Vault: RBAC, soft delete 90 days, purge protection', () => {
    const body = res('modules/keyvault.bicep', 'Microsoft.KeyVault/vaults');
    expect(body).toMatch(/enableRbacAuthorization:\s*true/);
    expect(body).toMatch(/enableSoftDelete:\s*true/);
    expect(body).toMatch(/softDeleteRetentionInDays:\s*90/);
    expect(body).toMatch(/enablePurgeProtection:\s*true/);
    expect(body).not.toMatch(/accessPolicies/);
  });

  it('Function App: Flex Consumption FC1, Linux, Node 22, identity-based deployment storage, HTTPS only', () => {
    const plan = res('modules/functionapp.bicep', 'Microsoft.Web/serverfarms');
    expect(plan).toMatch(/name:\s*'FC1'/);
    expect(plan).toMatch(/tier:\s*'FlexConsumption'/);
    expect(plan).toMatch(/reserved:\s*true/);
    const site = res('modules/functionapp.bicep', 'Microsoft.Web/sites');
    expect(site).toMatch(/kind:\s*'functionapp,linux'/);
    expect(site).toMatch(/httpsOnly:\s*true/);
    expect(site).toMatch(/minTlsVersion:\s*'1\.2'/);
    expect(site).toMatch(/ftpsState:\s*'Disabled'/);
    expect(site).toMatch(/type:\s*'blobContainer'/);
    expect(site).toMatch(/runtime:\s*\{\s*name:\s*'node'\s*version:\s*'22'\s*\}/);
    expect(site).not.toMatch(/FUNCTIONS_WORKER_RUNTIME|WEBSITE_RUN_FROM_PACKAGE|linuxFxVersion/);
  });

  it('system-assigned identity by default, user-assigned as an option', () => {
    for (const rel of ['main.bicep', 'resources.bicep']) {
      const p = params(file(rel)).find((x) => x.name === 'identityType')!;
      expect(p.defaultValue, rel).toBe("'SystemAssigned'");
      expect(p.decorators, rel).toMatch(/@allowed\(\['SystemAssigned', 'UserAssigned'\]\)/);
    }
  });

  it('Application Insights takes telemetry only from the identity', () => {
    expect(res('modules/monitoring.bicep', 'Microsoft.Insights/components')).toMatch(
      /DisableLocalAuth:\s*true/,
    );
    const fa = file('modules/functionapp.bicep').code;
    expect(fa).toMatch(/APPLICATIONINSIGHTS_AUTHENTICATION_STRING:/);
    expect(fa).toMatch(/'ClientId=\$\{userAssignedClientId\};Authorization=AAD'/);
  });
});

describe('contract settings (contract.md §1)', () => {
  // Setting names come from src/settings.ts (every setting parsed in one place), plus contract.md §1
  // when the shared contract is reachable (it lives outside the repository).
  const settingsTs = readFileSync(join(root, 'src', 'settings.ts'), 'utf8');
  const fromCode = [...settingsTs.matchAll(/\(env,\s*'([A-Za-z_]+)'/g)].map((m) => m[1]!);
  const contractPath = join(root, '..', 'shared', 'contract.md');
  const contract = existsSync(contractPath) ? readFileSync(contractPath, 'utf8') : '';
  const section = contract.slice(contract.indexOf('## 1.'), contract.indexOf('## 2.'));
  const fromContract = section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .flatMap((l) => [...l.split('|')[1]!.matchAll(/`([A-Za-z_]+)`/g)].map((m) => m[1]!));
  const settings = [...new Set([...fromCode, ...fromContract])];

  // Deployed: set as app settings by the templates.
  const DEPLOYED = [
    'KEY_VAULT_URL',
    'ROTATION_SCOPE',
    'ROTATION_TAG',
    'RENEW_BEFORE_DAYS',
    'SECRET_LIFETIME_DAYS',
    'RETIRE_AFTER_DAYS',
    'VERIFY_TIMEOUT_SECONDS',
    'ACS_ENDPOINT',
    'EMAIL_SENDER',
    'NOTIFY_ALSO',
    'REMIND_UNMANAGED',
    'ROTATION_SCHEDULE',
    'API_AUDIENCE',
    'AZURE_CLIENT_ID',
    'AzureWebJobsStorage__accountName',
    'AzureWebJobsStorage__credential',
    'AzureWebJobsStorage__clientId',
  ];
  // Not deployed, and why.
  const NOT_DEPLOYED: Record<string, string> = {
    GRAPH_ENDPOINT: 'default is right: Graph Bicep (the grants) only deploys to the public cloud',
    AZURE_AUTHORITY_HOST: 'default is right in the public cloud',
    AZURE_TENANT_ID: 'defaults to the managed identity token tenant, which is this tenant',
    AZURE_CLIENT_SECRET: 'no secret: the app uses its managed identity',
    IDENTITY_ENDPOINT: 'set by the platform',
    IDENTITY_HEADER: 'set by the platform',
    ACS_CONNECTION_STRING: 'holds an access key; ACS_ENDPOINT with the identity is used instead',
    AzureWebJobsStorage:
      'identity-based AzureWebJobsStorage__* settings instead of a key-bearing connection string',
    KEY_VAULT_DISABLE_CHALLENGE_VERIFICATION: 'only for custom vault domains and the simulator',
    AzureWebJobsStorage__blobServiceUri: 'derived from __accountName in the public cloud',
    ROTATION_CONCURRENCY: 'tuning outside the contract; the default fits',
    LOCK_WAIT_SECONDS: 'tuning outside the contract; the default fits',
    ROTATION_INLINE_MAX: 'tuning outside the contract; the default fits',
    HTTP_TIME_BUDGET_SECONDS: 'tuning outside the contract; the default fits',
    FORCE_MIN_INTERVAL_MINUTES: 'the default (60) fits',
    NOTIFY_ALLOWED_DOMAINS: "the default (NOTIFY_ALSO and owners' domains) fits",
    ALLOW_CUSTOM_ENDPOINTS: 'only for proxies and the simulated cloud',
    GRAPH_WRITE_BUDGET: "the default is Graph's documented write budget (3,000 per 150 s per app and tenant)",
    GRAPH_WRITE_WINDOW_SECONDS: "the default is Graph's documented write window (150 s)",
  };

  it('reads the setting names', () => {
    expect(fromCode.length).toBeGreaterThan(15);
    if (contract) expect(fromContract.length).toBeGreaterThan(15);
  });

  it('every contract setting is deployed or deliberately left to its default', () => {
    for (const s of settings) {
      expect(DEPLOYED.includes(s) || s in NOT_DEPLOYED, `classify new setting ${s}`).toBe(true);
    }
  });

  it('every deployed setting is an app setting key in the templates', () => {
    const keys = new Set(
      [file('resources.bicep'), file('modules/functionapp.bicep')].flatMap((f) =>
        [...f.bare.matchAll(/(?:^|[{,])\s*(\w+)\s*:/gm)].map((m) => m[1]!),
      ),
    );
    for (const s of DEPLOYED) expect(keys, s).toContain(s);
  });

  it('AZURE_CLIENT_ID is set only for a user-assigned identity', () => {
    expect(file('modules/functionapp.bicep').code).toMatch(
      /var identitySettings = userAssigned \? \{ AZURE_CLIENT_ID: userAssignedClientId \} : \{\}/,
    );
  });

  it('parameter defaults and bounds match the contract', () => {
    const expected: Record<string, { def: string; min?: number; max?: number }> = {
      rotationScope: { def: "'owned'" },
      rotationTag: { def: "''" },
      renewBeforeDays: { def: '30', min: 1, max: 365 },
      secretLifetimeDays: { def: '180', min: 1, max: 730 },
      retireAfterDays: { def: '7', min: 1, max: 365 },
      verifyTimeoutSeconds: { def: '300', min: 1, max: 3600 },
      notifyAlso: { def: "''" },
      remindUnmanaged: { def: 'false' },
      rotationSchedule: { def: "'0 0 3 * * *'" },
    };
    for (const rel of ['main.bicep', 'resources.bicep']) {
      const ps = new Map(params(file(rel)).map((p) => [p.name, p]));
      for (const [name, want] of Object.entries(expected)) {
        const p = ps.get(name);
        expect(p, `${rel}: ${name}`).toBeDefined();
        expect(p!.defaultValue, `${rel}: ${name}`).toBe(want.def);
        if (want.min !== undefined)
          expect(p!.decorators, `${rel}: ${name}`).toContain(`@minValue(${want.min})`);
        if (want.max !== undefined)
          expect(p!.decorators, `${rel}: ${name}`).toContain(`@maxValue(${want.max})`);
      }
    }
  });

  it('main.bicep forwards every parameter to resources.bicep unchanged', () => {
    const main = file('main.bicep');
    const mod = modules(main).find((m) => m.target === 'resources.bicep')!;
    const forwarded = valueOf(mod.body, 'params');
    const resParams = params(file('resources.bicep')).map((p) => p.name);
    for (const p of params(main)) {
      if (!resParams.includes(p.name)) continue;
      expect(forwarded, p.name).toMatch(new RegExp(`^\\s*${p.name}:\\s*${p.name}\\s*$`, 'm'));
    }
  });
});

describe('least authority and deployment traps (issues 13 §6, 14 §3–5)', () => {
  const res = (rel: string, type: string) =>
    resources(file(rel)).filter((d) => d.target.startsWith(`${type}@`) && !d.existing);
  const one = (rel: string, type: string) => {
    const r = res(rel, type);
    expect(r, `${rel}: ${type}`).toHaveLength(1);
    return r[0]!;
  };
  const roles = file('modules/role-assignments.bicep');
  const resourcesBicep = file('resources.bicep');
  const mainBicep = file('main.bicep');

  it('the deployment package is in its own account, writable only by the deployment identity, on its container', () => {
    expect(file('modules/storage.bicep').code).not.toMatch(/app-package|deploymentContainer/);
    const pkg = file('modules/package-storage.bicep');
    const writers = res('modules/package-storage.bicep', 'Microsoft.Authorization/roleAssignments');
    expect(writers).toHaveLength(1);
    expect(writers[0]!.body).toMatch(/^\s*scope:\s*container\s*$/m);
    expect(writers[0]!.body).toMatch(/principalId:\s*deploymentPrincipalId/);
    expect(pkg.code).toMatch(/var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'/);
    expect(one('modules/package-storage.bicep', 'Microsoft.Storage/storageAccounts').body).toMatch(
      /allowSharedKeyAccess:\s*false/,
    );
    // The rotator's identity has no role on the package account; the site reads the package as the deployment identity.
    expect(roles.code).not.toMatch(/package/i);
    const site = one('modules/functionapp.bicep', 'Microsoft.Web/sites').body;
    expect(site).toMatch(
      /authentication:\s*\{\s*type:\s*'UserAssignedIdentity'\s*userAssignedIdentityResourceId:\s*deploymentIdentityId\s*\}/,
    );
    const fa = modules(resourcesBicep).find((m) => m.target === 'modules/functionapp.bicep')!;
    expect(fa.body).toMatch(/deploymentContainerUrl:\s*packageStorage\.outputs\.containerUrl/);
    expect(fa.body).toMatch(/deploymentIdentityId:\s*deploymentIdentity\.id/);
    // The rotator's own credential stays the system-assigned identity unless AZURE_CLIENT_ID names another.
    expect(site).toMatch(/type:\s*'SystemAssigned, UserAssigned'/);
  });

  it('Key Vault: a custom role with exactly the data actions the code needs, at the vault, by default', () => {
    const actions = /^var\s+secretWriterDataActions\s*=\s*\[([\s\S]*?)^\]/m.exec(roles.code)?.[1] ?? '';
    expect([...actions.matchAll(/'([^']+)'/g)].map((m) => m[1]).sort()).toEqual([
      'Microsoft.KeyVault/vaults/secrets/getSecret/action',
      'Microsoft.KeyVault/vaults/secrets/readMetadata/action',
      'Microsoft.KeyVault/vaults/secrets/setSecret/action',
      'Microsoft.KeyVault/vaults/secrets/update/action',
    ]);
    const def = resources(roles).find((r) => r.symbol === 'secretWriterRole')!;
    expect(def.body).toMatch(/actions:\s*\[\]/);
    expect(def.body).toMatch(/dataActions:\s*secretWriterDataActions/);
    expect(roles.code).toMatch(
      /var vaultRoleDefinitionId = useCustomRoles\s*\?\s*secretWriterRole\.id\s*:\s*subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions',\s*keyVaultSecretsOfficer\)/,
    );
    const assignment = resources(roles).find((r) => r.symbol === 'secretWriter')!;
    expect(assignment.body).toMatch(/^\s*scope:\s*vault\s*$/m);
    for (const f of [mainBicep, resourcesBicep]) {
      expect(params(f).find((p) => p.name === 'useCustomRoles')?.defaultValue, f.rel).toBe('true');
    }
  });

  it('custom role definitions: tenant-unique names, guid per subscription and group, assignable to the group only', () => {
    const defs = resources(roles).filter((r) =>
      r.target.startsWith('Microsoft.Authorization/roleDefinitions@'),
    );
    expect(defs.map((d) => d.symbol).sort()).toEqual(['emailSenderRole', 'secretWriterRole']);
    for (const d of defs) {
      expect(d.body, d.symbol).toMatch(
        /name:\s*guid\(resourceGroup\(\)\.id,\s*'entra-secret-rotator-[\w-]+'\)/,
      );
      // Role names are unique per tenant; a resource group name is not (same name in two subscriptions).
      expect(valueOf(d.body, 'roleName'), d.symbol).toContain('${resourceToken}');
      expect(valueOf(d.body, 'roleName'), d.symbol).not.toContain('resourceGroup().name');
      expect(d.body, d.symbol).toMatch(/assignableScopes:\s*\[resourceGroup\(\)\.id\]/);
      expect(d.body, d.symbol).toMatch(/type:\s*'CustomRole'/);
    }
    const mod = modules(resourcesBicep).find((m) => m.target === 'modules/role-assignments.bicep')!;
    expect(mod.body).toMatch(/resourceToken:\s*resourceToken/);
    // The deploying account needs roleDefinitions/write: the guide says which roles have it.
    expect(readFileSync(join(root, 'docs/deploy.md'), 'utf8')).toMatch(
      /Microsoft\.Authorization\/roleDefinitions\/write[\s\S]{0,200}Owner[\s\S]{0,100}User Access Administrator/,
    );
  });

  it('diagnostic settings: Key Vault AuditEvent and FunctionAppLogs to the workspace', () => {
    const kv = one('modules/keyvault.bicep', 'Microsoft.Insights/diagnosticSettings').body;
    expect(kv).toMatch(/scope:\s*vault/);
    expect(kv).toMatch(/workspaceId:\s*workspaceId/);
    expect(kv).toMatch(/category:\s*'AuditEvent',\s*enabled:\s*true/);
    const fa = one('modules/functionapp.bicep', 'Microsoft.Insights/diagnosticSettings').body;
    expect(fa).toMatch(/scope:\s*site/);
    expect(fa).toMatch(/category:\s*'FunctionAppLogs',\s*enabled:\s*true/);
    for (const target of ['modules/keyvault.bicep', 'modules/functionapp.bicep']) {
      const mod = modules(resourcesBicep).find((m) => m.target === target)!;
      expect(mod.body, target).toMatch(/workspaceId:\s*monitoring\.outputs\.workspaceId/);
    }
  });

  it('basic-auth publishing credentials are off for FTP and SCM', () => {
    const policy = one('modules/functionapp.bicep', 'Microsoft.Web/sites/basicPublishingCredentialsPolicies');
    expect(file('modules/functionapp.bicep').code).toMatch(
      /basicPublishingCredentialsPolicies@[\d-]+'\s*=\s*\[\s*for\s+policy\s+in\s+\['ftp',\s*'scm'\]\s*:/,
    );
    expect(policy.body).toMatch(/parent:\s*site/);
    expect(policy.body).toMatch(/properties:\s*\{\s*allow:\s*false\s*\}/);
  });

  it('the rotator API: app roles Read/Rotate/Force for users and apps, v2 tokens, SP requiring assignment, API_AUDIENCE', () => {
    const api = file('modules/api-app.bicep');
    expect(api.code).toMatch(/^extension\s+microsoftGraphV1\s*$/m);
    const app = one('modules/api-app.bicep', 'Microsoft.Graph/applications').body;
    expect(app).toMatch(/requestedAccessTokenVersion:\s*2/);
    // Graph refuses a pre-authorization naming a scope created in the same request (one request here).
    expect(app).not.toMatch(/preAuthorizedApplications/);
    expect(app).toMatch(/identifierUris:\s*\[identifierUri\]/);
    expect(api.code).toMatch(/var identifierUri = 'api:\/\/\$\{tenantId\}\/\$\{uniqueName\}'/);
    expect(app).toMatch(/allowedMemberTypes:\s*\['User',\s*'Application'\]/);
    expect(app).toMatch(/id:\s*guid\(tenantId,\s*uniqueName,\s*role\.value\)/);
    const values = [...api.code.matchAll(/value:\s*'(Rotation\.\w+)'/g)].map((m) => m[1]);
    expect(values).toEqual(['Rotation.Read', 'Rotation.Rotate', 'Rotation.Force']);
    const sp = one('modules/api-app.bicep', 'Microsoft.Graph/servicePrincipals').body;
    expect(sp).toMatch(/appId:\s*api\.appId/);
    expect(sp).toMatch(/appRoleAssignmentRequired:\s*true/);
    expect(resourcesBicep.code).toMatch(
      /API_AUDIENCE:\s*'\$\{apiApp\.outputs\.appId\},\$\{apiApp\.outputs\.identifierUri\}'/,
    );
  });

  it('alerts: an action group emailing the operators, a failures rule and a 26-hour silence rule on the rotation-run event', () => {
    const alerts = file('modules/alerts.bicep');
    const group = one('modules/alerts.bicep', 'Microsoft.Insights/actionGroups').body;
    expect(group).toMatch(/emailAddress:\s*address/);
    expect(alerts.code).toMatch(/split\(operatorEmails,\s*','\)/);
    const rules = res('modules/alerts.bicep', 'Microsoft.Insights/scheduledQueryRules');
    expect(rules.map((r) => r.symbol).sort()).toEqual(['failures', 'silence']);
    for (const r of rules) {
      expect(r.body, r.symbol).toMatch(/scopes:\s*\[appInsightsId\]/);
      expect(r.body, r.symbol).toMatch(/actionGroups:\s*\[operators\.id\]/);
      expect(r.body, r.symbol).toMatch(/enabled:\s*true/);
    }
    const failures = rules.find((r) => r.symbol === 'failures')!.body;
    expect(failures).toMatch(/loadTextContent\('\.\.\/alerts\/rotation-failures\.kql'\)/);
    expect(failures).toMatch(/operator:\s*'GreaterThan'\s*threshold:\s*0/);
    const silence = rules.find((r) => r.symbol === 'silence')!.body;
    expect(silence).toMatch(/loadTextContent\('\.\.\/alerts\/timer-silent\.kql'\)/);
    expect(silence).toMatch(/operator:\s*'LessThan'\s*threshold:\s*1/);
    expect(silence).toMatch(/datetime\(\$\{deployedAt\}\) \+ 26h/);

    const kql = (name: string) => readFileSync(join(infraDir, 'alerts', name), 'utf8');
    const silent = kql('timer-silent.kql');
    expect(silent).toMatch(/ago\(26h\)/);
    expect(silent).toContain(`tostring(e.event) == 'rotation-run'`);
    expect(silent).toMatch(/operation_Name == 'rotateTimer' and success == true/);
    const failed = kql('rotation-failures.kql');
    expect(failed).toMatch(/eventName == 'rotation-run' and toint\(e\.failed\) > 0/);
    for (const ev of ['rotation-run-failed', 'rotation-app-poisoned']) expect(failed).toContain(`'${ev}'`);
    expect(failed).toMatch(/eventName == 'rotation-app' and tostring\(e\.action\) == 'failed'/);
  });

  it('the alert queries match the events the functions log', () => {
    // Registrations in src/functions, the handlers they load on first run in src/functions/handlers.
    const src = (rel: string) => readFileSync(join(root, 'src', 'functions', 'handlers', rel), 'utf8');
    expect(src('rotateTimer.ts')).toMatch(/event: 'rotation-run',/);
    expect(src('rotateTimer.ts')).toMatch(/failed: s\.failed/);
    expect(src('rotateTimer.ts')).toMatch(/event: 'rotation-run-failed'/);
    expect(src('rotateWorker.ts')).toMatch(/event: 'rotation-app', runId, appId, action: report\.action/);
    expect(src('rotatePoison.ts')).toMatch(/event: 'rotation-app-poisoned'/);
    // The timer's summary carries no trigger field (HTTP runs log trigger 'http'): the silence query relies on it.
    const timerRun = /JSON\.stringify\(\{\s*event: 'rotation-run',([\s\S]*?)\}\)/.exec(
      src('rotateTimer.ts'),
    )?.[1];
    expect(timerRun).toBeDefined();
    expect(timerRun!).not.toMatch(/trigger:\s*'(?!timer')/);
  });

  it("operators' addresses are required, mapped from OPERATOR_EMAILS, and reach the alerts module", () => {
    for (const f of [mainBicep, resourcesBicep]) {
      const p = params(f).find((x) => x.name === 'operatorEmails');
      expect(p, f.rel).toBeDefined();
      expect(p!.defaultValue, f.rel).toBeUndefined();
    }
    const mod = modules(resourcesBicep).find((m) => m.target === 'modules/alerts.bicep')!;
    expect(mod.body).toMatch(/operatorEmails:\s*operatorEmails/);
    expect(mod.body).toMatch(/appInsightsId:\s*monitoring\.outputs\.appInsightsId/);
  });

  it('custom email domain: a CustomerManaged domain, linked only once verified, DNS records as an output', () => {
    const email = file('modules/email.bicep');
    const domains = res('modules/email.bicep', 'Microsoft.Communication/emailServices/domains');
    const custom = domains.find((d) => d.symbol === 'customEmailDomain')!;
    expect(email.code).toMatch(/resource customEmailDomain '[^']+' = if \(useCustomDomain\)/);
    expect(custom.body).toMatch(/domainManagement:\s*'CustomerManaged'/);
    expect(email.code).toMatch(
      /linkedDomains:\s*sendFromCustomDomain\s*\?\s*\[managedDomain\.id,\s*customEmailDomain\.id\]\s*:\s*\[managedDomain\.id\]/,
    );
    expect(email.code).toMatch(/var sendFromCustomDomain = useCustomDomain && customDomainVerified/);
    const sender = res(
      'modules/email.bicep',
      'Microsoft.Communication/emailServices/domains/senderUsernames',
    );
    expect(sender).toHaveLength(1);
    expect(sender[0]!.body).toMatch(/parent:\s*customEmailDomain/);
    expect(sender[0]!.body).toMatch(/username:\s*'DoNotReply'/);
    expect(email.code).toMatch(
      /sendFromCustomDomain\s*\?\s*'\$\{customSender!\.properties\.username\}@\$\{customEmailDomain!\.properties\.mailFromSenderDomain\}'/,
    );
    expect(email.code).toMatch(
      /output customDomainDnsRecords object = useCustomDomain \? customEmailDomain!\.properties\.verificationRecords : \{\}/,
    );
    expect(mainBicep.code).toMatch(
      /^output EMAIL_DNS_RECORDS object = resources\.outputs\.emailDnsRecords$/m,
    );
    for (const f of [mainBicep, resourcesBicep]) {
      expect(params(f).find((p) => p.name === 'customEmailDomain')?.defaultValue, f.rel).toBe("''");
      expect(params(f).find((p) => p.name === 'customEmailDomainVerified')?.defaultValue, f.rel).toBe(
        'false',
      );
    }
  });

  it('Key Vault name salt: appended to the vault name, empty by default (existing vaults keep their name)', () => {
    for (const f of [mainBicep, resourcesBicep]) {
      const p = params(f).find((x) => x.name === 'keyVaultNameSalt')!;
      expect(p.defaultValue, f.rel).toBe("''");
      // kv- (3) + resource token (13) + - (1) + salt: at most 24 characters.
      expect(p.decorators, f.rel).toContain('@maxLength(7)');
    }
    expect(resourcesBicep.code).toMatch(
      /var keyVaultName = empty\(keyVaultNameSalt\) \? 'kv-\$\{resourceToken\}' : 'kv-\$\{resourceToken\}-\$\{keyVaultNameSalt\}'/,
    );
    const vault = modules(resourcesBicep).find((m) => m.target === 'modules/keyvault.bicep')!;
    expect(vault.body).toMatch(/name:\s*keyVaultName/);
  });

  it('rotationScope=tagged without a tag stops the deployment; the app setting uses the checked value', () => {
    expect(resourcesBicep.code).toMatch(
      /var checkedRotationTag = rotationScope == 'tagged' && empty\(rotationTag\)\s*\?\s*fail\('rotationScope=tagged needs rotationTag[^']*'\)\s*:\s*rotationTag/,
    );
    expect(resourcesBicep.code).toMatch(
      /empty\(checkedRotationTag\) \? \{\} : \{ ROTATION_TAG: checkedRotationTag \}/,
    );
  });

  it('the Graph grant comes last, after every other module (msgraph-bicep-types#193)', () => {
    const graph = modules(resourcesBicep).find((m) => m.target === 'modules/graph-permissions.bicep')!;
    expect(graph.body).toMatch(/dependsOn:\s*\[roles,\s*alerts,\s*vault,\s*email\]/);
  });

  it("enroll-app.bicep leaves the app's tags alone and creates its service principal", () => {
    const enroll = file('examples/enroll-app.bicep');
    const app = one('examples/enroll-app.bicep', 'Microsoft.Graph/applications').body;
    expect(topLevelKeys(app)).not.toContain('tags');
    expect(enroll.code).not.toMatch(/tags/);
    expect(app).toMatch(/relationshipSemantics:\s*'append'/);
    const sp = one('examples/enroll-app.bicep', 'Microsoft.Graph/servicePrincipals').body;
    expect(sp).toMatch(/^\s*appId:\s*app\.appId\s*$/m);
  });
});
