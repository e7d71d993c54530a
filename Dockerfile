# RedRock's container image: built in a Rust stage, run from a slim Debian
# stage as a non-root user with the data in a volume.
#
#   docker build -t redrock .
#   docker run -d -p 6666:6666 -v redrock-data:/var/lib/redrock \
#     -e REDROCK_PASSWORD=s3cret redrock
#
# The server listens on 0.0.0.0:6666 in the container, reads
# /etc/redrock/redrock.conf (kvrocks.conf.example: every default) and keeps
# its data in /var/lib/redrock. REDROCK_PASSWORD becomes requirepass through
# a private config file, never the command line; without it the server is
# in protected mode (only loopback clients served, others get DENIED).
# Extra directives go after the image name:
#   docker run redrock redrock-server -c /etc/redrock/redrock.conf \
#     --bind 0.0.0.0 --dir /var/lib/redrock --cluster-enabled yes

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY deploy/install-deps.sh deploy/
RUN deploy/install-deps.sh
COPY . .
RUN deploy/build-release.sh \
 && cp target/release/redrock-server target/release/redrock /usr/local/bin/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/redrock redrock \
 && mkdir -p /var/lib/redrock /etc/redrock \
 && chown redrock:redrock /var/lib/redrock
COPY --from=builder /usr/local/bin/redrock-server /usr/local/bin/redrock /usr/local/bin/
COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY kvrocks.conf.example /etc/redrock/redrock.conf
USER redrock
VOLUME /var/lib/redrock
EXPOSE 6666
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["redrock", "ping"]
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redrock-server", "-c", "/etc/redrock/redrock.conf", "--bind", "0.0.0.0", "--dir", "/var/lib/redrock"]
