# syntax=docker/dockerfile:1
# Images for Modelplane, one Dockerfile, three targets:
#   docker build --target operator    -t ghcr.io/modelplane/operator:0.1.0 .
#   docker build --target runtime     -t ghcr.io/modelplane/runtime:0.1.0 .
#   docker build --target runtime-gpu -t ghcr.io/modelplane/runtime-gpu:0.1.0 .   (linux/amd64, CUDA 12)
# Every image runs as the unprivileged uid 65532 and holds production dependencies only.

ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04

# ---- build: compile TypeScript, then drop dev dependencies ------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# onnxruntime-node's install script would fetch CUDA libraries; the CPU build ships inside the package.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
# --ignore-scripts: the package's own `prepare` (tsc) needs the sources, which come in the next layer;
# the only dependency install script that matters (onnxruntime-node's CUDA download) is skipped anyway.
RUN --mount=type=cache,target=/root/.npm ONNXRUNTIME_NODE_INSTALL=skip npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY cli ./cli
COPY common ./common
COPY operator ./operator
COPY runtime ./runtime
COPY fetch ./fetch
COPY local ./local
COPY gateway ./gateway
COPY optimize ./optimize
COPY perf ./perf
COPY examples ./examples
# The gRPC service definitions, loaded at run time (tsc does not emit them into dist/).
COPY proto ./proto
RUN npx tsc -p tsconfig.json \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/onnxruntime-node/bin/napi-v*/darwin node_modules/onnxruntime-node/bin/napi-v*/win32

# ---- base: what every image shares -------------------------------------------------------------------
FROM ${NODE_IMAGE} AS base
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.source="https://github.com/modelplane/modelplane" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Modelplane" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/proto ./proto
RUN ln -s /app/bin/modelplane.js /usr/local/bin/modelplane
ENTRYPOINT ["modelplane"]

# ---- operator: the controller (`modelplane operator`) ------------------------------------------------
FROM base AS operator
LABEL org.opencontainers.image.title="modelplane-operator" \
      org.opencontainers.image.description="Modelplane operator: reconciles ModelDeployments into runtime Deployments; the same image runs the gateway (modelplane gateway)"
USER 65532:65532
EXPOSE 8081
CMD ["operator"]

# ---- runtime-gpu: onnxruntime with the CUDA 12 execution provider ------------------------------------
FROM ${NODE_IMAGE} AS node
FROM build AS cuda-libs
# Downloads libonnxruntime_providers_cuda.so and friends next to the CPU binaries.
RUN cd node_modules/onnxruntime-node && ONNXRUNTIME_NODE_INSTALL=cuda12 node ./script/install

FROM ${CUDA_IMAGE} AS runtime-gpu
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.source="https://github.com/modelplane/modelplane" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Modelplane" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.title="modelplane-runtime-gpu" \
      org.opencontainers.image.description="Modelplane inference runtime (onnxruntime CUDA 12): modelplane serve and fetch"
# Official Node binaries are built for glibc 2.28, so the one from the Debian image runs on Ubuntu 22.04.
COPY --from=node /usr/local/bin/node /usr/local/bin/node
ENV NODE_ENV=production
WORKDIR /app
COPY --from=cuda-libs /app/package.json ./package.json
COPY --from=cuda-libs /app/node_modules ./node_modules
COPY --from=cuda-libs /app/dist ./dist
COPY --from=cuda-libs /app/bin ./bin
COPY --from=cuda-libs /app/proto ./proto
RUN ln -s /app/bin/modelplane.js /usr/local/bin/modelplane
USER 65532:65532
EXPOSE 8080 9000
ENTRYPOINT ["modelplane"]
CMD ["serve", "--help"]

# ---- runtime: CPU inference (`modelplane serve`, `modelplane fetch`); last, so a plain build yields it --
FROM base AS runtime
LABEL org.opencontainers.image.title="modelplane-runtime" \
      org.opencontainers.image.description="Modelplane inference runtime (onnxruntime CPU): modelplane serve and fetch"
USER 65532:65532
EXPOSE 8080 9000
CMD ["serve", "--help"]
