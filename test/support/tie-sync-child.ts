// A first sync in a process of its own, against tie-server.ts, for a test to kill while it
// writes: `node --import tsx test/support/tie-sync-child.ts DATABASE_URL`.
import { createPrisma } from '../../src/db/prisma.js';
import { silentLogger } from '../../src/logger.js';
import { runSync } from '../../src/sync/run.js';
import { TIE_GROUP, tieClient, tieDataset } from './tie-server.js';

const prisma = createPrisma(process.argv[2]!, { poolSize: 8 });
// The third page (offset 1980) comes back after the second has been fetched and queued.
await runSync({ prisma, client: tieClient(tieDataset(), TIE_GROUP, { offset: 1980, ms: 1500 }), logger: silentLogger() }, { pageSize: 1000, concurrency: 2, maxPages: 1000 });
process.exit(0);
