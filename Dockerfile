# vstorage-iscsid, the iSCSI target daemon, in a container.
#
#   docker build -t vstorage-iscsi .
#   docker run -d --name vstorage-iscsid --network host \
#       -v /vstorage/stor1/iscsi:/vstorage/iscsi \
#       -v vstorage-iscsi-state:/var/lib/vstorage-iscsi \
#       vstorage-iscsi
#   docker exec vstorage-iscsid vstorage-iscsi create -n test1 -a 192.168.10.100
#   docker exec vstorage-iscsid vstorage-iscsi list
#
# --network host: a target listens on its portal addresses (create -a), which
#   are addresses of the node itself; with the container's own network
#   namespace and port mapping initiators could not reach them, and portals
#   of several targets share port 3260.
# /vstorage/iscsi is ISCSI_ROOT: mount the cluster directory every node
#   shares (source document 4.2.1 step 3) there.
# /var/lib/vstorage-iscsi holds this node's host ID, which must outlive the
#   container (or set ISCSI_HOST_ID); never share it between nodes.
# Other settings: the environment variables of packaging/config.example
#   (-e ISCSI_LOG_LEVEL=debug), or a config file mounted at
#   /etc/vstorage/iscsi/config. Logs go to stderr (docker logs).
# `docker stop` sends SIGTERM: the daemon stops its targets cleanly and exits 0.
#
# Every RUN works relative to its WORKDIR, so test/packaging/dockerfile.test.ts
# can replay this file step by step without a Docker engine.

FROM node:20-bookworm-slim AS build
WORKDIR /build
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --no-audit --no-fund
COPY src/ src/
COPY tools/ tools/
COPY docs/ docs/
COPY packaging/ packaging/
COPY README.md ./
RUN npm run build && npm pack

FROM node:20-bookworm-slim
WORKDIR /opt/vstorage-iscsi
COPY --from=build /build/vstorage-iscsi-*.tgz ./
RUN npm install --omit=dev --no-audit --no-fund ./vstorage-iscsi-*.tgz && rm vstorage-iscsi-*.tgz
ENV PATH=/opt/vstorage-iscsi/node_modules/.bin:$PATH \
    ISCSI_ROOT=/vstorage/iscsi \
    ISCSI_RUN_DIR=/run/vstorage-iscsi \
    ISCSI_STATE_DIR=/var/lib/vstorage-iscsi \
    UV_THREADPOOL_SIZE=4
VOLUME ["/vstorage/iscsi", "/var/lib/vstorage-iscsi"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["vstorage-iscsid"]
