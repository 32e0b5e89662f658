// Two OpenID Connect issuers on loopback for Parley's SSO tests (scripts/oidc-provider.sh).
//
// 1. A real provider: oidc-provider (a certified OpenID Connect implementation) with one test
//    client, its development sign-in page (any login and password is accepted; the login becomes
//    the subject), and grants given without a consent page. Claims: preferred_username = the
//    login, name, email, and groups (["admins"] for a login starting with "admin").
//    Its port goes to DIR/port.
// 2. A forging issuer (DIR/forge_port): discovery, a JWKS it can rotate, and a token endpoint
//    that answers with the ID token the test asks for. The test puts its order in the
//    authorization code (base64url JSON: {mode, nonce, challenge, sub, username}); modes: ok,
//    es256, bad_signature (signed by another key under a published kid), unknown_kid,
//    wrong_aud, expired, wrong_nonce, wrong_iss, future_iat, none (alg none). The endpoint
//    checks the client's secret and the PKCE verifier against the challenge like a real one.
//    POST /rotate replaces the RSA key (new kid); GET /stats counts JWKS fetches.
//
// usage: node server.js DIR CLIENT_ID CLIENT_SECRET
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import Provider from 'oidc-provider';

const [dir, clientId, clientSecret] = process.argv.slice(2);
if (!dir || !clientId || !clientSecret) {
  console.error('usage: node server.js DIR CLIENT_ID CLIENT_SECRET');
  process.exit(2);
}

const listen = (server) =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));

// Parley's callback on any loopback port (tests start servers on port 0).
const callbackPattern = /^http:\/\/(127\.0\.0\.1|localhost):\d+\/api\/v1\/auth\/oidc\/[a-z0-9-]+\/callback$/;

// ---- 1. the real provider ----
const realServer = http.createServer();
const realPort = await listen(realServer);
const issuer = `http://127.0.0.1:${realPort}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [`http://127.0.0.1/api/v1/auth/oidc/test/callback`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name', 'groups'],
    email: ['email', 'email_verified'],
  },
  // Claims in the ID token itself (not only at userinfo): Parley reads the ID token.
  conformIdTokenClaims: false,
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          preferred_username: sub,
          name: `Test ${sub}`,
          email: `${sub}@example.test`,
          email_verified: true,
          groups: sub.startsWith('admin') ? ['admins', 'staff'] : ['staff'],
        };
      },
    };
  },
  // First-party client: no consent page; the grant covers what was asked.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope);
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
// The test client may use any loopback port for its callback (see callbackPattern).
const original = provider.Client.prototype.redirectUriAllowed;
provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(uri) {
  return callbackPattern.test(uri) || original.call(this, uri);
};
realServer.on('request', provider.callback());

// ---- 2. the forging issuer ----
const forgeServer = http.createServer();
const forgePort = await listen(forgeServer);
const forgeIssuer = `http://127.0.0.1:${forgePort}`;
let generation = 0;
const newRsa = () => {
  generation += 1;
  return { kid: `rsa-${generation}`, ...crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) };
};
let rsa = newRsa();
const ec = { kid: 'ec-1', ...crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }) };
const stranger = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const stats = { jwks: 0, token: 0 };

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const jwk = (key) => ({ ...key.publicKey.export({ format: 'jwk' }), kid: key.kid, use: 'sig' });

function signJwt(header, payload, privateKey) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  if (!privateKey) return `${input}.`;
  const sig = header.alg === 'ES256'
    ? crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' })
    : crypto.sign('sha256', Buffer.from(input), privateKey);
  return `${input}.${b64url(sig)}`;
}

function idToken(order) {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: forgeIssuer,
    aud: clientId,
    sub: order.sub || 'forged-subject',
    preferred_username: order.username || order.sub || 'forged',
    iat: now,
    exp: now + 300,
    nonce: order.nonce,
  };
  let header = { alg: 'RS256', kid: rsa.kid, typ: 'JWT' };
  let key = rsa.privateKey;
  switch (order.mode) {
    case 'ok': break;
    case 'es256': header = { alg: 'ES256', kid: ec.kid, typ: 'JWT' }; key = ec.privateKey; break;
    case 'bad_signature': key = stranger.privateKey; break;
    case 'unknown_kid': header.kid = `unknown-${crypto.randomUUID()}`; key = stranger.privateKey; break;
    case 'wrong_aud': claims.aud = 'some-other-client'; break;
    case 'expired': claims.iat = now - 900; claims.exp = now - 600; break;
    case 'wrong_nonce': claims.nonce = 'not-the-nonce-of-this-sign-in'; break;
    case 'wrong_iss': claims.iss = issuer; break;
    case 'future_iat': claims.iat = now + 900; claims.exp = now + 1200; break;
    case 'none': header = { alg: 'none', typ: 'JWT' }; key = null; break;
    default: throw new Error(`unknown mode ${order.mode}`);
  }
  return signJwt(header, claims, key);
}

const send = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
};

const readBody = (req) => new Promise((resolve) => {
  let data = '';
  req.on('data', (c) => { data += c; });
  req.on('end', () => resolve(data));
});

forgeServer.on('request', async (req, res) => {
  const url = new URL(req.url, forgeIssuer);
  try {
    if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration') {
      return send(res, 200, {
        issuer: forgeIssuer,
        authorization_endpoint: `${forgeIssuer}/authorize`,
        token_endpoint: `${forgeIssuer}/token`,
        jwks_uri: `${forgeIssuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256', 'ES256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
      });
    }
    if (req.method === 'GET' && url.pathname === '/jwks') {
      stats.jwks += 1;
      return send(res, 200, { keys: [jwk(rsa), jwk(ec)] });
    }
    if (req.method === 'GET' && url.pathname === '/stats') return send(res, 200, stats);
    if (req.method === 'POST' && url.pathname === '/rotate') {
      rsa = newRsa();
      return send(res, 200, { kid: rsa.kid });
    }
    if (req.method === 'POST' && url.pathname === '/token') {
      stats.token += 1;
      const expected = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return send(res, 401, { error: 'invalid_client' });
      const form = new URLSearchParams(await readBody(req));
      if (form.get('grant_type') !== 'authorization_code') return send(res, 400, { error: 'unsupported_grant_type' });
      let order;
      try {
        order = JSON.parse(Buffer.from(form.get('code') || '', 'base64url').toString());
      } catch {
        return send(res, 400, { error: 'invalid_grant' });
      }
      const verifier = form.get('code_verifier') || '';
      if (crypto.createHash('sha256').update(verifier).digest('base64url') !== order.challenge) {
        return send(res, 400, { error: 'invalid_grant', error_description: 'PKCE verifier does not match' });
      }
      if (!callbackPattern.test(form.get('redirect_uri') || '')) return send(res, 400, { error: 'invalid_grant' });
      return send(res, 200, {
        access_token: crypto.randomBytes(16).toString('hex'),
        token_type: 'Bearer',
        expires_in: 300,
        id_token: idToken(order),
      });
    }
    return send(res, 404, { error: 'not_found' });
  } catch (e) {
    return send(res, 500, { error: 'server_error', error_description: String(e.message) });
  }
});

fs.writeFileSync(path.join(dir, 'forge_port'), `${forgePort}\n`);
fs.writeFileSync(path.join(dir, 'port'), `${realPort}\n`);
console.log(`oidc-provider at ${issuer}, forging issuer at ${forgeIssuer}`);

const stop = () => { realServer.close(); forgeServer.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
