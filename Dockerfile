# account-sync image: the production tree built by scripts/production-tree.sh (the same recipe
# `npm run test:shipped` builds and tests in CI), run as a non-root user.
#   docker build --build-arg ACCOUNT_SYNC_COMMIT=$(git rev-parse HEAD) -t account-sync .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json ./
COPY src ./src
COPY assets ./assets
# The build context has no .git: the commit that --version, /metrics and sync_runs name comes
# from here ("unknown commit" without it).
ARG ACCOUNT_SYNC_COMMIT=
RUN ACCOUNT_SYNC_COMMIT="$ACCOUNT_SYNC_COMMIT" scripts/production-tree.sh /app

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# No NODE_OPTIONS: the program sets the V8 flags that keep its memory low itself
# (ACCOUNT_SYNC_V8_FLAGS), so the image and `npx account-sync` behave the same.
WORKDIR /app
# dist/, prisma/, assets/ (the status page's files), package.json and the production node_modules.
COPY --from=build /app ./
# Where the bundled simulator leaves its key and settings (a volume in docker-compose.yml);
# owned by the user the image runs as, so that a fresh volume is writable.
RUN mkdir -p /keys && chown node:node /keys
USER node
# The daemon's /healthz, /readyz and /metrics (HEALTH_PORT); the webhook receiver's deliveries
# (WEBHOOK_RECEIVER_PORT) and its /healthz, /readyz and /metrics (WEBHOOK_RECEIVER_HEALTH_PORT).
EXPOSE 9464 9465 9466
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["worker"]
