import type { Kysely } from 'kysely';

// Reasoning tokens a provider reports apart from its output (Gemini
// thoughtsTokenCount) and tool-use prompt tokens reported apart from its
// prompt (Gemini toolUsePromptTokenCount) are billed, and the request log
// keeps the counts it billed. A model may have a long-context tier: above
// tier_above prompt tokens its tier prices apply to the whole request
// (all three null: no tier). Existing rows: 0 and no tier.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('model_prices').addColumn('tier_above', 'bigint').execute();
  await db.schema.alterTable('model_prices').addColumn('tier_input_per_1m', 'bigint').execute();
  await db.schema.alterTable('model_prices').addColumn('tier_output_per_1m', 'bigint').execute();
  await db.schema
    .alterTable('request_logs')
    .addColumn('reasoning_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('request_logs')
    .addColumn('tool_use_prompt_tokens', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(): Promise<void> {
  throw new Error('Tally migrations are forward-only');
}
