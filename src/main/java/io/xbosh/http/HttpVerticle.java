package io.xbosh.http;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.Http2Settings;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.impl.VertxConnection;
import io.vertx.ext.web.Router;
import io.xbosh.config.XboshConfig;
import io.xbosh.pod.Pod;
import io.xbosh.polling.PollHandler;
import io.xbosh.protocol.BodyParser;
import io.xbosh.protocol.Negotiator;
import io.xbosh.amqp.AmqpOpener;
import io.xbosh.upstream.Connector;
import io.xbosh.upstream.UpstreamResolver;
import io.xbosh.upstream.UpstreamSecurity;
import io.xbosh.vertx.ConnectionTrim;
import io.xbosh.vertx.WriteQueues;
import io.xbosh.websocket.WebSocketEndpoint;
import io.xbosh.websocket.WebSocketSessions;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** One HTTP listener instance: the BOSH endpoint plus health and readiness. Deploy one per event loop. */
public final class HttpVerticle extends VerticleBase {

  private static final Logger log = LoggerFactory.getLogger(HttpVerticle.class);

  /** Liveness: 200 while the process runs. */
  public static final String HEALTH_PATH = "/health";
  /** Readiness: 200 when the pod takes new work (warmed up, not draining, Redis reachable). */
  public static final String READY_PATH = "/ready";
  /** Prometheus exposition. */
  public static final String METRICS_PATH = "/metrics";

  private final XboshConfig config;
  private final Pod pod;
  private final UpstreamResolver resolver;
  private final ClientLimits limits;
  private final int port;
  private final WebSocketSessions webSockets;
  private HttpServer server;
  private HttpServerOptions options;
  private ConnectionGuard.Settings guard;
  private boolean guardMissingReported;
  private boolean http1OnH2cReported;
  private NetClient netClient;

  /** @param limits the pod's per-address limits, shared by every instance */
  public HttpVerticle(XboshConfig config, Pod pod, UpstreamResolver resolver, ClientLimits limits, int port,
      WebSocketSessions webSockets) {
    this.config = config;
    this.webSockets = webSockets;
    this.pod = pod;
    this.resolver = resolver;
    this.limits = limits;
    this.port = port;
  }

  /** The event loop this listener runs on; null before it is deployed. */
  public io.vertx.core.Context loop() {
    return context;
  }

