# Builds the minicloud binary and the example functions.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p minicloud-controlplane --bin minicloud

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/minicloud /usr/local/bin/minicloud
ENV MINICLOUD_DATA_DIR=/data MINICLOUD_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["minicloud"]
CMD ["serve"]
