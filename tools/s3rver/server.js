'use strict';
// s3rver for Parley's S3 adapter tests, started by scripts/s3.sh:
//
//   S3RVER_ACCESS_KEY=... S3RVER_SECRET_KEY=... node server.js DIR BUCKET REGION
//
// listens on 127.0.0.1 at a free port, stores objects under DIR/data, creates BUCKET, and
// writes the port to DIR/port once it accepts requests.
//
// s3rver 3.7.1 alone is not strict enough to prove a client right, so this adds, in front of it:
//  - Signature Version 4 checking: s3rver only looks the access key up and accepts any V4
//    signature. Here every request must carry a header signature that matches the one computed
//    with the secret key (SignatureDoesNotMatch otherwise), and a body whose SHA-256 is the
//    signed x-amz-content-sha256 (XAmzContentSHA256Mismatch otherwise), as AWS S3 checks.
//  - The multipart calls s3rver lacks or gets wrong: ListParts and AbortMultipartUpload (it
//    answers 405), and NoSuchUpload for parts or completions of an unknown upload (it creates
//    the upload on the fly, or fails with a 500).
//  - 416 for a Range on an empty object, as S3 answers.
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { Readable } = require('stream');
const S3rver = require('s3rver');
const AWSAccount = require('s3rver/lib/models/account');
const S3Error = require('s3rver/lib/models/error');

const [dir, bucket, region] = process.argv.slice(2);
const accessKey = process.env.S3RVER_ACCESS_KEY;
const secretKey = process.env.S3RVER_SECRET_KEY;
if (!dir || !bucket || !region || !accessKey || !secretKey) {
  console.error('usage: S3RVER_ACCESS_KEY=.. S3RVER_SECRET_KEY=.. node server.js DIR BUCKET REGION');
  process.exit(2);
}

// Only our key pair: s3rver's built-in S3RVER/S3RVER account would let anyone in.
AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
AWSAccount.DUMMY_ACCOUNT.createKeyPair(accessKey, secretKey);

const rfc3986 = s =>
  encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const decode = s => decodeURIComponent(s.replace(/\+/g, '%20'));
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();
const sha256 = data => crypto.createHash('sha256').update(data).digest('hex');

function canonicalQuery(raw) {
  if (!raw) return '';
  return raw
    .split('&')
    .filter(p => p.length)
    .map(p => {
      const eq = p.indexOf('=');
      const name = eq < 0 ? p : p.slice(0, eq);
      const value = eq < 0 ? '' : p.slice(eq + 1);
      return [rfc3986(decode(name)), rfc3986(decode(value))];
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([n, v]) => `${n}=${v}`)
    .join('&');
}

function verifySignature(ctx) {
  const auth = ctx.req.headers['authorization'];
  if (!auth) throw new S3Error('AccessDenied', 'Access Denied');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
    auth,
  );
  if (!m) {
    throw new S3Error('AuthorizationHeaderMalformed', 'The authorization header is malformed.');
  }
  const [, keyId, date, scopeRegion, signedHeaders, signature] = m;
  const secret = AWSAccount.DUMMY_ACCOUNT.accessKeys.get(keyId);
  if (!secret) {
    throw new S3Error(
      'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.',
    );
  }
  if (scopeRegion !== region) {
    throw new S3Error(
      'AuthorizationHeaderMalformed',
      `The authorization header is malformed; the region '${scopeRegion}' is wrong; expecting '${region}'`,
    );
  }
  const amzDate = ctx.req.headers['x-amz-date'] || '';
  const names = signedHeaders.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date') || !amzDate.startsWith(date)) {
    throw new S3Error('AccessDenied', 'host and x-amz-date must be signed, with the scope date');
  }
  const payloadHash = ctx.req.headers['x-amz-content-sha256'];
  if (!payloadHash || !names.includes('x-amz-content-sha256')) {
    throw new S3Error('InvalidRequest', 'x-amz-content-sha256 is missing or not signed');
  }
  const [rawPath, rawQuery] = ctx.req.url.split(/\?(.*)/s);
  const canonical = [
    ctx.req.method,
    rawPath,
    canonicalQuery(rawQuery),
    names.map(n => `${n}:${String(ctx.req.headers[n] || '').trim().replace(/ +/g, ' ')}\n`).join(''),
    signedHeaders,
    payloadHash,
  ].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  let key = hmac('AWS4' + secret, date);
  for (const part of [region, 's3', 'aws4_request']) key = hmac(key, part);
  const expected = hmac(key, stringToSign);
  if (!crypto.timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
    throw new S3Error(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. ' +
        'Check your key and signing method.',
      { CanonicalRequest: canonical },
    );
  }
}

