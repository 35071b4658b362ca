# Lethe service image: the API (LETHE_ROLE=api), a worker (LETHE_ROLE=worker) or both (all).
# Build: docker build -t lethe .      Run: see docker-compose.yml
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The native tfjs packages are optional: without libtensorflow (no internet) the install goes on
# and the service runs on WASM.
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0 \
    LETHE_DATA_DIR=/data
WORKDIR /app
# Dev dependencies stay: migration scripts and worker threads boot TypeScript through tsx.
COPY --from=build --chown=node:node /app /app
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM reaches node directly (exec form): running jobs get LETHE_JOBS_SHUTDOWN_GRACE_SECONDS.
CMD ["node", "dist/src/main.js"]
