# One coordinator node. Built with the same install step the README uses (scripts/setup), in
# its runtime flavour (no dev tools, no Toxiproxy). Runs as a non-root user; the Raft log and
# snapshots live on the /var/lib/coordinator volume; the health check asks the node's standard
# gRPC health service.
#
#   docker build -t coordinator .
#   docker run -v coordinator-data:/var/lib/coordinator -v $PWD/deploy/dc1.toml:/etc/coordinator/node.toml:ro \
#              -v $PWD/cluster.secret:/etc/coordinator/cluster.secret:ro -p 7001:7001 -p 7101:7101 coordinator
FROM python:3.11-slim

RUN groupadd --system --gid 10001 coordinator \
 && useradd --system --uid 10001 --gid coordinator --home-dir /opt/coordinator --shell /usr/sbin/nologin coordinator \
 && mkdir -p /var/lib/coordinator /etc/coordinator \
 && chown coordinator:coordinator /var/lib/coordinator

WORKDIR /opt/coordinator
COPY pyproject.toml README.md ./
COPY coordinator ./coordinator
COPY chaos ./chaos
COPY scripts ./scripts
RUN scripts/setup --runtime && chown -R coordinator:coordinator /opt/coordinator

ENV PATH=/opt/coordinator/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    COORDINATOR_DATA_DIR=/var/lib/coordinator \
    COORDINATOR_LOG_FORMAT=json
USER coordinator
VOLUME ["/var/lib/coordinator"]
# gRPC (engines, operators, forwarding), Raft (peers only: firewall it), Prometheus metrics
EXPOSE 7001 7101 9101
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["coordinator", "health", "--address", "127.0.0.1:7001"]
ENTRYPOINT ["coordinator", "serve"]
CMD ["--config", "/etc/coordinator/node.toml"]
