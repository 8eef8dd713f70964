package io.xbosh.http;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.ext.web.Router;
import io.xbosh.config.XboshConfig;
import io.xbosh.pod.Pod;
import io.xbosh.protocol.BodyParser;
import io.xbosh.protocol.Negotiator;
import io.xbosh.upstream.Connector;
import io.xbosh.upstream.UpstreamResolver;
import io.xbosh.upstream.UpstreamSecurity;

/** One HTTP listener instance: the BOSH endpoint plus health and readiness. Deploy one per event loop. */
public final class HttpVerticle extends VerticleBase {

  /** Liveness: 200 while the process runs. */
  public static final String HEALTH_PATH = "/health";
  /** Readiness: 200 when the pod takes new work (not draining, Redis reachable). */
  public static final String READY_PATH = "/ready";
  /** Prometheus exposition. */
  public static final String METRICS_PATH = "/metrics";

  private final XboshConfig config;
  private final Pod pod;
  private final UpstreamResolver resolver;
  private final int port;
  private HttpServer server;
  private NetClient netClient;

  public HttpVerticle(XboshConfig config, Pod pod, UpstreamResolver resolver, int port) {
    this.config = config;
    this.pod = pod;
    this.resolver = resolver;
    this.port = port;
  }

  @Override
  public Future<?> start() {
    netClient = vertx.createNetClient(new NetClientOptions()
        .setConnectTimeout(config.connectTimeoutMs())
        .setTcpNoDelay(true)
        .setTcpKeepAlive(true));
    BoshHandler bosh = new BoshHandler(pod,
        new BodyParser(32, 64, config.maxBodyBytes()),
        new Negotiator(new Negotiator.Limits(config.maxWait(), config.maxHold(), config.inactivity(),
            config.pollingInactivity(), config.polling())),
        new Connector(vertx, resolver, netClient, new Connector.Settings(config.maxStanzaBytes(), config.maxQueuedStanzas(),
            config.connectTimeoutMs(), UpstreamSecurity.of(config.upstreamTls(), config.upstreamTrust()))),
        new BoshHandler.Settings(config.maxBodyBytes(), config.maxPause(), config.maxStreams(), config.corsOrigins(),
            config.trustForwardedProto()));
    Router router = Router.router(vertx);
    router.route(config.httpPath()).handler(rc -> {
      long start = System.nanoTime();
      ClientAddress.record(rc, config.trustForwardedFor());
      rc.addEndHandler(v -> pod.metrics().requestDuration(rc.request().method().name(), rc.response().getStatusCode(),
          System.nanoTime() - start));
      rc.next();
    }).handler(bosh);
    if (!config.separateManagement()) {
      probes(router, pod);
    }
    HttpServerOptions options = new HttpServerOptions();
    if (config.httpTlsCert() != null) {
      options.setSsl(true).setKeyCertOptions(new PemKeyCertOptions().setCertPath(config.httpTlsCert()).setKeyPath(config.httpTlsKey()));
    }
    server = vertx.createHttpServer(options
        .setHost(config.httpHost())
        .setPort(port)
        .setTcpNoDelay(true)
        // script syntax (XEP-0252) carries the whole body, percent-encoded, in the request line
        .setMaxInitialLineLength(Math.max(4096, config.maxBodyBytes() * 3 + 1024))
        .setIdleTimeout(config.maxWait() * 2 + 30))
        .requestHandler(router);
    return server.listen();
  }

  /** {@code /health}, {@code /ready} and {@code /metrics}: on the BOSH port, or on the management port when there is one. */
  static void probes(Router router, Pod pod) {
    router.get(HEALTH_PATH).handler(rc -> rc.response().putHeader("Content-Type", "text/plain").end("ok"));
    router.get(METRICS_PATH).handler(rc -> rc.response()
        .putHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        .end(pod.metrics().scrape()));
    router.get(READY_PATH).handler(rc -> {
      boolean ready = pod.ready();
      rc.response().setStatusCode(ready ? 200 : 503).putHeader("Content-Type", "text/plain")
          .end(ready ? "ready" : pod.draining() ? "draining" : "store unavailable");
    });
  }

  /** The port the listener is bound to. */
  public int actualPort() {
    return server.actualPort();
  }

  @Override
  public Future<?> stop() {
    return server.close().eventually(() -> netClient.close());
  }
}
