// Access tokens of the simulated Entra ID: JWTs signed with a key made at start, validated by every
// simulated service (signature, expiry, audience) the way the real resource servers do.
import {
  SignJWT,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  type JWK,
  type JWTPayload,
  type CryptoKey,
} from 'jose';
import { randomUUID } from 'node:crypto';
import { SimHttpError, type SimRequest } from './http.js';

export interface AccessClaims extends JWTPayload {
  aud: string;
  tid: string;
  oid: string;
  appid: string;
  roles?: string[];
  idtyp?: 'app';
}

export class TokenIssuer {
  private constructor(
    private readonly privateKey: CryptoKey,
    readonly jwk: JWK,
    readonly kid: string,
    /** Issuer claim prefix; the authority origin (set once the authority is listening). */
    public issuerOrigin: string,
  ) {}

  static async create(): Promise<TokenIssuer> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = randomUUID();
    const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
    return new TokenIssuer(privateKey, jwk, kid, 'https://sts.windows.net');
  }

  /** Lifetime in seconds; real Entra app tokens live 60-90 minutes. */
  async mint(
    claims: Omit<AccessClaims, 'iss' | 'iat' | 'nbf' | 'exp'>,
    lifetimeSeconds = 3600,
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ ...claims, idtyp: 'app', uti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: this.kid, typ: 'JWT' })
      .setIssuer(`${this.issuerOrigin}/${claims.tid}/v2.0`)
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + lifetimeSeconds)
      .sign(this.privateKey);
  }

  /**
   * Validates the bearer token of a request for one audience. Throws SimHttpError(401) with the given
   * service's code and message when the token is missing, malformed, expired, badly signed or meant
   * for another audience (audiences compare without a trailing slash).
   */
  async verify(
    req: SimRequest,
    audience: string | string[],
    code = 'InvalidAuthenticationToken',
  ): Promise<AccessClaims> {
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) throw new SimHttpError(401, code, 'Access token is empty.');
    const expected = (Array.isArray(audience) ? audience : [audience]).map(normalizeAudience);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(match[1]!, async () => this.publicKey(), { algorithms: ['ES256'] }));
    } catch (err) {
      const reason =
        (err as { code?: string }).code === 'ERR_JWT_EXPIRED'
          ? 'Lifetime validation failed, the token is expired.'
          : 'Access token validation failure. Invalid signature or token.';
      throw new SimHttpError(401, code, reason);
    }
    const aud = normalizeAudience(String(payload.aud ?? ''));
    if (!expected.includes(aud)) {
      throw new SimHttpError(
        401,
        code,
        `Invalid audience. The token is for '${aud}', this service expects '${expected.join("' or '")}'.`,
      );
    }
    return payload as AccessClaims;
  }

  private publicKeyCache?: CryptoKey | Uint8Array;
  private async publicKey() {
    if (!this.publicKeyCache) {
      const { importJWK } = await import('jose');
      this.publicKeyCache = await importJWK(this.jwk, 'ES256');
    }
    return this.publicKeyCache;
  }
}

export function normalizeAudience(aud: string): string {
  return aud.replace(/\/+$/, '');
}
