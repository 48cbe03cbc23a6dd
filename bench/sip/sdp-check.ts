/**
 * Whether a relay lane of bench:sip really terminated the media: the offer UCM received and the
 * answer the phone received, compared with what the phone and UCM wrote. A lane that claims media
 * (the appliance, Kamailio + rtpengine) must show RTP/AVP without keys toward UCM and RTP/SAVP with
 * an SDES key toward the phone, both at addresses and ports other than the far end's.
 */

interface Audio {
  address?: string;
  port?: number;
  proto?: string;
  crypto: boolean;
}

function audioOf(sdp: string): Audio {
  const lines = sdp.split(/\r?\n/);
  const c = lines.find((l) => l.startsWith('c='));
  const m = lines.find((l) => l.startsWith('m=audio '));
  const mf = m?.slice(2).split(' ') ?? [];
  return {
    address: c?.split(' ')[2],
    port: mf[1] === undefined ? undefined : Number(mf[1]),
    proto: mf[2],
    crypto: lines.some((l) => l.startsWith('a=crypto:')),
  };
}

export interface RewriteCheck {
  /** Both directions rewritten as a media termination would. */
  terminated: boolean;
  /** What did not match, in words (empty when terminated). */
  problems: string[];
  /** One line: what each side saw. */
  seen: string;
}

export function checkMediaRewrite(o: {
  phone: { address: string; port: number };
  ucmMedia: { address: string; port: number };
  offerAtUcm: string;
  answerAtPhone: string;
}): RewriteCheck {
  const atUcm = audioOf(o.offerAtUcm);
  const atPhone = audioOf(o.answerAtPhone);
  const problems: string[] = [];
  if (!o.offerAtUcm) problems.push('UCM saw no offer SDP');
  if (!o.answerAtPhone) problems.push('the phone saw no answer SDP');
  if (atUcm.address === o.phone.address) problems.push(`offer at UCM still has the phone's c= ${atUcm.address}`);
  if (atUcm.proto !== 'RTP/AVP') problems.push(`offer at UCM has m= ${atUcm.proto}, not RTP/AVP`);
  if (atUcm.crypto) problems.push('offer at UCM still carries a=crypto');
  if (atPhone.address === o.ucmMedia.address || atPhone.port === o.ucmMedia.port)
    problems.push(`answer at the phone still has UCM's media ${atPhone.address}:${atPhone.port}`);
  if (atPhone.proto !== 'RTP/SAVP') problems.push(`answer at the phone has m= ${atPhone.proto}, not RTP/SAVP`);
  if (!atPhone.crypto) problems.push('answer at the phone has no a=crypto');
  const show = (a: Audio) => `c=${a.address} m=${a.port} ${a.proto}${a.crypto ? ' +crypto' : ''}`;
  return {
    terminated: problems.length === 0,
    problems,
    seen: `offer at UCM: ${show(atUcm)}; answer at the phone: ${show(atPhone)}`,
  };
}
