package io.xbosh.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.xbosh.http.HttpVerticle;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.ExternalProcess;
import io.xbosh.testing.ProsodyProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The image built from the project's Dockerfile with buildah and run with podman, without a
 * container registry: the two base images the Dockerfile pins are stand-ins built from Debian
 * packages by {@code docs/ops/offline-base-images.sh} (kept in {@code ~/.cache/xbosh-image-test}
 * under a hash of that script and the FROM lines, so only the first run builds them), loaded into
 * a throwaway rootful storage under a temp dir. The build stage reuses the local Maven repository
 * through an overlay mount (its writes are discarded) and trusts what this machine trusts.
 * Skipped, with the reason, where buildah, podman or root is missing or no OCI runtime can start a
 * container here.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ImageBuildIT {

  private static final Path DOCKERFILE = Path.of("Dockerfile");
  private static final Path SCRIPT = Path.of("docs", "ops", "offline-base-images.sh");
  private static final Duration COMMAND_TIMEOUT = Duration.ofMinutes(15);
  private static final String JAVA_OPTS = "-XX:MaxRAMPercentage=10 -Dxbosh.image.test=1";

  private static Path storage;
  private static List<String> podman;
  private static List<String> buildah;
  private static String image;
  private static String container;
  private static ProsodyProcess prosody;
  private static int httpPort;
  private static int managementPort;
  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  @BeforeAll
  static void buildAndStart() throws Exception {
    for (String tool : List.of("buildah", "podman")) {
      assumeTrue(onPath(tool), tool + " is not installed: the image is not built here (apt-get install buildah podman)");
    }
    assumeTrue("root".equals(System.getProperty("user.name")),
        "the image test uses a rootful containers/storage under a temp dir: run it as root");
    Path bases = baseImages();
    storage = Files.createTempDirectory("xbosh-image-");
    String driver = loadBaseImages(bases);
    buildah = List.of("buildah", "--root", storage.resolve("root").toString(), "--runroot", storage.resolve("run").toString(),
        "--storage-driver", driver);
    image = "localhost/xbosh-image-test:" + UUID.randomUUID().toString().substring(0, 8);
    List<String> bud = new ArrayList<>(buildah);
    // --format docker keeps HEALTHCHECK; chroot isolation and the host's network suit a sandboxed
    // build host (no nested namespaces needed); Maven Central is the only thing the build reaches
    bud.addAll(List.of("bud", "--format=docker", "--isolation=chroot", "--network", "host", "--layers=false"));
    Path m2 = Path.of(System.getProperty("user.home"), ".m2", "repository");
    if (Files.isDirectory(m2)) {
      bud.addAll(List.of("--volume", m2 + ":/root/.m2/repository:O"));
    }
    Path cacerts = Path.of("/etc/ssl/certs/java/cacerts");
    if (Files.isRegularFile(cacerts)) {
      // the stand-in JDK's trust store is this file: a TLS-intercepting egress proxy's CA is trusted as here
      bud.addAll(List.of("--volume", cacerts + ":" + cacerts + ":ro"));
    }
    bud.addAll(List.of("--tag", image, "."));
    run(bud);
    podman = podmanWithWorkingRuntime(driver);

    prosody = ProsodyProcess.start(Map.of("ivy", "ivy-pw"));
    httpPort = ExternalProcess.freePort();
    managementPort = ExternalProcess.freePort();
    container = "xbosh-image-test-" + UUID.randomUUID().toString().substring(0, 8);
    List<String> start = new ArrayList<>(podman);
    start.addAll(List.of("run", "--detach", "--name", container, "--network", "host",
        "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
        "--env", "XBOSH_HTTP_HOST=127.0.0.1", "--env", "XBOSH_HTTP_PORT=" + httpPort,
        "--env", "XBOSH_MANAGEMENT_PORT=" + managementPort, "--env", "XBOSH_NODE_ID=image-pod",
        "--env", "XBOSH_UPSTREAM=127.0.0.1:" + prosody.c2sPort(),
        "--env", "XBOSH_MAX_SESSIONS=1000", "--env", "XBOSH_MAX_CONNECTIONS=1000",
        "--env", "JAVA_OPTS=" + JAVA_OPTS, image));
    run(start);
    await("/ready on the management port").atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(250))
        .ignoreExceptions().until(() -> get(managementPort, HttpVerticle.READY_PATH).statusCode() == 200);
  }

  @AfterAll
  static void cleanUp() throws Exception {
    try {
      if (podman != null) {
        quietly(concat(podman, "rm", "--force", "--all"));
        quietly(concat(podman, "rmi", "--force", "--all"));
      }
      if (buildah != null) {
        quietly(concat(buildah, "rm", "--all"));
      }
    } finally {
      if (prosody != null) {
        prosody.close();
      }
      if (storage != null) {
        deleteStorage(storage);
      }
    }
  }

  @Test
  @Order(1)
  void theImageKeepsTheDockerfilesSettings() throws Exception {
    JsonObject inspected = new JsonArray(run(concat(podman, "image", "inspect", image))).getJsonObject(0);
    JsonObject config = inspected.getJsonObject("Config");
    assertThat(config.getString("User")).isEqualTo(dockerfile("^USER (\\S+)$")).matches("[1-9][0-9]*:[0-9]+");
    assertThat(config.getJsonArray("Entrypoint").getList()).containsExactly("sh", "-c", "exec java $JAVA_DEFAULT_OPTS $JAVA_OPTS -jar /app/xbosh.jar");
    assertThat(config.getJsonObject("ExposedPorts").fieldNames()).containsExactly("5280/tcp");
    JsonObject labels = config.getJsonObject("Labels");
    assertThat(labels.getString("org.opencontainers.image.title")).isEqualTo("xbosh");
    assertThat(labels.getString("org.opencontainers.image.version")).isNotBlank().doesNotContain("$");
    assertThat(labels.getString("org.opencontainers.image.base.name")).isEqualTo(runtimeBase());
    // the docker format keeps HEALTHCHECK (OCI has no such field)
    JsonObject health = inspected.getJsonObject("Healthcheck");
    assertThat(health).as("HEALTHCHECK kept by --format docker").isNotNull();
    assertThat(String.join(" ", health.getJsonArray("Test").getList())).contains(HttpVerticle.HEALTH_PATH);
  }

  @Test
  @Order(2)
  void runsAsTheNonRootUserWithJavaAsPidOneAndJavaOptsAfterTheDefaults() throws Exception {
    assertThat(run(concat(podman, "exec", container, "id", "-u")).trim()).isEqualTo("10001");
    String cmdline = run(concat(podman, "exec", container, "cat", "/proc/1/cmdline")).replace('\0', ' ').trim();
    String defaults = dockerfile("ENV JAVA_DEFAULT_OPTS=\"([^\"]*)\"");
    assertThat(cmdline).startsWith("java " + defaults + " " + JAVA_OPTS + " -jar /app/xbosh.jar");
    // and the JVM took them: G1 from the defaults, the heap from JAVA_OPTS' later MaxRAMPercentage,
    // compared with what a JVM in the same container computes with and without JAVA_OPTS
    String metrics = get(managementPort, HttpVerticle.METRICS_PATH).body();
    assertThat(metrics).contains("id=\"G1 Old Gen\"");
    Matcher heap = Pattern.compile("jvm_memory_max_bytes\\{area=\"heap\",id=\"G1 Old Gen\"[^}]*} (\\S+)").matcher(metrics);
    assertThat(heap.find()).as("heap maximum in /metrics").isTrue();
    double heapMax = Double.parseDouble(heap.group(1));
    double withJavaOpts = maxHeapSize("$JAVA_DEFAULT_OPTS $JAVA_OPTS");
    double defaultsOnly = maxHeapSize("$JAVA_DEFAULT_OPTS");
    assertThat(withJavaOpts).as("JAVA_OPTS' MaxRAMPercentage=10 against the defaults' 55").isLessThan(defaultsOnly * 0.5);
    assertThat(heapMax).as("xbosh's heap maximum").isBetween(withJavaOpts * 0.98, withJavaOpts * 1.02);
  }

  /** MaxHeapSize of a JVM started in the running container with these options. */
  private static double maxHeapSize(String options) throws Exception {
    String flags = run(concat(podman, "exec", container, "sh", "-c", "exec java " + options + " -XX:+PrintFlagsFinal -version"));
    Matcher m = Pattern.compile("size_t MaxHeapSize\\s+=\\s+(\\d+)").matcher(flags);
    assertThat(m.find()).as("MaxHeapSize in -XX:+PrintFlagsFinal").isTrue();
    return Double.parseDouble(m.group(1));
  }

  @Test
  @Order(3)
  void servesProbesOnTheManagementPortAndABoshSessionOnTheBoshPort() throws Exception {
    assertThat(get(managementPort, HttpVerticle.READY_PATH).statusCode()).isEqualTo(200);
    assertThat(get(managementPort, HttpVerticle.HEALTH_PATH).statusCode()).isEqualTo(200);
    assertThat(get(httpPort, HttpVerticle.READY_PATH).statusCode()).as("probes leave the BOSH port").isEqualTo(404);
    URI endpoint = URI.create("http://127.0.0.1:" + httpPort + "/http-bind");
    BoshSession s = BoshSession.login(HTTP, List.of(endpoint), ProsodyProcess.DOMAIN, "ivy", "ivy-pw", "image");
    assertThat(s.sid).isNotBlank();
    assertThat(BoshSession.pingResult(s, ProsodyProcess.DOMAIN, "img1")).contains("type=\"result\"").contains("id=\"img1\"");
  }

  @Test
  @Order(4)
  void itsHealthcheckPasses() throws Exception {
    // runs the image's HEALTHCHECK command inside the container, as the engine's timer would
    run(concat(podman, "healthcheck", "run", container));
  }

  @Test
  @Order(5)
  void sigtermReachesJavaAndStartsTheDrain() throws Exception {
    run(concat(podman, "stop", "--time", "60", container));
    String logs = run(concat(podman, "logs", container));
    assertThat(logs).contains("draining:");
    JsonObject state = new JsonArray(run(concat(podman, "container", "inspect", container))).getJsonObject(0).getJsonObject("State");
    assertThat(state.getBoolean("Running")).isFalse();
  }

  // ---- base images, storage and commands

  /** The stand-in base images in the cache, built by the script on the first run. */
  private static Path baseImages() throws Exception {
    MessageDigest sha = MessageDigest.getInstance("SHA-256");
    sha.update(Files.readAllBytes(SCRIPT));
    sha.update((buildBase() + "\n" + runtimeBase()).getBytes(StandardCharsets.UTF_8));
    String key = HexFormat.of().formatHex(sha.digest()).substring(0, 16);
    String xdg = System.getenv("XDG_CACHE_HOME");
    Path cache = (xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache"))
        .resolve("xbosh-image-test").resolve(key);
    if (Files.isRegularFile(cache.resolve("build.tar")) && Files.isRegularFile(cache.resolve("runtime.tar"))) {
      return cache;
    }
    assumeTrue(onPath("mmdebstrap"), "mmdebstrap is not installed: the stand-in base images cannot be built (apt-get install mmdebstrap)");
    Files.createDirectories(cache.getParent());
    Path building = Files.createTempDirectory(cache.getParent(), key + ".building-");
    try {
      run(List.of("sh", SCRIPT.toString(), building.toString()));
      try {
        Files.move(building, cache, StandardCopyOption.ATOMIC_MOVE);
      } catch (FileSystemException e) {
        if (!Files.isRegularFile(cache.resolve("runtime.tar"))) {
          throw e;
        }
        // another run finished first: its copy is used
      }
    } finally {
      deleteTree(building);
    }
    return cache;
  }

  /** Loads both base images, on the overlay driver where the kernel allows it, else on vfs. */
  private static String loadBaseImages(Path bases) throws Exception {
    List<String> failures = new ArrayList<>();
    for (String driver : List.of("overlay", "vfs")) {
      List<String> p = List.of("podman", "--root", storage.resolve("root").toString(), "--runroot",
          storage.resolve("run").toString(), "--storage-driver", driver);
      try {
        run(concat(p, "load", "--quiet", "--input", bases.resolve("runtime.tar").toString()));
        run(concat(p, "load", "--quiet", "--input", bases.resolve("build.tar").toString()));
        return driver;
      } catch (IOException e) {
        failures.add(driver + ": " + e.getMessage());
        quietly(concat(p, "system", "reset", "--force"));
        deleteTree(storage.resolve("root"));
        deleteTree(storage.resolve("run"));
      }
    }
    throw new IOException("no storage driver works here:\n" + String.join("\n", failures));
  }

  /**
   * podman with the first OCI runtime that starts a container here: crun refuses cgroup v1 with a
   * controller on the v2 hierarchy as well (hybrid mode), runc takes it. No systemd is assumed
   * (cgroupfs, events in a file).
   */
  private static List<String> podmanWithWorkingRuntime(String driver) throws Exception {
    List<String> failures = new ArrayList<>();
    for (String runtime : List.of("crun", "runc")) {
      if (!onPath(runtime)) {
        failures.add(runtime + ": not installed");
        continue;
      }
      List<String> p = List.of("podman", "--root", storage.resolve("root").toString(), "--runroot",
          storage.resolve("run").toString(), "--storage-driver", driver, "--runtime", runtime,
          "--cgroup-manager", "cgroupfs", "--events-backend", "file");
      try {
        run(concat(p, "run", "--rm", "--network", "host", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
            "--entrypoint", "true", image));
        return p;
      } catch (IOException e) {
        failures.add(runtime + ": " + e.getMessage().lines().filter(l -> l.contains("rror")).findFirst().orElse(e.getMessage()));
      }
    }
    assumeTrue(false, "podman cannot start a container here (the image was built):\n" + String.join("\n", failures));
    throw new AssertionError("unreachable");
  }

  private static String buildBase() {
    return dockerfile("^FROM (\\S+) AS build$");
  }

  private static String runtimeBase() {
    List<String> froms = DOCKERFILE_TEXT.lines().filter(l -> l.startsWith("FROM ")).toList();
    return froms.get(froms.size() - 1).split("\\s+")[1];
  }

  private static final String DOCKERFILE_TEXT;

  static {
    try {
      DOCKERFILE_TEXT = Files.readString(DOCKERFILE);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String dockerfile(String regex) {
    Matcher m = Pattern.compile(regex, Pattern.MULTILINE).matcher(DOCKERFILE_TEXT);
    assertThat(m.find()).as("Dockerfile has " + regex).isTrue();
    return m.group(1);
  }

  private static HttpResponse<String> get(int port, String path) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  private static boolean onPath(String program) {
    return Stream.of(System.getenv().getOrDefault("PATH", "").split(":")).anyMatch(d -> Files.isExecutable(Path.of(d, program)));
  }

  private static List<String> concat(List<String> head, String... tail) {
    List<String> all = new ArrayList<>(head);
    all.addAll(Arrays.asList(tail));
    return all;
  }

  /** Runs a command to its end; its output (stderr merged), or an IOException carrying it. */
  private static String run(List<String> command) throws IOException, InterruptedException {
    Path out = Files.createTempFile("xbosh-image-cmd", ".log");
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
      if (!p.waitFor(COMMAND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        throw new IOException(String.join(" ", command) + " did not end within " + COMMAND_TIMEOUT + ":\n" + tail(out));
      }
      if (p.exitValue() != 0) {
        throw new IOException(String.join(" ", command) + " exited with " + p.exitValue() + ":\n" + tail(out));
      }
      return Files.readString(out, StandardCharsets.UTF_8);
    } finally {
      Files.deleteIfExists(out);
    }
  }

  private static String tail(Path log) throws IOException {
    List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
  }

  private static void quietly(List<String> command) {
    try {
      run(command);
    } catch (IOException e) {
      // clean-up goes on; what is left is under the temp dir removed next
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Unmounts whatever containers/storage left mounted under the dir, then deletes it. */
  private static void deleteStorage(Path dir) throws IOException, InterruptedException {
    String root = dir.toRealPath().toString();
    List<String> mounts = Files.readAllLines(Path.of("/proc/self/mounts")).stream().map(l -> l.split(" ")[1])
        .filter(m -> m.startsWith(root + "/")).sorted(Comparator.reverseOrder()).toList();
    for (String m : mounts) {
      quietly(List.of("umount", "--lazy", m));
    }
    deleteTree(dir);
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> all = Files.walk(dir)) {
      for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
