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
    super("haproxy", List.of("haproxy", "-f", CONFIG, "-db", "-V"), env,
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

  public int port() {
    return port;
  }

  public URI endpoint() {
    return URI.create("http://127.0.0.1:" + port + "/http-bind");
  }
}
