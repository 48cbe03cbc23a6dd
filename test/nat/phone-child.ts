/**
 * The remote phone of the NAT test, run inside the phone namespace (`ip netns exec NS node
 * phone-child.js`): it takes the CTL and signed configuration the test fetched with the Debian
 * TFTP clients, registers over TLS where the configuration points (the public address), calls the
 * inside phone with SRTP, sends its tone, hangs up, and reports what it saw as one JSON line.
 * Input: one JSON object on stdin. Bounded: it exits by itself after 30 s.
 */
import { readFileSync } from 'node:fs';
import { RemotePhone } from '../../lab/phones';
import { checkConfig, checkCtl } from '../../lab/secure-boot';

interface Input {
  mac: string;
  address: string;
  line: string;
  callee: string;
  mic: { certPem: string; keyPem: string };
  ctlFile: string;
  sgnFile: string;
  packets: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = (m: ReadonlyMap<number, Buffer>) => [...m].map(([seq, b]) => [seq, b.toString('hex')]);

async function main(input: Input): Promise<Record<string, unknown>> {
  const phone = new RemotePhone({
    mac: input.mac,
    address: input.address,
    line: input.line,
    mic: input.mic,
    tftp: { address: '0.0.0.0', port: 0 }, // boot() is not used: the test fetched the files
    ssrc: 0x5eca1e13,
    toneHz: 440,
  });
  try {
    const trust = checkCtl(readFileSync(input.ctlFile));
    const name = `SEP${input.mac}.cnf.xml.sgn`;
    const { config } = checkConfig(readFileSync(input.sgnFile), name, trust);
    phone.trust = trust;
    phone.config = config;
    await phone.register();
    const placed = await phone.call(input.callee);
    // The remote target the phone took from the 200 OK's Contact: where its BYE goes.
    const target = (phone as unknown as { dialog?: { target: string } }).dialog?.target;
    placed.media.start({ address: placed.answer.address, port: placed.answer.port }, input.packets);
    const until = Date.now() + 10_000;
    while (!placed.media.done && Date.now() < until) await sleep(20);
    await sleep(300);
    const byeStatus = await phone.hangUp();
    return {
      registeredWith: `${config.processNodeName}:${config.securedSipPort}`,
      server: phone.serverSubject,
      answer: placed.answer,
      target,
      byeStatus,
      ssrc: placed.media.ssrc,
      sent: hex(placed.media.sent),
      received: [...placed.media.received].map(([seq, r]) => [seq, r.ssrc, r.payload.toString('hex')]),
      wire: { ...placed.media.wire, lengths: [...placed.media.wire.lengths] },
      errors: phone.errors,
    };
  } finally {
    await phone.close();
  }
}

let text = '';
process.stdin.on('data', (d: Buffer) => {
  text += d.toString();
});
process.stdin.on('end', () => {
  setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ error: 'phone child: no result within 30 s' })}\n`);
    process.exit(2);
  }, 30_000).unref();
  main(JSON.parse(text) as Input).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err: Error) => {
      process.stdout.write(`${JSON.stringify({ error: err.stack ?? err.message })}\n`);
      process.exit(1);
    },
  );
});
