export * from './money.ts';
export * from './available.ts';
export * from './accounts.ts';
export * from './transfers.ts';
export * from './holds.ts';
export * from './verify.ts';
export * from './usagePost.ts';
