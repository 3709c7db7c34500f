// The status page's files: its own (assets/status-page/, beside src/ and dist/) and uPlot's,
// served from the installed package, so the page needs no internet access and no build step.
// Read once at start-up: a handful of small files, and a missing one fails the start, not a visitor.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface Asset {
  contentType: string;
  body: Buffer;
}

const require = createRequire(import.meta.url);
// Two levels up from src/status-page/ and from dist/status-page/ alike.
const OWN = fileURLToPath(new URL('../../assets/status-page/', import.meta.url));

const FILES: Record<string, { path: string; contentType: string }> = {
  'index.html': { path: `${OWN}index.html`, contentType: 'text/html; charset=utf-8' },
  'status.js': { path: `${OWN}status.js`, contentType: 'text/javascript; charset=utf-8' },
  'status.css': { path: `${OWN}status.css`, contentType: 'text/css; charset=utf-8' },
  'uPlot.iife.min.js': { path: require.resolve('uplot/dist/uPlot.iife.min.js'), contentType: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { path: require.resolve('uplot/dist/uPlot.min.css'), contentType: 'text/css; charset=utf-8' },
};

export function loadAssets(): Map<string, Asset> {
  return new Map(Object.entries(FILES).map(([name, file]) => [name, { contentType: file.contentType, body: readFileSync(file.path) }]));
}
