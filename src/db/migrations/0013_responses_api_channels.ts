import type { Kysely } from 'kysely';

// An `openai` channel may declare that its upstream speaks OpenAI's Responses
// API natively (POST <base>/responses): a Responses caller (Codex CLI) is then
// passed through to it unchanged instead of being translated to Chat
// Completions, and `previous_response_id` can reach the upstream that holds
// the response. 1: it does; 0: Chat Completions only (the default).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('channels')
    .addColumn('responses_api', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
