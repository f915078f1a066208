import { TallyError } from '../../lib/errors.ts';

// How long a WAV file plays, read from its RIFF header (the `fmt ` chunk's
// sample rate and block align, the `data` chunk's size): exact, and a few
// dozen bytes read. The header is the client's to write, so it is trusted only
// when it is self-consistent: the time is sampleRate x blockAlign (how decoders
// time PCM), a byteRate or blockAlign that disagrees with the format is a 400,
// and a file with more than one `data` chunk, a data size that is not the bytes
// present (0 or 0xFFFFFFFF of a streamed WAV included) or chunks that do not
// end where the file ends has no length Tally can trust (null: the same path
// as a non-WAV file). Other formats (mp3, m4a, ogg, webm...) would need their
// frames walked; they are billed from the duration the upstream reports instead
// (media/bill.ts).

const MAX_CHUNKS = 64;
/** PCM, IEEE float, A-law, mu-law, extensible: one block (blockAlign bytes) per sample frame. */
const FRAME_FORMATS = new Set([0x0001, 0x0003, 0x0006, 0x0007, 0xfffe]);

function badWav(message: string): TallyError {
  return new TallyError('invalid_request', `the WAV file's header is inconsistent: ${message}; send the file as written by an audio tool`, {
    param: 'file',
  });
}

/** The play time of the WAV in bytes[start, end), in milliseconds (rounded up), or null when it is not a WAV Tally can read. */
export function wavDurationMs(bytes: Buffer, start: number, end: number): number | null {
  if (end - start < 44 || bytes.toString('latin1', start, start + 4) !== 'RIFF' || bytes.toString('latin1', start + 8, start + 12) !== 'WAVE') return null;
  let pos = start + 12;
  let frameBytesPerSecond = 0;
  let dataBytes: number | null = null;
  for (let i = 0; ; i++) {
    if (i === MAX_CHUNKS) return null;
    if (pos >= end) break;
    if (pos + 8 > end) return null; // a few stray bytes after the last chunk
    const id = bytes.toString('latin1', pos, pos + 4);
    const size = bytes.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (size > end - body) return null; // a chunk longer than the file (a streamed WAV's 0xFFFFFFFF included)
    if (id === 'fmt ' && size >= 16) {
      const format = bytes.readUInt16LE(body);
      const channels = bytes.readUInt16LE(body + 2);
      const sampleRate = bytes.readUInt32LE(body + 4);
      const byteRate = bytes.readUInt32LE(body + 8);
      const blockAlign = bytes.readUInt16LE(body + 12);
      const bits = bytes.readUInt16LE(body + 14);
      if (!FRAME_FORMATS.has(format)) return null; // compressed (ADPCM, MP3 in WAV...): its blocks hold many samples
      if (blockAlign !== channels * Math.ceil(bits / 8))
        throw badWav(`blockAlign ${blockAlign} is not channels x bytes per sample (${channels} x ${Math.ceil(bits / 8)})`);
      if (byteRate !== sampleRate * blockAlign) throw badWav(`byteRate ${byteRate} is not sampleRate x blockAlign (${sampleRate} x ${blockAlign})`);
      frameBytesPerSecond = sampleRate * blockAlign;
    }
    if (id === 'data') {
      if (dataBytes !== null) return null; // a second data chunk: decoders play it too
      if (size === 0) return null; // a streamed WAV that did not say its size
      dataBytes = size;
    }
    pos = body + size + (size & 1);
  }
  if (dataBytes === null || frameBytesPerSecond <= 0) return null;
  return Math.ceil((dataBytes * 1000) / frameBytesPerSecond);
}
