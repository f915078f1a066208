// Builds the web console (web/ → web/dist) when web/dist is missing or older
// than its sources, so `npm start` serves a current console with no separate
// build step. `--force` always builds. Without Vite (an install with
// --omit=dev) it says so and exits 0: the server still starts, /console
// explains that the console is not built.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const web = join(root, 'web');
const builtIndex = join(web, 'dist', 'index.html');

function newestMtime(p) {
  const s = statSync(p);
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = s.mtimeMs;
  for (const name of readdirSync(p)) newest = Math.max(newest, newestMtime(join(p, name)));
  return newest;
}

const sources = [join(web, 'src'), join(web, 'index.html'), join(web, 'vite.config.ts'), join(web, 'public')].filter((p) => existsSync(p));
const force = process.argv.includes('--force');
const isStale = () => {
  const builtAt = existsSync(builtIndex) ? statSync(builtIndex).mtimeMs : 0;
  return builtAt < Math.max(...sources.map(newestMtime));
};

if (!force && !isStale()) process.exit(0);

let vite;
try {
  vite = await import('vite');
} catch {
  console.warn('web console: vite is not installed (npm ci without --omit=dev installs it); /console will say it is not built');
  process.exit(0);
}

// Two processes (test files run in parallel, or two starts) must not empty
// web/dist under each other: a directory made with mkdir is the lock.
const lock = join(web, '.build-lock');
const deadline = Date.now() + 120_000;
for (;;) {
  try {
    mkdirSync(lock);
    break;
  } catch (e) {
    if (e.code !== 'EEXIST') throw e;
    if (Date.now() - statSync(lock, { throwIfNoEntry: false })?.mtimeMs > 300_000) rmSync(lock, { recursive: true, force: true }); // left by a killed build
    if (Date.now() > deadline) throw new Error(`web console: ${lock} is held for too long; remove it if no build is running`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
try {
  // Whoever held the lock may just have built it.
  if (force || isStale()) {
    const started = Date.now();
    console.log('web console: building web/ → web/dist ...');
    await vite.build({ configFile: join(web, 'vite.config.ts'), root: web, logLevel: 'warn' });
    console.log(`web console: built in ${Date.now() - started} ms`);
  }
} finally {
  rmSync(lock, { recursive: true, force: true });
}
