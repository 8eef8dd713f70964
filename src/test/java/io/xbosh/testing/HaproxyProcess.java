package io.xbosh.testing;

import java.io.IOException;
import java.net.URI;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** HAProxy running the sample configuration from docs/load-balancer in front of three pods. */
public final class HaproxyProcess extends ExternalProcess {

  public static final String CONFIG = "docs/load-balancer/haproxy.cfg";

  private final int port;

  private HaproxyProcess(int port, Map<String, String> env) throws IOException {
    this(port, CONFIG, env);
  }

  private HaproxyProcess(int port, String config, Map<String, String> env) throws IOException {
    super("haproxy", List.of("haproxy", "-f", config, "-db", "-V"), env,
        line -> line.contains("Using epoll() as the polling mechanism"), 20_000);
    this.port = port;
  }

  public static HaproxyProcess start(List<XboshProcess> pods) throws IOException {
    if (pods.size() != 3) {
      throw new IllegalArgumentException("the sample configuration names three pods");
    }
    int port = freePort();
    Map<String, String> env = new HashMap<>();
    env.put("LB_BIND", "127.0.0.1:" + port);
    for (int i = 0; i < 3; i++) {
      env.put("POD" + (i + 1), "127.0.0.1:" + pods.get(i).port());
    }
    return new HaproxyProcess(port, env);
  }

  /**
   * The sample configuration with one server line per pod (any number of them): the sample's own
   * "add server lines for more", written to a temporary file.
   */
  public static HaproxyProcess startFor(List<XboshProcess> pods) throws IOException {
    String sample = java.nio.file.Files.readString(java.nio.file.Path.of(CONFIG));
    StringBuilder servers = new StringBuilder();
    Map<String, String> env = new HashMap<>();
    int port = freePort();
    env.put("LB_BIND", "127.0.0.1:" + port);
    for (int i = 0; i < pods.size(); i++) {
      servers.append("    server pod").append(i + 1).append(" \"${POD").append(i + 1).append("}\"\n");
      env.put("POD" + (i + 1), "127.0.0.1:" + pods.get(i).port());
    }
    String config = sample.replaceAll("(?m)^    server pod\\d+ .*\n", "") + servers;
    java.nio.file.Path file = java.nio.file.Files.createTempFile("xbosh-haproxy", ".cfg");
    java.nio.file.Files.writeString(file, config);
    file.toFile().deleteOnExit();
    return new HaproxyProcess(port, file.toString(), env);
  }

  /**
   * A configuration from docs/load-balancer (its three server lines replaced by one per port) in
   * front of pods on these loopback ports.
   */
  public static HaproxyProcess start(String config, List<Integer> podPorts) throws IOException {
    String sample = java.nio.file.Files.readString(java.nio.file.Path.of(config));
    StringBuilder servers = new StringBuilder();
    Map<String, String> env = new HashMap<>();
    int port = freePort();
    env.put("LB_BIND", "127.0.0.1:" + port);
    for (int i = 0; i < podPorts.size(); i++) {
      servers.append("    server pod").append(i + 1).append(" \"${POD").append(i + 1).append("}\"\n");
      env.put("POD" + (i + 1), "127.0.0.1:" + podPorts.get(i));
    }
    java.nio.file.Path file = java.nio.file.Files.createTempFile("xbosh-haproxy", ".cfg");
    java.nio.file.Files.writeString(file, sample.replaceAll("(?m)^    server pod\\d+ .*\n", "") + servers);
    file.toFile().deleteOnExit();
    return new HaproxyProcess(port, file.toString(), env);
  }

  public int port() {
    return port;
  }

  public URI endpoint() {
    return URI.create("http://127.0.0.1:" + port + "/http-bind");
  }
}
