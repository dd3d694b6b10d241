# The entra-rbac-guard webhook image: `make image` (or docker build .). No Docker engine runs in this project's CI;
# test/chart/dockerfile.test.ts keeps the invariants below true by reading this file.
#
# - Node.js 24 in every stage, the project's runtime (package.json engines and the pinned `node` devDependency).
# - The runtime stage is distroless: node and CA certificates, no shell, no package manager; user 65532 (nonroot).
# - Production dependencies only (npm ci --omit=dev), installed from package-lock.json.
# - No HEALTHCHECK: Kubernetes probes /healthz and /readyz over HTTPS (see the Helm chart).
# - The entry point is the CLI; the default command is `serve`, which the Helm chart replaces with its own arguments.
# - Nothing that needs BuildKit: `docker build`, `az acr build` and other builders take it as it is.

ARG NODE_MAJOR=24

# Compile TypeScript. Scripts are not run: tsc needs none, and the `node` devDependency's binary is not wanted here.
FROM node:${NODE_MAJOR}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Production dependencies only, for the target platform.
FROM node:${NODE_MAJOR}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM gcr.io/distroless/nodejs${NODE_MAJOR}-debian12:nonroot
ARG NODE_MAJOR
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="entra-rbac-guard" \
      org.opencontainers.image.description="Kubernetes validating admission webhook that keeps RBAC bindings on Microsoft Entra groups" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs${NODE_MAJOR}-debian12:nonroot"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps --chown=0:0 /app/node_modules ./node_modules
COPY --from=build --chown=0:0 /src/dist ./dist
COPY --chown=0:0 package.json ./
# Files owned by root and read-only to the process; it runs as 65532 and writes nothing (the chart also mounts the
# root filesystem read-only).
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/bin.js"]
CMD ["serve"]
