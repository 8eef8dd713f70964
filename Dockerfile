# xbosh container image: docker build -t xbosh:0.1.0 .
#
# Stage 1 builds target/xbosh.jar exactly as `mvn package` does; the dependency layer is cached
# until pom.xml changes.
FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /build
COPY pom.xml ./
RUN mvn -B -q dependency:go-offline
COPY src ./src
RUN mvn -B -q package -DskipTests

# Stage 2: a JRE, the jar, a numeric non-root user.
FROM eclipse-temurin:17-jre
RUN groupadd --system --gid 10001 xbosh && useradd --system --uid 10001 --gid 10001 --no-create-home xbosh
WORKDIR /app
COPY --from=build /build/target/xbosh.jar /app/xbosh.jar
USER 10001:10001
EXPOSE 5280
# Heap follows the container's memory limit; the rest is left for Netty's direct buffers and threads.
ENV JAVA_OPTS="-XX:MaxRAMPercentage=70 -XX:+ExitOnOutOfMemoryError"
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD bash -c 'exec 3<>/dev/tcp/127.0.0.1/${XBOSH_HTTP_PORT:-5280} && printf "GET /health HTTP/1.0\r\n\r\n" >&3 && head -1 <&3 | grep -q " 200 "'
# exec: java becomes PID 1 and receives SIGTERM itself, which starts the drain
ENTRYPOINT ["sh", "-c", "exec java $JAVA_OPTS -jar /app/xbosh.jar"]
