// Hosts of the Azure clouds the rotator may send tokens and secrets to (public, US Government, China), so that a
// setting cannot point it at someone else's server. Sources: learn.microsoft.com/graph/deployments (Entra and
// Graph hosts), the Key Vault DNS suffixes of the Azure SDKs' cloud environments, and ACS endpoints
// (<name>.communication.azure.com / .azure.us / .azure.cn).

export type EndpointKind = 'authority' | 'graph' | 'keyVault' | 'acs';

interface KnownHosts {
  exact: readonly string[];
  /** `*.suffix`: any single resource name in front of it (the vault or ACS resource name). */
  suffixes: readonly string[];
}

const KNOWN: Record<EndpointKind, KnownHosts> = {
  authority: {
    exact: [
      'login.microsoftonline.com',
      'login.windows.net', // the public cloud's older alias
      'login.microsoftonline.us',
      'login.chinacloudapi.cn',
      'login.partner.microsoftonline.cn',
    ],
    suffixes: [],
  },
  graph: {
    exact: [
      'graph.microsoft.com',
      'graph.microsoft.us',
      'dod-graph.microsoft.us',
      'microsoftgraph.chinacloudapi.cn',
    ],
    suffixes: [],
  },
  keyVault: { exact: [], suffixes: ['.vault.azure.net', '.vault.usgovcloudapi.net', '.vault.azure.cn'] },
  acs: {
    exact: [],
    suffixes: ['.communication.azure.com', '.communication.azure.us', '.communication.azure.cn'],
  },
};

/** Whether `url`'s host is one of Azure's for this kind of endpoint (https only; no port other than 443). */
export function isKnownAzureHost(kind: EndpointKind, url: string): boolean {
  const u = new URL(url);
  if (u.protocol !== 'https:' || u.port !== '') return false;
  const host = u.hostname.toLowerCase();
  const known = KNOWN[kind];
  if (known.exact.includes(host)) return true;
  return known.suffixes.some((s) => {
    const name = host.slice(0, -s.length);
    return host.endsWith(s) && /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(name);
  });
}

/** The hosts accepted for a kind, for the message that refuses another one. */
export function knownHostsText(kind: EndpointKind): string {
  const k = KNOWN[kind];
  return [...k.exact, ...k.suffixes.map((s) => `<name>${s}`)].join(', ');
}
