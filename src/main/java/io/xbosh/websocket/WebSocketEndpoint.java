package io.xbosh.websocket;

import io.vertx.core.Context;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.ext.web.RoutingContext;
import io.xbosh.pod.Pod;
import io.xbosh.upstream.Connector;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The XMPP-over-WebSocket endpoint (RFC 7395) beside BOSH on the same listener: checks the
 * handshake, upgrades it and starts a {@link WebSocketSession} on the socket's event loop.
 *
 * <p>Handshake answers: 426 without a WebSocket upgrade, 400 when the client does not offer the
 * {@code xmpp} subprotocol (RFC 7395 §3.1), 403 for a page from an origin that may not use xbosh,
 * 503 while the pod drains or is full.
 */
public final class WebSocketEndpoint implements Handler<RoutingContext> {

  private static final Logger log = LoggerFactory.getLogger(WebSocketEndpoint.class);

  /** The endpoint's settings. */
  public record Settings(int maxFrameBytes, long pingMs, long openTimeoutMs, int maxSessions, Set<String> corsOrigins) {
  }

  private final Pod pod;
  private final WebSocketSessions sessions;
  private final Connector connector;
  private final FrameParser parser;
  private final Settings settings;
  private final WebSocketSession.Settings sessionSettings;

  /** @param connector the BOSH connector; its links here re-serialise stanzas to stand alone */
  public WebSocketEndpoint(Pod pod, WebSocketSessions sessions, Connector connector, Settings settings) {
    this.pod = pod;
    this.sessions = sessions;
    this.connector = connector.standalone();
    this.parser = new FrameParser(settings.maxFrameBytes());
    this.settings = settings;
    this.sessionSettings = new WebSocketSession.Settings(settings.maxFrameBytes(), settings.pingMs(), settings.openTimeoutMs());
  }

  @Override
  public void handle(RoutingContext rc) {
    HttpServerRequest req = rc.request();
    if (!"websocket".equalsIgnoreCase(req.getHeader(HttpHeaders.UPGRADE))) {
      refuse(rc, 426, "WebSocket upgrade expected");
      return;
    }
    if (!offersXmpp(req.getHeader("Sec-WebSocket-Protocol"))) {
      // RFC 7395 §3.1: the xmpp subprotocol, or no XMPP
      refuse(rc, 400, "the xmpp subprotocol is required");
      return;
    }
    if (!originAllowed(req)) {
      refuse(rc, 403, "origin not allowed");
      return;
    }
    if (pod.draining()) {
      refuse(rc, 503, "draining");
      return;
    }
    if (sessions.count() + pod.ownedSessions() >= settings.maxSessions()) {
      refuse(rc, 503, "pod at capacity");
      return;
    }
    Context context = Vertx.currentContext();
    String client = io.xbosh.http.ClientAddress.of(rc);
    req.toWebSocket().onComplete(ar -> {
      if (ar.failed()) {
        log.debug("WebSocket handshake failed: {}", ar.cause().getMessage());
        return;
      }
      String id = "ws-" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 1);
      WebSocketSession session = new WebSocketSession(pod.vertx(), context, id, ar.result(), connector, parser, sessionSettings, sessions, client);
      sessions.add(session);
      log.debug("ws={} WebSocket from {}", id, ar.result().remoteAddress());
      session.start();
    });
  }

  private static void refuse(RoutingContext rc, int status, String why) {
    log.debug("WebSocket handshake refused ({}): {}", status, why);
    var res = rc.response().setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "text/plain");
    if (status == 426) {
      res.putHeader(HttpHeaders.UPGRADE, "websocket");
    }
    res.end(why);
  }

  static boolean offersXmpp(String header) {
    if (header == null) {
      return false;
    }
    for (String token : header.split(",")) {
      if (token.trim().equals(Framing.SUBPROTOCOL)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Browsers send Origin and do not apply CORS to WebSockets, so the check is xbosh's: a page of the
   * same origin as the endpoint, or one listed in XBOSH_CORS_ORIGINS ({@code *}: any), may connect;
   * no list means no cross-origin page, as for BOSH. A handshake without Origin comes from a
   * non-browser client, which could send any Origin it likes; it is admitted.
   */
  private boolean originAllowed(HttpServerRequest req) {
    String origin = req.getHeader(HttpHeaders.ORIGIN);
    if (origin == null) {
      return true;
    }
    Set<String> allowed = settings.corsOrigins();
    if (allowed.contains("*") || allowed.contains(origin)) {
      return true;
    }
    String host = req.getHeader(HttpHeaders.HOST);
    int scheme = origin.indexOf("://");
    return host != null && scheme > 0 && origin.substring(scheme + 3).toLowerCase(Locale.ROOT).equals(host.toLowerCase(Locale.ROOT));
  }
}