// Reads the whole body (test bodies are a part, 8 MiB, at most), checks it against the signed
// hash, and hands s3rver, which reads ctx.req as a stream, a stream of the same bytes.
async function verifyPayload(ctx) {
  const declared = ctx.req.headers['x-amz-content-sha256'];
  if (declared === 'UNSIGNED-PAYLOAD') return;
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  const actual = sha256(body);
  if (actual !== declared) {
    const err = new S3Error(
      'XAmzContentSHA256Mismatch',
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
      { ClientComputedContentSHA256: declared, S3ComputedContentSHA256: actual },
    );
    // s3rver's table of statuses lacks this code; S3 answers 400.
    err.status = 400;
    err.expose = true;
    throw err;
  }
  const { headers, method, url } = ctx.request.req;
  ctx.req = Object.assign(Readable.from([body]), { headers, method, url });
}

// /BUCKET/KEY?uploadId=ID: where s3rver keeps that upload's parts, if it is one of KEY's.
function uploadDir(ctx) {
  const url = new URL(ctx.request.req.url, 'http://localhost');
  const id = url.searchParams.get('uploadId');
  const m = /^\/([^/]+)\/(.+)$/.exec(url.pathname);
  if (id === null || !m) return null;
  const noSuchUpload = new S3Error(
    'NoSuchUpload',
    'The specified upload does not exist. The upload ID may be invalid, or the upload may have ' +
      'been aborted or completed.',
    { UploadId: id },
  );
  if (!/^[0-9a-f]{32}$/.test(id)) throw noSuchUpload;
  const d = path.join(server.store.getResourcePath(m[1], undefined, 'uploads'), id);
  let key;
  try {
    key = fs.readFileSync(path.join(d, 'key'), 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') throw noSuchUpload;
    throw err;
  }
  if (key !== decodeURIComponent(m[2])) throw noSuchUpload;
  return { dir: d, id, bucket: m[1], key };
}

// s3rver answers a Range on an empty object with 206, "Content-Length: 1" and no byte, and the
// client waits for that byte until the connection closes. S3 answers 416.
function emptyObjectRange(ctx) {
  const m = /^\/([^/]+)\/([^?]+)$/.exec(ctx.path);
  if (ctx.method !== 'GET' || !ctx.headers.range || !m) return;
  let size;
  try {
    size = fs.statSync(server.store.getResourcePath(m[1], decodeURIComponent(m[2]), 'object')).size;
  } catch (err) {
    return;
  }
  if (size === 0) {
    throw new S3Error('InvalidRange', 'The requested range is not satisfiable', {
      RangeRequested: ctx.headers.range,
      ActualObjectSize: 0,
    });
  }
}

async function shims(ctx, next) {
  emptyObjectRange(ctx);
  const upload = uploadDir(ctx);
  if (!upload) return next();
  if (ctx.method === 'DELETE') {
    fs.rmSync(upload.dir, { recursive: true, force: true });
    ctx.status = 204;
    return;
  }
  if (ctx.method === 'GET') {
    const parts = fs
      .readdirSync(upload.dir)
      .filter(f => /^\d+$/.test(f))
      .map(Number)
      .sort((a, b) => a - b)
      .map(n => ({
        PartNumber: n,
        ETag: JSON.stringify(fs.readFileSync(path.join(upload.dir, `${n}.md5`), 'utf8')),
        Size: fs.statSync(path.join(upload.dir, String(n))).size,
      }));
    ctx.body = {
      ListPartsResult: {
        Bucket: upload.bucket,
        Key: upload.key,
        UploadId: upload.id,
        IsTruncated: false,
        Part: parts,
      },
    };
    return;
  }
  return next();
}

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  vhostBuckets: false,
  directory: path.join(dir, 'data'),
  configureBuckets: [{ name: bucket }],
});
// After s3rver's XML encoder (which turns our ListPartsResult object into XML) and before its
// router; errors thrown here are answered as S3 XML errors by s3rver's own error handler.
server.middleware.splice(2, 0, async (ctx, next) => {
  try {
    verifySignature(ctx);
    await verifyPayload(ctx);
  } catch (err) {
    console.error(`${new Date().toISOString()} ${ctx.method} ${ctx.url}: ${err.code}`);
    throw err;
  }
  return shims(ctx, next);
});

server.run().then(
  address => {
    const tmp = path.join(dir, 'port.tmp');
    fs.writeFileSync(tmp, String(address.port));
    fs.renameSync(tmp, path.join(dir, 'port'));
    console.error(`s3rver: listening on 127.0.0.1:${address.port}, bucket ${bucket}`);
  },
  err => {
    console.error(`s3rver: ${err.message}`);
    process.exit(1);
  },
);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
// One client's broken connection (a test that kills a node mid-upload) can surface as an error
// no one listens to; a stand-in shared by the whole test run logs it and keeps serving.
process.on('uncaughtException', err => console.error(`${new Date().toISOString()} uncaught: ${err.stack || err}`));
process.on('unhandledRejection', err => console.error(`${new Date().toISOString()} unhandled: ${err && err.stack || err}`));
