#!/usr/bin/env bash
# The production tree: what the Docker image runs and what `npm run test:shipped` tests, built
# by this one recipe so that the two cannot drift.
#
#   scripts/production-tree.sh DIR
#
# DIR is a checkout of account-sync (a fresh clone, or the image's build context) and becomes
# the production tree: dist/ (with dist/build-info.json naming the commit), prisma/ (the
# migrations), assets/ (the status page's files), package.json and node_modules/ with the
# production dependencies only. Everything else in DIR is deleted.
#
# The commit recorded is $ACCOUNT_SYNC_COMMIT if set (a Docker build has no .git: pass it as a
# build arg), else DIR's git HEAD, else none ("unknown commit").
set -euo pipefail

if [ "$#" -ne 1 ] || [ ! -f "$1/package.json" ]; then
  echo "usage: scripts/production-tree.sh DIR   (DIR: a checkout of account-sync; it becomes the production tree)" >&2
  exit 2
fi
cd "$1"
log() { printf '[production-tree] %s\n' "$*" >&2; }

commit=${ACCOUNT_SYNC_COMMIT:-}
if [ -e .git ]; then
  # It deletes all but the tree: never a checkout with work in it, nor one whose HEAD is not what it holds.
  if [ -n "$(git status --porcelain)" ]; then
    echo "production-tree: $(pwd) has uncommitted changes; run it on a fresh clone (it deletes everything but the production tree)" >&2
    exit 2
  fi
  if [ -z "$commit" ]; then commit=$(git rev-parse HEAD); fi
fi
if [ -n "$commit" ] && ! [[ "$commit" =~ ^[0-9a-f]{7,64}$ ]]; then
  echo "production-tree: ACCOUNT_SYNC_COMMIT must be a commit hash, got \"$commit\"" >&2
  exit 2
fi

# No install scripts: no dependency needs one to run (the Prisma engines' download is not
# wanted, esbuild is a dev tool, msgpackr's native build is optional and pruned), and the
# package's own `prepare` would build a second time. npm 10 (the node image's) and npm 11 (which
# asks for approval of dependencies' scripts) then install alike.
log "npm ci (node $(node --version), npm $(npm --version))"
npm ci --ignore-scripts --no-audit --no-fund
# Generates the Prisma client (scripts/prisma-generate.mjs, no engine download) and compiles.
log "npm run build"
npm run build --silent
if [ -n "$commit" ]; then json="\"$commit\""; else json=null; fi
printf '{"commit":%s}\n' "$json" > dist/build-info.json
log "build-info: commit ${commit:-unknown}"

# The Prisma CLI and TypeScript are optional peers of @prisma/client: only --omit=optional drops
# them. The only other optional package, msgpackr's native accelerator, has a JavaScript fallback.
log "npm prune --omit=dev --omit=optional"
npm prune --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

find . -mindepth 1 -maxdepth 1 \
  ! -name dist ! -name prisma ! -name assets ! -name package.json ! -name node_modules \
  -exec rm -rf {} +
log "done: $(pwd)"
