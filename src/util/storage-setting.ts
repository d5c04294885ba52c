// AzureWebJobsStorage: a connection string, or identity-based access through the account's service URIs.
import { fail, read, type Env } from './setting-parsers.js';

/** AzureWebJobsStorage as a connection string, or the account's blob/queue/table URIs for identity-based access. */
export type StorageSettings =
  | { kind: 'connectionString'; connectionString: string }
  | {
      kind: 'identity';
      blobServiceUri: string;
      queueServiceUri: string;
      tableServiceUri: string;
      clientId?: string;
    };

export function storageSetting(env: Env): StorageSettings | undefined {
  const conn = read(env, 'AzureWebJobsStorage');
  if (conn !== undefined) {
    if (
      conn === 'UseDevelopmentStorage=true' ||
      /AccountName=|BlobEndpoint=|SharedAccessSignature=/i.test(conn)
    ) {
      return { kind: 'connectionString', connectionString: conn };
    }
    return fail(
      'AzureWebJobsStorage',
      undefined,
      'not a storage connection string',
      'Use a connection string (AccountName=…;AccountKey=… or UseDevelopmentStorage=true), or identity-based settings AzureWebJobsStorage__accountName.',
    );
  }
  const account = read(env, 'AzureWebJobsStorage__accountName');
  const blob = read(env, 'AzureWebJobsStorage__blobServiceUri');
  if (account === undefined && blob === undefined) return undefined;
  const base = (svc: string) => {
    const explicit = read(env, `AzureWebJobsStorage__${svc}ServiceUri`);
    if (explicit) return explicit.replace(/\/+$/, '');
    if (!account) {
      return fail(
        `AzureWebJobsStorage__${svc}ServiceUri`,
        undefined,
        'missing',
        'Set AzureWebJobsStorage__accountName, or all of the blob, queue and table service URIs.',
      );
    }
    if (!/^[a-z0-9]{3,24}$/.test(account)) {
      fail(
        'AzureWebJobsStorage__accountName',
        account,
        'not a storage account name',
        'Use 3-24 lowercase letters and digits.',
      );
    }
    return `https://${account}.${svc}.core.windows.net`;
  };
  return {
    kind: 'identity',
    blobServiceUri: base('blob'),
    queueServiceUri: base('queue'),
    tableServiceUri: base('table'),
    clientId: read(env, 'AzureWebJobsStorage__clientId'),
  };
}
