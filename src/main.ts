import { Command } from 'commander';
import { serveCommand } from './cli/commands/serve.ts';
import { migrateCommand } from './cli/commands/migrate.ts';
import { adminCommands, userCommands } from './cli/commands/admin.ts';
import { keyCommands } from './cli/commands/key.ts';
import { ledgerCommands } from './cli/commands/ledger.ts';
import { gatewayCommands } from './cli/commands/gateway.ts';
import { redeemCommands } from './cli/commands/redeem.ts';
import { paymentsCommands } from './cli/commands/payments.ts';
import { supportCommands } from './cli/commands/support.ts';
import { teamCommands } from './cli/commands/team.ts';
import { alertCommands } from './cli/commands/alerts.ts';

// `tally <command>`: every command takes --json and then prints one JSON object.
export function buildCli(): Command {
  const program = new Command('tally').description('Tally: an OpenAI-compatible AI API gateway with a double-entry ledger').showHelpAfterError();
  serveCommand(program);
  migrateCommand(program);
  adminCommands(program);
  userCommands(program);
  keyCommands(program);
  ledgerCommands(program);
  gatewayCommands(program);
  redeemCommands(program);
  paymentsCommands(program);
  supportCommands(program);
  teamCommands(program);
  alertCommands(program);
  return program;
}

export async function runCli(argv: string[]): Promise<void> {
  await buildCli().parseAsync(argv);
}
