# Builds the minicloud binary; the image ships it stripped. Its symbols and
# line tables (for profiles and backtraces) are kept apart:
#   docker build --target symbols --output type=local,dest=symbols .
# writes symbols/minicloud.debug (`perf report --symfs`, or gdb, find it
# through the binary's .gnu_debuglink).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p minicloud-controlplane --bin minicloud \
 && cd target/release \
 && objcopy --only-keep-debug minicloud minicloud.debug \
 && objcopy --strip-all --add-gnu-debuglink=minicloud.debug minicloud

FROM scratch AS symbols
COPY --from=build /src/target/release/minicloud.debug /minicloud.debug

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/minicloud /usr/local/bin/minicloud
ENV MINICLOUD_DATA_DIR=/data MINICLOUD_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["minicloud"]
CMD ["serve"]
