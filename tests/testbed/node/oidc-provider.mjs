// A real OpenID Provider (node-oidc-provider) on loopback for s3gate's tests.
//
// Environment:
//   OIDC_PORT           port to listen on (default 0: a free one)
//   OIDC_KID            key id of the signing key (default "k1")
//   OIDC_TOKEN_TTL      access/ID token lifetime in seconds (default 600)
//   OIDC_CLIENT_SECRET  secret of both clients (required; tests generate it)
// Prints one line `ready http://127.0.0.1:PORT` once it listens.
//
// Clients: `s3gate-machine` (client_credentials, JWT access tokens for the
// resource `urn:s3gate`), `s3gate-login` (authorization code through the
// dev login form, which accepts any user name) and `s3gate-portal` (s3gate
// itself as the relying party: a native client, so its loopback redirect
// URIs match on any port, RFC 8252; the portal has a host of its own,
// `localhost`, apart from the S3 endpoint on `127.0.0.1`). The signing key is an RS256
// key generated at start: nothing secret is stored anywhere.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const kid = process.env.OIDC_KID || 'k1';
const ttl = Number(process.env.OIDC_TOKEN_TTL || 600);
const secret = process.env.OIDC_CLIENT_SECRET;
if (!secret) {
  console.error('OIDC_CLIENT_SECRET is required');
  process.exit(2);
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };

const server = http.createServer();
server.listen(Number(process.env.OIDC_PORT || 0), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    jwks: { keys: [signingKey] },
    clients: [
      {
        client_id: 's3gate-machine',
        client_secret: secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
      {
        client_id: 's3gate-login',
        client_secret: secret,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1:9/callback'],
      },
      {
        client_id: 's3gate-portal',
        client_secret: secret,
        application_type: 'native',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: ['http://localhost/_s3gate/callback', 'http://127.0.0.1/_s3gate/callback'],
      },
    ],
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:s3gate',
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 's3',
          audience: 'urn:s3gate',
          accessTokenFormat: 'jwt',
          accessTokenTTL: ttl,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'groups'],
      email: ['email', 'email_verified'],
    },
    conformIdTokenClaims: false,
    ttl: { IdToken: ttl, AccessToken: ttl, ClientCredentials: ttl },
    findAccount: (ctx, id) => ({
      accountId: id,
      claims: () => ({
        sub: id,
        preferred_username: id,
        email: `${id}@example.test`,
        email_verified: true,
        groups: ['staff', `team-${id}`],
      }),
    }),
  });
  server.on('request', provider.callback());
  console.log(`ready ${issuer}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
