package io.xbosh.testing;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.xbosh.Xbosh;
import io.xbosh.config.XboshConfig;
import java.net.URI;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** xbosh started in the test's JVM, on its own Vert.x, on a free loopback port. */
public final class InProcessXbosh implements AutoCloseable {

  private final Vertx vertx;
  private final Xbosh xbosh;

  private InProcessXbosh(Vertx vertx, Xbosh xbosh) {
    this.vertx = vertx;
    this.xbosh = xbosh;
  }

  /** Starts with these settings added to a loopback listener on a free port. */
  public static InProcessXbosh start(Map<String, String> env) throws Exception {
    Map<String, String> all = new HashMap<>(OneClientAddress.withLimitsOff(env));
    all.putIfAbsent("XBOSH_HTTP_HOST", "127.0.0.1");
    all.putIfAbsent("XBOSH_HTTP_PORT", "0");
    // two listener loops whatever the machine: the tests of answers and forwards that cross loops keep crossing
    all.putIfAbsent("XBOSH_EVENT_LOOPS", "2");
    Vertx vertx = Vertx.vertx();
    try {
      return new InProcessXbosh(vertx, await(Xbosh.start(vertx, XboshConfig.from(all))));
    } catch (Exception e) {
      await(vertx.close());
      throw e;
    }
  }

  private static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS);
  }

  public Xbosh xbosh() {
    return xbosh;
  }

  public int port() {
    return xbosh.port();
  }

  public URI endpoint() {
    return URI.create("http://127.0.0.1:" + port() + "/http-bind");
  }

  @Override
  public void close() throws Exception {
    try {
      await(xbosh.stop());
    } finally {
      await(vertx.close());
    }
  }
}
