import type { StreamTap } from '../providers/index.ts';

// The stream tap of a speech answer: audio bytes pass to the client as they
// arrive, unchanged and unkept (an audio answer is never buffered); only
// their count is kept, to know whether any audio was produced.

export class MediaTap implements StreamTap {
  bytes = 0;
  push(chunk: Buffer): Buffer {
    this.bytes += chunk.length;
    return chunk;
  }
  flushCarry(): Buffer {
    return Buffer.alloc(0);
  }
  reportedUsage(): null {
    return null;
  }
  received(): Buffer {
    return Buffer.alloc(0);
  }
  producedText(): string {
    return '';
  }
}
