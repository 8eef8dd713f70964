package io.xbosh.testing;

import java.io.IOException;
import java.util.List;

/** A throwaway redis-server on a free port, nothing persisted. */
public final class RedisProcess extends ExternalProcess {

  private final int port;

  private RedisProcess(int port) throws IOException {
    super("redis-server", List.of("redis-server", "--port", Integer.toString(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", System.getProperty("java.io.tmpdir")),
        line -> line.contains("Ready to accept connections"), 20_000);
    this.port = port;
  }

  public static RedisProcess start() throws IOException {
    return new RedisProcess(freePort());
  }

  public int port() {
    return port;
  }

  public String url() {
    return "redis://127.0.0.1:" + port;
  }
}
