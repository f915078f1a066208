export * from './format.ts';
export * from './outcomes.ts';
export * from './limits.ts';
export * from './batches.ts';
export * from './attempts.ts';
export * from './redeem.ts';
export * from './reverse.ts';
export * from './csv.ts';
