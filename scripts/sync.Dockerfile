# convo-admin in a small image, for `sync --follow` on a host without systemd (README.md,
# "The sync in a container"): the release binary (CI's artifact convo-admin-<arch>-linux)
# on distroless's glibc base (libc and libgcc only: no shell, no package manager), run as its
# non-root user. The binary trusts the CAs compiled into it, so the image needs no CA store.
#
#   tar -xzf convo-admin-x86_64-linux.tar.gz
#   docker build -f scripts/sync.Dockerfile -t convo-admin-sync convo-admin-x86_64-linux
#
# BASE is any glibc image (bookworm or newer), e.g. one of your registry's.
ARG BASE=gcr.io/distroless/cc-debian12:nonroot
FROM ${BASE}
COPY convo-admin /usr/local/bin/convo-admin
# distroless's "nonroot" user; the mounted password file is given to it (chown 65532).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/convo-admin"]
CMD ["sync", "--follow"]
