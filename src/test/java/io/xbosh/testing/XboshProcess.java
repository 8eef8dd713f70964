package io.xbosh.testing;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** xbosh as operators run it: {@code java -jar target/xbosh.jar} in a JVM of its own, on a free port. */
public final class XboshProcess extends ExternalProcess {

  private static final Path JAR = Path.of("target", "xbosh.jar");

  private final int port;
  private final String nodeId;

  private XboshProcess(String nodeId, int port, Map<String, String> env) throws IOException {
    super("xbosh-" + nodeId, List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar", JAR.toString()), env,
        line -> line.contains("listening on"), 60_000);
    this.port = port;
    this.nodeId = nodeId;
  }

  /** Starts a pod; {@code env} is added to a loopback HTTP listener on a free port and the node id. */
  public static XboshProcess start(String nodeId, Map<String, String> env) throws IOException {
    return start(nodeId, freePort(), env);
  }

  /** Starts a pod on a given port: a restart behind a load balancer that names it by address. */
  public static XboshProcess start(String nodeId, int port, Map<String, String> env) throws IOException {
    if (!Files.isRegularFile(JAR)) {
      throw new IOException(JAR + " is missing: integration tests run after 'mvn package'");
    }
    Map<String, String> all = new HashMap<>(OneClientAddress.withLimitsOff(env));
    all.put("XBOSH_HTTP_HOST", "127.0.0.1");
    all.put("XBOSH_HTTP_PORT", Integer.toString(port));
    all.put("XBOSH_NODE_ID", nodeId);
    all.putIfAbsent("XBOSH_EVENT_LOOPS", "1");
    return new XboshProcess(nodeId, port, all);
  }

  public int port() {
    return port;
  }

  public String nodeId() {
    return nodeId;
  }

  public URI endpoint() {
    return URI.create("http://127.0.0.1:" + port + "/http-bind");
  }
}
