// Access tokens of the simulated Entra ID: JWTs signed RS256 with a `kid`, as Entra signs them, with a key made at
// start and published in the authority's JWKS. Every simulated service validates them (signature, expiry on the
// cloud's clock, audience) the way the real resource servers do.
import {
  SignJWT,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  type CryptoKey,
  type JWK,
  type JWTPayload,
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

/** A v2 access token for the rotator's own API (what `SimCloud.callerToken` mints). */
export interface CallerClaims extends JWTPayload {
  aud: string;
  tid: string;
  oid: string;
  sub: string;
  /** The caller's client id. */
  azp: string;
  azpacr: '0' | '1' | '2';
  roles?: string[];
  idtyp: 'app' | 'user';
  name?: string;
  ver: '2.0';
}

export interface MintOptions {
  /** Lifetime in seconds (default 3600); negative mints an already expired token. */
  lifetimeSeconds?: number;
  /** Issue time in epoch seconds (the cloud passes its clock; default real time). */
  nowSeconds?: number;
  /** The `iss` claim (default `${issuerOrigin}/${tid}/v2.0`). */
  issuer?: string;
  /** Sign with a key the authority never published (same kid): a forged token. */
  signedBy?: 'authority' | 'stranger';
}

const ALG = 'RS256';

export class TokenIssuer {
  /** When each token expires in real time (by `uti`): see verify(). */
  private readonly wallExpiry = new Map<string, number>();

  private constructor(
    private readonly privateKey: CryptoKey,
    private readonly strangerKey: CryptoKey,
    /** The public signing key as the authority publishes it (JWKS entry). */
    readonly jwk: JWK,
    readonly kid: string,
    /** Issuer claim prefix; the authority origin (set once the authority is listening). */
    public issuerOrigin: string,
  ) {}

  static async create(): Promise<TokenIssuer> {
    const [own, stranger] = await Promise.all([
      generateKeyPair(ALG, { modulusLength: 2048, extractable: true }),
      generateKeyPair(ALG, { modulusLength: 2048 }),
    ]);
    const kid = randomUUID();
    const jwk = { ...(await exportJWK(own.publicKey)), kid, alg: ALG, use: 'sig' };
    return new TokenIssuer(own.privateKey, stranger.privateKey, jwk, kid, 'https://sts.windows.net');
  }

  /** Real Entra app tokens live 60-90 minutes. `lifetimeSeconds` as a number is the older call shape. */
  async mint(
    claims: Omit<AccessClaims | CallerClaims, 'iss' | 'iat' | 'nbf' | 'exp'>,
    options: MintOptions | number = {},
  ): Promise<string> {
    const opts = typeof options === 'number' ? { lifetimeSeconds: options } : options;
    const lifetime = opts.lifetimeSeconds ?? 3600;
    const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
    const uti = randomUUID();
    this.wallExpiry.set(uti, Date.now() + lifetime * 1000);
    const key = opts.signedBy === 'stranger' ? this.strangerKey : this.privateKey;
    return new SignJWT({ idtyp: 'app', ...claims, uti })
      .setProtectedHeader({ alg: ALG, kid: this.kid, typ: 'JWT' })
      .setIssuer(opts.issuer ?? `${this.issuerOrigin}/${claims.tid}/v2.0`)
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + lifetime)
      .sign(key);
  }

  /**
   * Validates the bearer token of a request for one audience at `now` (the cloud's clock). Throws
   * SimHttpError(401) with the given service's code and message when the token is missing, malformed, expired,
   * badly signed or meant for another audience (audiences compare without a trailing slash).
   *
   * A token counts as expired only once its lifetime has passed on the cloud's clock AND in real time: the SDKs
   * cache tokens by real time and cannot be told that a test moved the cloud forward by days, so a token they
   * still hold stays good until they would refresh it anyway.
   */
  async verify(
    req: SimRequest,
    audience: string | string[],
    code = 'InvalidAuthenticationToken',
    now: Date = new Date(),
  ): Promise<AccessClaims> {
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) throw new SimHttpError(401, code, 'Access token is empty.');
    const expected = (Array.isArray(audience) ? audience : [audience]).map(normalizeAudience);
    let payload: JWTPayload;
    try {
      ({ payload } = await this.check(match[1]!, now));
    } catch (err) {
      // jose checks the signature before the claims: an expired token's payload is authentic.
      const expired = (err as { code?: string }).code === 'ERR_JWT_EXPIRED';
      const late = (err as { payload?: JWTPayload }).payload;
      if (expired && late && (this.wallExpiry.get(String(late.uti)) ?? 0) > Date.now()) {
        payload = late;
      } else {
        const reason = expired
          ? 'Lifetime validation failed, the token is expired.'
          : 'Access token validation failure. Invalid signature or token.';
        throw new SimHttpError(401, code, reason);
      }
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

  private check(token: string, currentDate: Date) {
    return jwtVerify(token, async () => this.publicKey(), { algorithms: [ALG], currentDate });
  }

  private publicKeyCache?: CryptoKey | Uint8Array;
  private async publicKey() {
    this.publicKeyCache ??= await importJWK(this.jwk, ALG);
    return this.publicKeyCache;
  }
}

export function normalizeAudience(aud: string): string {
  return aud.replace(/\/+$/, '');
}
