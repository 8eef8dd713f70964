# xbosh container image: docker build -t xbosh:0.1.0 .   (podman/buildah: see README)
#
# Base images are named in full (registry/namespace/name:tag), so engines without search
# registries (podman, buildah) find them; pin a digest (@sha256:...) in your own build pipeline.
#
# Stage 1 builds target/xbosh.jar exactly as `mvn package` does. The dependency layer is cached
# until pom.xml changes, and is complete: `package` of an empty project also fetches the build
# plugins (compiler, resources, surefire, jar, shade), so the source stage builds offline.
FROM docker.io/library/maven:3.9.9-eclipse-temurin-17 AS build
WORKDIR /build
COPY pom.xml ./
RUN mvn -B -q dependency:go-offline && mvn -B -q package -DskipTests && rm -rf target
COPY src ./src
RUN mvn -B -q -o package -DskipTests

# Stage 2: a JRE, the jar, a numeric non-root user.
FROM docker.io/library/eclipse-temurin:17.0.13_11-jre
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="xbosh" \
      org.opencontainers.image.description="Horizontally scalable XMPP-over-BOSH connection manager (XEP-0124, XEP-0206)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="docker.io/library/eclipse-temurin:17.0.13_11-jre"
RUN groupadd --system --gid 10001 xbosh && useradd --system --uid 10001 --gid 10001 --no-create-home xbosh
WORKDIR /app
COPY --from=build /build/target/xbosh.jar /app/xbosh.jar
# Class-data-sharing archive (JDK 17: a dynamic archive on top of the JDK's own): a training run
# starts a pod on loopback with the in-process store, runs its warm-up (BOSH sessions against the
# in-process XMPP server, nothing leaves the build) and exits; the JVM writes every class it loaded,
# parsed and verified, and each start of the image maps them instead of loading them from the jar
# (BENCHMARKS.md, "Cold start"). The archive belongs to this JDK and this jar: a JVM that cannot use
# it (another JDK, -Xshare:off) starts without it.
RUN XBOSH_HTTP_HOST=127.0.0.1 XBOSH_HTTP_PORT=0 XBOSH_LOG_LEVEL=WARN \
    java -XX:+UseG1GC -XX:ArchiveClassesAtExit=/app/xbosh.jsa -jar /app/xbosh.jar --warm-up-only \
 && test -s /app/xbosh.jsa
USER 10001:10001
EXPOSE 5280
# Sized for the container (README, "Sizing"): the heap is 55% of the memory limit; Netty's direct
# buffers are capped (by default they may grow as large as the heap, and heap + direct would pass
# the limit, so the kernel would kill the pod before ExitOnOutOfMemoryError); G1 chosen explicitly,
# since under 2 CPUs or 1792 MiB the JVM would pick the Serial collector. JAVA_OPTS is added after
# these, so a flag given there wins. -XX:SharedArchiveFile maps the archive built above; the pod
# itself warms up before /ready (XBOSH_WARMUP_SESSIONS; README).
ENV JAVA_DEFAULT_OPTS="-XX:+UseG1GC -XX:MaxRAMPercentage=55 -XX:MaxDirectMemorySize=96m -XX:+ExitOnOutOfMemoryError -XX:SharedArchiveFile=/app/xbosh.jsa -Xshare:auto" \
    JAVA_OPTS=""
# Kept by `docker build` and `buildah bud --format docker`; the OCI format has no HEALTHCHECK
# (Kubernetes uses its own probes either way).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD bash -c 'exec 3<>/dev/tcp/127.0.0.1/${XBOSH_MANAGEMENT_PORT:-${XBOSH_HTTP_PORT:-5280}} && printf "GET /health HTTP/1.0\r\n\r\n" >&3 && head -1 <&3 | grep -q " 200 "'
# exec: java becomes PID 1 and receives SIGTERM itself, which starts the drain
ENTRYPOINT ["sh", "-c", "exec java $JAVA_DEFAULT_OPTS $JAVA_OPTS -jar /app/xbosh.jar"]
