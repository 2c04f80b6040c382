# Build: the same flags CI and the tests use for the release binary.
FROM swift:6.3-noble AS build
WORKDIR /build
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product switchyard \
    && cp "$(swift build -c release --static-swift-stdlib --show-bin-path)/switchyard" /build/switchyard \
    && strip /build/switchyard

# Run: a slim image, a non-root user, config/data/logs as volumes.
FROM ubuntu:noble
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin switchyard
WORKDIR /app
COPY --from=build /build/switchyard /usr/local/bin/switchyard
COPY config ./config
RUN mkdir -p data logs && chown -R switchyard:switchyard /app
USER switchyard
ENV SWITCHYARD_HOST=0.0.0.0 SWITCHYARD_PORT=6010 LOG_LEVEL=INFO TZ=UTC
EXPOSE 6010
VOLUME ["/app/config", "/app/data", "/app/logs"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=5s --retries=3 \
    CMD curl -fsS http://127.0.0.1:6010/health || exit 1
ENTRYPOINT ["switchyard"]
CMD ["serve", "--data-dir", "/app/data", "--log-dir", "/app/logs"]
