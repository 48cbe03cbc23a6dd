/**
 * bench:sign — what the TFTP interceptor pays per configuration file (.sgn of a 10 KB file,
 * RSA 2048, key parsed on every call as in production) and what building the CTL costs
 * (2 SASTs + a CCM+TFTP record). Last stdout line: one JSON object with the headline figures.
 */
import { buildCtl, signFile } from '../ctl';
import { createCertificate, generateRsaKey } from '../src/pki/x509';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}
function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length * 0.95)] as number;
}

function time(n: number, warmup: number, fn: () => void): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    fn();
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out;
}

async function credential(subject: string) {
  const keyPem = await generateRsaKey(2048);
  return { certPem: createCertificate({ subject, subjectKeyPem: keyPem }), keyPem };
}

async function main() {
  const [tftp, s0, s1] = await Promise.all([
    credential('CN=phone-proxy,O=bench'),
    credential('CN=_internal_ctl_SAST_0,O=bench'),
    credential('CN=_internal_ctl_SAST_1,O=bench'),
  ]);
  const file = Buffer.alloc(10 * 1024, 'x');
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const results: Record<string, number> = {};
  for (const digest of ['sha1', 'sha512'] as const) {
    const t = time(500, 50, () => signFile(file, 'SEP001122334455.cnf.xml', tftp, digest));
    results[`sgn_${digest}_ms_median`] = round(median(t));
    results[`sgn_${digest}_ms_p95`] = round(p95(t));
    console.log(
      `sgn ${digest}: median ${median(t).toFixed(3)} ms, p95 ${p95(t).toFixed(3)} ms over ${t.length} files of 10 KB`,
    );
  }
  const ctl = time(50, 5, () =>
    buildCtl({
      records: [
        { function: 'sast', certificate: s0.certPem },
        { function: 'sast', certificate: s1.certPem },
        { function: 'cucm-tftp', certificate: tftp.certPem, ip: '192.0.2.1' },
      ],
      signer: s0,
      timestamp: Math.floor(Date.now() / 1000),
    }),
  );
  console.log(`CTL build (2 SASTs + CCM+TFTP, SHA-1): median ${median(ctl).toFixed(3)} ms over ${ctl.length} builds`);
  console.log(
    JSON.stringify({
      sgn_sign_ms_median: results.sgn_sha1_ms_median,
      sgn_sign_ms_p95: results.sgn_sha1_ms_p95,
      sgn_sha512_ms_median: results.sgn_sha512_ms_median,
      ctl_build_ms: round(median(ctl)),
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
