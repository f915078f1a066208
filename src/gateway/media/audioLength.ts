// How long a WAV file plays, read from its RIFF header (the `fmt ` chunk's
// byte rate and the `data` chunk's size): exact, and a few dozen bytes read.
// Other formats (mp3, m4a, ogg, webm...) would need their frames walked; they
// are billed from the duration the upstream reports instead (media/bill.ts).

const MAX_CHUNKS = 64;

/** The play time of the WAV in bytes[start, end), in milliseconds (rounded up), or null when it is not a WAV Tally can read. */
export function wavDurationMs(bytes: Buffer, start: number, end: number): number | null {
  if (end - start < 44 || bytes.toString('latin1', start, start + 4) !== 'RIFF' || bytes.toString('latin1', start + 8, start + 12) !== 'WAVE') return null;
  let pos = start + 12;
  let byteRate = 0;
  for (let i = 0; i < MAX_CHUNKS && pos + 8 <= end; i++) {
    const id = bytes.toString('latin1', pos, pos + 4);
    const size = bytes.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ' && size >= 16 && body + 16 <= end) byteRate = bytes.readUInt32LE(body + 8);
    if (id === 'data') {
      if (byteRate <= 0) return null;
      // A streamed WAV may say 0 or 0xFFFFFFFF: what is there is what plays.
      const available = end - body;
      const length = size === 0 || size > available ? available : size;
      return Math.ceil((length * 1000) / byteRate);
    }
    pos = body + size + (size & 1);
  }
  return null;
}
