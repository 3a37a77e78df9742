import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real OpenID provider (`oidc-provider` 9) on 127.0.0.1 and a random port, for tests and
 * benchmarks. Agents are OAuth clients using the client-credentials grant; access tokens are
 * JWTs (RFC 9068) for a resource indicator, signed RS256 or ES256, with a `groups` claim (and the
 * same list under `tg.groups`). `rotate()` swaps in new signing keys and keeps the old ones
 * published, as an IdP does during a key rollover.
 */
export interface TestIdp {
  readonly issuer: string;
  /** Resource (audience) whose tokens are RS256. */
  readonly rs256Audience: string;
  /** Resource (audience) whose tokens are ES256. */
  readonly es256Audience: string;
  /** Requests the JWKS endpoint has answered. */
  readonly jwksRequests: number;
  /** Key ids currently signing (RSA, EC). */
  readonly signingKids: readonly string[];
  /** A client-credentials access token for `client` (default the first client). */
  token(opts?: { client?: string; alg?: 'RS256' | 'ES256' }): Promise<string>;
  /** New signing keys; the previous ones stay in the JWKS. */
  rotate(): Promise<void>;
  close(): Promise<void>;
}

export interface TestClient {
  id: string;
  secret: string;
  groups: string[];
}

export const DEFAULT_TEST_CLIENTS: readonly TestClient[] = [
  { id: 'agent-ci', secret: 'agent-ci-secret-0123456789abcdef', groups: ['deployers', 'readers'] },
  { id: 'agent-ro', secret: 'agent-ro-secret-0123456789abcdef', groups: ['readers'] },
];

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
type ProviderCtor = new (issuer: string, config: Record<string, unknown>) => { callback(): Handler };

let generation = 0;

function signingKeys(): JsonWebKey[] {
  const g = ++generation;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return [
    { ...rsa, kid: `rsa-${g}`, alg: 'RS256', use: 'sig' },
    { ...ec, kid: `ec-${g}`, alg: 'ES256', use: 'sig' },
  ];
}

export async function startTestIdp(
  opts: { clients?: readonly TestClient[]; accessTokenTtlSec?: number } = {},
): Promise<TestIdp> {
  const clients = opts.clients ?? DEFAULT_TEST_CLIENTS;
  const ttl = opts.accessTokenTtlSec ?? 300;
  // oidc-provider is ESM-only; a variable specifier keeps TypeScript from looking for its types
  const specifier = 'oidc-provider';
  const { default: Provider } = (await import(specifier)) as { default: ProviderCtor };
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const rs256Audience = 'urn:tollgate:gateway';
  const es256Audience = 'urn:tollgate:gateway-es';
  let keys = signingKeys();
  let handler: Handler;
  let jwksRequests = 0;

  const build = () => {
    const groupsOf = (clientId: string) => clients.find((c) => c.id === clientId)?.groups ?? [];
    const provider = new Provider(issuer, {
      clients: clients.map((c) => ({
        client_id: c.id,
        client_secret: c.secret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
      })),
      jwks: { keys },
      ttl: { ClientCredentials: ttl, AccessToken: ttl },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => rs256Audience,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx: unknown, resource: string) => ({
            scope: 'gateway',
            audience: resource,
            accessTokenTTL: ttl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: resource === es256Audience ? 'ES256' : 'RS256' } },
          }),
        },
      },
      extraTokenClaims: async (_ctx: unknown, token: { clientId?: string }) => {
        const groups = groupsOf(token.clientId ?? '');
        return { groups, tg: { groups } };
      },
    });
    handler = provider.callback();
  };
  build();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/jwks')) jwksRequests++;
    handler(req, res);
  });

  return {
    issuer,
    rs256Audience,
    es256Audience,
    get jwksRequests() {
      return jwksRequests;
    },
    get signingKids() {
      return keys.slice(0, 2).map((k) => (k as { kid: string }).kid);
    },
    async token(o = {}) {
      const client = clients.find((c) => c.id === (o.client ?? clients[0]?.id));
      if (!client) throw new Error(`no test client ${o.client}`);
      const resource = o.alg === 'ES256' ? es256Audience : rs256Audience;
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          scope: 'gateway',
          resource,
        }).toString(),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await res.json()) as { access_token?: string; error?: string };
      if (!res.ok || !body.access_token) throw new Error(`token endpoint: HTTP ${res.status} ${body.error}`);
      return body.access_token;
    },
    async rotate() {
      keys = [...signingKeys(), ...keys];
      build();
    },
    close() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
