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
import io.xbosh.websocket.WebSocketEndpoint;
import io.xbosh.websocket.WebSocketSessions;
import java.util.List;

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
  private final WebSocketSessions webSockets;
  private HttpServer server;
  private NetClient netClient;

  public HttpVerticle(XboshConfig config, Pod pod, UpstreamResolver resolver, int port, WebSocketSessions webSockets) {
    this.config = config;
    this.webSockets = webSockets;
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
    Connector connector = new Connector(vertx, resolver, netClient, new Connector.Settings(config.maxStanzaBytes(), config.maxQueuedStanzas(),
        config.maxReadAheadBytes(), config.connectTimeoutMs(), UpstreamSecurity.of(config.upstreamTls(), config.upstreamTrust())));
    BoshHandler bosh = new BoshHandler(pod,
        new BodyParser(32, 64, config.maxBodyBytes()),
        new Negotiator(new Negotiator.Limits(config.maxWait(), config.maxHold(), config.inactivity(),
            config.pollingInactivity(), config.polling())),
        connector,
        new BoshHandler.Settings(config.maxBodyBytes(), config.maxPause(), config.maxStreams(), config.corsOrigins(),
            config.trustForwardedProto()));
    Router router = Router.router(vertx);
    router.route(config.httpPath()).handler(bosh);
    if (config.wsPath() != null) {
      router.get(config.wsPath()).handler(new WebSocketEndpoint(pod, webSockets, connector, new WebSocketEndpoint.Settings(
          config.wsMaxFrameBytes(), config.wsPingSeconds() * 1000L, config.connectTimeoutMs(), config.maxSessions(), config.corsOrigins())));
    }
    router.get(HEALTH_PATH).handler(rc -> rc.response().putHeader("Content-Type", "text/plain").end("ok"));
    router.get(METRICS_PATH).handler(rc -> rc.response()
        .putHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        .end(pod.metrics().scrape()));
    router.get(READY_PATH).handler(rc -> {
      boolean ready = pod.ready();
      rc.response().setStatusCode(ready ? 200 : 503).putHeader("Content-Type", "text/plain")
          .end(ready ? "ready" : pod.draining() ? "draining" : "store unavailable");
    });
    HttpServerOptions options = new HttpServerOptions();
    if (config.wsPath() != null) {
      // RFC 7395 §3.1; messages up to twice the bound reach the session, which answers policy-violation
      options.setWebSocketSubProtocols(List.of("xmpp"))
          .setMaxWebSocketMessageSize(config.wsMaxFrameBytes() * 2)
          .setMaxWebSocketFrameSize(config.wsMaxFrameBytes() * 2);
    }
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

  /** The port the listener is bound to. */
  public int actualPort() {
    return server.actualPort();
  }

  @Override
  public Future<?> stop() {
    return server.close().eventually(() -> netClient.close());
  }
}
