// The JS SDK v3 as a user configures it: credentials from the default
// provider chain (here AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, STS at
// AWS_ENDPOINT_URL), S3 at the same endpoint. No s3gate-specific code.
// Usage: node s3-roundtrip.mjs BUCKET KEY TEXT — puts TEXT, gets it back,
// prints what came back.
import { S3Client, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';

const [bucket, key, text] = process.argv.slice(2);
const s3 = new S3Client({
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: fromNodeProviderChain(),
  maxAttempts: 1,
});
await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: text }));
const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
process.stdout.write(await got.Body.transformToString());
