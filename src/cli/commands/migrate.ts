import type { Command } from 'commander';
import { loadConfig } from '../../config/index.ts';
import { openDb } from '../../db/index.ts';
import { migrateToLatest } from '../../db/migrate.ts';
import { emit, emitError } from '../output.ts';

export function migrateCommand(program: Command) {
  program
    .command('migrate')
    .description('apply pending database migrations (also done on every start)')
    .option('--json', 'print one JSON object')
    .action(async (o) => {
      try {
        const config = loadConfig();
        const h = openDb(config.databaseUrl);
        try {
          const { applied } = await migrateToLatest(h);
          emit(o, { ok: true, dialect: h.dialect, applied }, applied.length ? `applied ${applied.join(', ')}` : 'database is up to date');
        } finally {
          await h.close();
        }
      } catch (e) {
        emitError(o, e);
      }
    });
}
