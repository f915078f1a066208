// Payments: top-up orders, providers, exactly-once crediting, reconcile, refunds, compensation.
export * from './orders.ts';
export * from './stateMachine.ts';
export * from './create.ts';
export * from './credit.ts';
export * from './callbacks.ts';
export * from './refunds.ts';
export * from './reconcile.ts';
export * from './compensation.ts';
export * from './duplicates.ts';
export * from './explain.ts';
export type { Payments } from './providers/index.ts';