  @Override
  public Future<?> start() {
    netClient = vertx.createNetClient(new NetClientOptions()
        .setConnectTimeout(config.connectTimeoutMs())
        .setTcpNoDelay(true)
        .setTcpKeepAlive(true));
    Connector connector = new Connector(vertx, resolver, netClient, new Connector.Settings(config.maxStanzaBytes(), config.maxQueuedStanzas(),
        config.maxReadAheadBytes(), config.connectTimeoutMs(), UpstreamSecurity.of(config.upstreamTls(), config.upstreamTrust()),
        config.upstreamProxyProtocol()), limits.connectGate());
    if (!config.amqp().hosts().isEmpty()) {
      // README "Notifications from RabbitMQ": domains served from a broker
      connector = connector.with(new AmqpOpener(vertx, config.amqp(), config.maxStanzaBytes(), config.maxQueuedStanzas(), config.connectTimeoutMs()));
    }
    BoshHandler bosh = new BoshHandler(pod,
        new BodyParser(32, 64, config.maxBodyBytes()),
        new Negotiator(new Negotiator.Limits(config.maxWait(), config.maxHold(), config.inactivity(),
            config.pollingInactivity(), config.polling())),
        connector,
        new BoshHandler.Settings(config.maxBodyBytes(), config.maxPause(), config.maxStreams(), config.corsOrigins(),
            config.trustForwardedProto(), config.trustForwardedFor(), config.preauthSeconds()),
        limits);
    Router router = Router.router(vertx);
    router.route(config.httpPath()).handler(rc -> {
      long start = System.nanoTime();
      // BoshHandler reads the client's address from the request itself: no data map in the
      // routing context of every held request
      rc.addEndHandler(v -> pod.metrics().requestDuration(rc.request().method().name(), rc.response().getStatusCode(),
          System.nanoTime() - start));
      rc.next();
    }).handler(bosh);
    if (config.pollPath() != null) {
      router.route(config.pollPath()).handler(rc -> {
        ClientAddress.record(rc, config.trustForwardedFor());
        rc.next();
      }).handler(new PollHandler(pod, new BodyParser(32, 64, config.maxBodyBytes()),
          new Negotiator(new Negotiator.Limits(config.maxWait(), config.maxHold(), config.inactivity(),
              config.pollingInactivity(), config.polling())),
          connector,
          new PollHandler.Settings(config.pollPath(), config.maxBodyBytes(), config.corsOrigins(), config.trustForwardedProto(),
              config.preauthSeconds()),
          limits));
    }
    if (config.wsPath() != null) {
      router.get(config.wsPath()).handler(rc -> {
        ClientAddress.record(rc, config.trustForwardedFor());
        rc.next();
      }).handler(new WebSocketEndpoint(pod, webSockets, connector, new WebSocketEndpoint.Settings(
          config.wsMaxFrameBytes(), config.wsPingSeconds() * 1000L, config.connectTimeoutMs(), config.maxSessions(), config.corsOrigins())));
    }
    if (!config.separateManagement()) {
      probes(router, pod);
    }
    options = new HttpServerOptions();
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
        .setIdleTimeout(config.maxWait() * 2 + 30)
        // every write to an HTTP/1.x connection happens on its event loop (held requests hop onto
        // it): Vert.x then writes directly and allocates no write queue for the connection, 4.6 KB
        // of an idle session's heap (ARCHITECTURE "Memory per idle session")
        .setStrictThreadMode(true)
        // h2c only when asked for (XBOSH_HTTP2_CLEARTEXT): a load balancer's connections, each
        // carrying the held requests of many sessions; browsers reach HTTP/2 through TLS at a proxy
        .setHttp2ClearTextEnabled(config.http2Cleartext())
        .setInitialSettings(new Http2Settings().setMaxConcurrentStreams(config.maxHeldRequests())));
    guard = new ConnectionGuard.Settings(options, config.headTimeoutMs(), config.bodyTimeoutMs());
    String boshPath = config.httpPath();
    boolean trustForwardedFor = config.trustForwardedFor();
    server.connectionHandler(this::connected).requestHandler(req -> {
      if (req.version() == HttpVersion.HTTP_2) {
        // each HTTP/2 stream has a write queue of its own: the small one while the request is held
        WriteQueues.slim(req);
      }
      if (unroutable(req)) {
        // answered here, before the router, which would log each as an error with a stack trace
        pod.metrics().request("unroutable");
        Transport.lastOnConnection(req).setStatusCode(400).putHeader("Content-Length", "0").end()
            .onComplete(ar -> Transport.endRequest(req));
        return;
      }
      if (boshPath.equals(req.path())) {
        // the BOSH path, nearly every request: straight to its handler, without a routing context
        // (other spellings of the path, such as a trailing slash, still take the router's route)
        bosh(bosh, req, trustForwardedFor);
        return;
      }
      router.handle(req);
    });
    return server.listen();
  }

  private void bosh(BoshHandler bosh, HttpServerRequest req, boolean trustForwardedFor) {
    long start = System.nanoTime();
    try {
      bosh.handle(req, ClientAddress.of(req, trustForwardedFor),
          v -> pod.metrics().requestDuration(req.method().name(), req.response().getStatusCode(), System.nanoTime() - start));
    } catch (RuntimeException e) {
      // what the router's default failure handler would have answered
      log.error("unexpected failure on the BOSH path", e);
      if (!req.response().ended() && !req.response().headWritten()) {
        req.response().setStatusCode(500).end();
      }
    }
  }

  /**
   * A new client connection: counted against the pod's and its address's connection limits (closed
   * at once beyond them), and given head and body deadlines and write backpressure.
   */
  private void connected(HttpConnection conn) {
    // interned: the same string for a client's connections, requests and link (each copy is 48 bytes
    // an idle session would keep)
    String address = conn.remoteAddress() == null ? "?" : conn.remoteAddress().hostAddress().intern();
    if (!limits.connectionOpened(address)) {
      pod.metrics().request("connection_refused");
      conn.close();
      return;
    }
    conn.closeHandler(v -> limits.connectionClosed(address));
    // on a listener that also speaks h2c, Vert.x makes an HTTP/1.x connection only once its first
    // request's head has been decoded (its upgrade handler looks at it first), from inside the
    // decoder's pass: replacing the decoder then would lose the rest of that request (its body);
    // such connections keep Vert.x's own pipeline and idle timeout, without the guard's deadlines
    boolean http1OnH2c = config.http2Cleartext() && conn instanceof VertxConnection;
    boolean guarded = !http1OnH2c && conn instanceof VertxConnection vc
        && ConnectionGuard.install(vc.channelHandlerContext().pipeline(), guard);
    if (conn instanceof VertxConnection vc) {
      ConnectionTrim.trim(vc);
    }
    boolean h2 = !(conn instanceof VertxConnection);
    pod.metrics().connection(h2 ? "h2c" : "http/1.x");
    if (!guarded && h2 && config.http2Cleartext()) {
      // an HTTP/2 connection (a load balancer's, h2c): framed, flow-controlled, its streams bounded
      // by XBOSH_MAX_HELD_REQUESTS; the guard's deadlines are for HTTP/1.x heads and bodies
      return;
    }
    if (http1OnH2c) {
      if (!http1OnH2cReported) {
        http1OnH2cReported = true;
        log.info("HTTP/1.x connection from {} on the h2c listener (XBOSH_HTTP2_CLEARTEXT): no head/body deadlines on "
            + "such connections, only the idle timeout; let clients reach the pods through the load balancer", address);
      }
      return;
    }
    if (!guarded && !guardMissingReported) {
      // the guard relies on Vert.x's HTTP/1.x pipeline; a Vert.x that builds it differently loses the deadlines
      guardMissingReported = true;
      log.warn("connection from {} without head/body deadlines and backpressure: unexpected HTTP pipeline", address);
    }
  }

  /**
   * Requests no route can take: CONNECT, an asterisk form ({@code OPTIONS *}), a path that is not
   * absolute or whose percent-encoding is broken.
   */
  static boolean unroutable(HttpServerRequest req) {
    if (req.method() == HttpMethod.CONNECT) {
      return true;
    }
    String path = req.path();
    if (path == null || !path.startsWith("/")) {
      return true;
    }
    for (int i = 0; i < path.length(); i++) {
      if (path.charAt(i) == '%' && (i + 2 >= path.length()
          || Character.digit(path.charAt(i + 1), 16) < 0 || Character.digit(path.charAt(i + 2), 16) < 0)) {
        return true;
      }
    }
    return false;
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
          .end(ready ? "ready" : pod.draining() ? "draining" : pod.warmingUp() ? "warming up" : "store unavailable");
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
