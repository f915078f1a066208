// Worker entry (plain JS): a worker thread does not inherit the main thread's
// TypeScript loader, so it registers tsx itself before loading the worker code.
import { register } from 'tsx/esm/api';

register();
await import('./tokenCountWorkerMain.ts');
