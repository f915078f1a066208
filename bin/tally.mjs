#!/usr/bin/env node
// The `tally` command. Tally runs its TypeScript sources through tsx's loader,
// so a checkout works right after `npm ci` with no build step.
import { register } from 'tsx/esm/api';
register();
const { runCli } = await import('../src/main.ts');
await runCli(process.argv);
