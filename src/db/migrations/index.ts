import type { Migration } from 'kysely';
import * as m0001 from './0001_foundation.ts';
import * as m0002 from './0002_gateway.ts';
import * as m0003 from './0003_redeem.ts';
import * as m0004 from './0004_payments.ts';
import * as m0005 from './0005_support.ts';
import * as m0006 from './0006_fewer_transfer_indexes.ts';
import * as m0007 from './0007_approvals.ts';
import * as m0008 from './0008_bounded_attempt_records.ts';
import * as m0009 from './0009_prompt_cache_writes.ts';
import * as m0010 from './0010_reasoning_and_long_context.ts';
import * as m0011 from './0011_azure_channels.ts';
import * as m0012 from './0012_channel_keys.ts';
import * as m0013 from './0013_responses_api_channels.ts';
import * as m0014 from './0014_response_pins.ts';
import * as m0015 from './0015_media_prices.ts';
import * as m0016 from './0016_tasks.ts';
import * as m0017 from './0017_limits_budgets_teams.ts';
import * as m0018 from './0018_teams.ts';
import * as m0019 from './0019_budgets.ts';
import * as m0020 from './0020_alerts.ts';
import * as m0021 from './0021_accounts.ts';
import * as m0022 from './0022_two_factor.ts';
import * as m0023 from './0023_sessions_admin.ts';
import * as m0024 from './0024_probes.ts';
import * as m0025 from './0025_dashboard.ts';

// Every migration, in order. A module that adds tables adds its file here.
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
  '0002_gateway': m0002,
  '0003_redeem': m0003,
  '0004_payments': m0004,
  '0005_support': m0005,
  '0006_fewer_transfer_indexes': m0006,
  '0007_approvals': m0007,
  '0008_bounded_attempt_records': m0008,
  '0009_prompt_cache_writes': m0009,
  '0010_reasoning_and_long_context': m0010,
  '0011_azure_channels': m0011,
  '0012_channel_keys': m0012,
  '0013_responses_api_channels': m0013,
  '0014_response_pins': m0014,
  '0015_media_prices': m0015,
  '0016_tasks': m0016,
  '0017_limits_budgets_teams': m0017,
  '0018_teams': m0018,
  '0019_budgets': m0019,
  '0020_alerts': m0020,
  '0021_accounts': m0021,
  '0022_two_factor': m0022,
  '0023_sessions_admin': m0023,
  '0024_probes': m0024,
  '0025_dashboard': m0025,
};
