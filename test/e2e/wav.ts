/**
 * Test audio (pure): 16-bit mono PCM WAV tones for baresip's aufile source, a reader for the
 * files its sndfile filter records, and Goertzel tone detection over 20 ms frames.
 */

/** A sine tone as a RIFF/WAVE file, 16-bit mono PCM. */
export function toneWav(freqHz: number, seconds: number, rate = 8000, amplitude = 8000): Buffer {
  const n = Math.round(seconds * rate);
  const data = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++)
    data.writeInt16LE(Math.round(amplitude * Math.sin((2 * Math.PI * freqHz * i) / rate)), i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

export interface Pcm {
  rate: number;
  samples: Int16Array;
}

/** Reads a 16-bit PCM WAV (first channel); walks the chunks, since writers add LIST/fact chunks. */
export function readWav(buf: Buffer, where = 'wav'): Pcm {
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE')
    throw new Error(`${where}: not a RIFF/WAVE file (${buf.length} bytes)`);
  let rate = 0;
  let channels = 1;
  let bits = 0;
  for (let off = 12; off + 8 <= buf.length; ) {
    const id = buf.toString('latin1', off, off + 4);
    // A writer killed mid-call leaves the data size at 0 or too large: take what is there.
    let size = buf.readUInt32LE(off + 4);
    if (id === 'data' && (size === 0 || off + 8 + size > buf.length)) size = buf.length - off - 8;
    if (id === 'fmt ') {
      channels = buf.readUInt16LE(off + 10);
      rate = buf.readUInt32LE(off + 12);
      bits = buf.readUInt16LE(off + 22);
    } else if (id === 'data') {
      if (bits !== 16) throw new Error(`${where}: ${bits}-bit samples, expected 16`);
      const frames = Math.floor(size / (2 * channels));
      const samples = new Int16Array(frames);
      for (let i = 0; i < frames; i++) samples[i] = buf.readInt16LE(off + 8 + i * 2 * channels);
      return { rate, samples };
    }
    off += 8 + size + (size & 1);
  }
  throw new Error(`${where}: no data chunk`);
}

/** Relative power of `freqHz` in a block (Goertzel), normalised by the block's energy: 0..1. */
export function toneShare(samples: ArrayLike<number>, start: number, length: number, rate: number, freqHz: number) {
  const k = (2 * Math.cos((2 * Math.PI * freqHz) / rate)) as number;
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (let i = start; i < start + length; i++) {
    const x = samples[i] as number;
    energy += x * x;
    const s0 = x + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - k * s1 * s2;
  // A pure tone filling the block gives power = energy * length / 2.
  return energy === 0 ? 0 : (2 * power) / (energy * length);
}

export interface ToneReport {
  /** 20 ms frames in the recording. */
  frames: number;
  /** Frames where the tone is dominant (share above 0.5) and loud enough. */
  toneFrames: number;
  /** Index of the first such frame. */
  firstToneFrame: number;
  /** Longest run of consecutive tone frames, in seconds. */
  longestRunSeconds: number;
}

/** Frame-by-frame detection of `freqHz` in a recording. */
export function detectTone(pcm: Pcm, freqHz: number, minRms = 300): ToneReport {
  const len = Math.round(pcm.rate / 50);
  const frames = Math.floor(pcm.samples.length / len);
  let toneFrames = 0;
  let first = -1;
  let run = 0;
  let best = 0;
  for (let f = 0; f < frames; f++) {
    let e = 0;
    for (let i = f * len; i < (f + 1) * len; i++) e += (pcm.samples[i] as number) ** 2;
    const rms = Math.sqrt(e / len);
    const hit = rms >= minRms && toneShare(pcm.samples, f * len, len, pcm.rate, freqHz) > 0.5;
    if (hit) {
      toneFrames++;
      if (first < 0) first = f;
      run++;
      best = Math.max(best, run);
    } else run = 0;
  }
  return { frames, toneFrames, firstToneFrame: first, longestRunSeconds: (best * len) / pcm.rate };
}
