import type { DbOrTx } from '../../db/index.ts';
import { createChannel } from '../channels.ts';
import { setModelPrice } from '../pricing.ts';
import { DEMO_MODELS } from './upstream.ts';
import { DEMO_VIDEO_MODEL } from './videos.ts';

/** The demo channel and its prices, created on the first start when demo mode is on. */
export async function seedDemoChannel(db: DbOrTx, secret: string): Promise<void> {
  const exists = await db.selectFrom('channels').select('id').where('name', '=', 'demo').executeTakeFirst();
  if (!exists) {
    await createChannel(db, secret, {
      name: 'demo',
      type: 'demo',
      baseUrl: 'internal:demo',
      models: [DEMO_MODELS.chat, DEMO_MODELS.embed, DEMO_VIDEO_MODEL],
      priority: 0,
      weight: 1,
    });
  }
  // $0.50 / $1.50 per 1M tokens for chat, $0.02 per 1M for embeddings.
  await setModelPrice(db, { model: DEMO_MODELS.chat, inputPer1M: 500_000n, outputPer1M: 1_500_000n, kind: 'chat', maxOutputTokens: 1024 });
  await setModelPrice(db, { model: DEMO_MODELS.embed, inputPer1M: 20_000n, outputPer1M: 0n, kind: 'embedding', maxOutputTokens: 1 });
  // $0.01 a second of video, at most 12 seconds (an offline video task: POST /v1/videos).
  await setModelPrice(db, { model: DEMO_VIDEO_MODEL, kind: 'video', perSecond: 10_000n, maxSeconds: 12 });
}
