// Certificates the mesh's own PKI refuses to make (already expired; signed by a workload's leaf),
// minted by the openssl CLI as an attacker would: `openssl ca` with explicit dates and a
// workload's extensions, signed by whatever key and certificate it is handed.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SignedLeaf {
  keyPem: string;
  certPem: string;
}

const config = (identity: string): string => `[ca]
default_ca = attacker
[attacker]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = optional
[workload]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = URI:${identity}
`;

/** openssl's GeneralizedTime form (YYYYMMDDHHMMSSZ). */
const asn1Time = (d: Date): string => `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

/** A P-256 workload leaf for `identity`, valid from `notBefore` to `notAfter`, signed by `signer`. */
export function opensslSign(opts: { signer: { certPem: string; keyPem: string }; identity: string; notBefore: Date; notAfter: Date }): SignedLeaf {
  const dir = mkdtempSync(join(tmpdir(), 'impersonation-openssl-'));
  try {
    const keyPem = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    writeFileSync(join(dir, 'leaf.key'), keyPem);
    writeFileSync(join(dir, 'ca.pem'), opts.signer.certPem);
    writeFileSync(join(dir, 'ca.key'), opts.signer.keyPem);
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), `${crypto.randomBytes(8).toString('hex')}\n`);
    writeFileSync(join(dir, 'openssl.cnf'), config(opts.identity));
    const run = (args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    };
    run(['req', '-new', '-key', 'leaf.key', '-subj', '/CN=workload', '-out', 'leaf.csr']);
    run([
      ...['ca', '-batch', '-config', 'openssl.cnf', '-in', 'leaf.csr', '-out', 'leaf.pem', '-keyfile', 'ca.key', '-cert', 'ca.pem'],
      ...['-startdate', asn1Time(opts.notBefore), '-enddate', asn1Time(opts.notAfter), '-extensions', 'workload', '-notext', '-subj', '/CN=workload'],
    ]);
    return { keyPem, certPem: readFileSync(join(dir, 'leaf.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
