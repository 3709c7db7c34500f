# account-sync image: installs, generates the Prisma client, builds, and runs as a non-root user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json ./
COPY src ./src
# Dev dependencies (TypeScript, the Prisma CLI) build the image and are then dropped. npm counts
# the Prisma CLI and TypeScript as optional peers of @prisma/client, so only omitting optional
# packages too removes them; the only other optional one, msgpackr's native accelerator, has a
# JavaScript fallback.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --omit=optional

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# No NODE_OPTIONS: the program sets the V8 flags that keep its memory low itself
# (ACCOUNT_SYNC_V8_FLAGS), so the image and `npx account-sync` behave the same.
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/prisma ./prisma
# The status page's own files, served by the worker from beside dist/.
COPY assets ./assets
COPY package.json ./
# Where the bundled simulator leaves its key and settings (a volume in docker-compose.yml);
# owned by the user the image runs as, so that a fresh volume is writable.
RUN mkdir -p /keys && chown node:node /keys
USER node
# The daemon's /healthz, /readyz and /metrics (HEALTH_PORT); the webhook receiver's deliveries
# (WEBHOOK_RECEIVER_PORT) and its /healthz, /readyz and /metrics (WEBHOOK_RECEIVER_HEALTH_PORT).
EXPOSE 9464 9465 9466
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["worker"]
