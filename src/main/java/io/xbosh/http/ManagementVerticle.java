package io.xbosh.http;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.xbosh.config.XboshConfig;
import io.xbosh.pod.Pod;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.websocket.StreamError;
import io.xbosh.websocket.WebSocketSessions;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The management listener ({@code XBOSH_MANAGEMENT_PORT}): probes and metrics, kept off the public
 * BOSH port, and the admin API for this pod's sessions, behind a bearer token
 * ({@code XBOSH_ADMIN_TOKEN_FILE}).
 *
 * <ul>
 *   <li>{@code GET /admin/sessions[?transport=bosh|websocket]}: the sessions this pod owns, BOSH
 *       (sid, pod, JID once bound, client address, age, streams, requests held on this pod) and
 *       WebSocket (the same, with the stream's state instead of requests held), each with its
 *       {@code transport};
 *   <li>{@code GET /admin/sessions/<sid>}: one of them, 404 if this pod does not own it;
 *   <li>{@code GET /admin/pods}: this pod's id and every pod of the deployment with a liveness
 *       record: a deployment's sessions are the union of each pod's list (each pod answers only
 *       for the sessions it owns, whose state it alone holds in memory);
 *   <li>{@code DELETE /admin/sessions/<sid>?condition=<XEP-0124 condition>}: ends it (default
 *       {@code policy-violation}); a WebSocket stream takes an RFC 6120 stream error condition, or
 *       {@code see-other-uri} with {@code &uri=} (or XBOSH_WS_SEE_OTHER_URI) for RFC 7395 §3.6.1;
 *   <li>{@code POST /admin/drain}: starts this pod's drain (as on SIGTERM, without exiting).
 * </ul>
 * Nothing of a session's content is ever shown. One instance: requests are few.
 */
public final class ManagementVerticle extends VerticleBase {

  private static final Logger log = LoggerFactory.getLogger(ManagementVerticle.class);
  static final String ADMIN = "/admin";
  private static final String BOSH = "bosh";
  private static final String WEBSOCKET = "websocket";

  private final XboshConfig config;
  private final Pod pod;
  private final WebSocketSessions webSockets;
  private HttpServer server;

  public ManagementVerticle(XboshConfig config, Pod pod, WebSocketSessions webSockets) {
    this.config = config;
    this.pod = pod;
    this.webSockets = webSockets;
  }

  @Override
  public Future<?> start() {
    Router router = Router.router(vertx);
    HttpVerticle.probes(router, pod);
    if (config.adminToken() != null) {
      router.route(ADMIN + "/*").handler(this::authenticate);
      router.get(ADMIN + "/sessions").handler(this::list);
      router.get(ADMIN + "/sessions/:sid").handler(this::show);
      router.delete(ADMIN + "/sessions/:sid").handler(this::end);
      router.post(ADMIN + "/drain").handler(this::drain);
      router.get(ADMIN + "/pods").handler(this::pods);
    }
    server = vertx.createHttpServer(new HttpServerOptions().setHost(config.httpHost())
        .setPort(config.managementPort()).setIdleTimeout(60)).requestHandler(router);
    return server.listen();
  }

  /** The port the listener is bound to. */
  public int actualPort() {
    return server.actualPort();
  }

  private void authenticate(RoutingContext rc) {
    String header = rc.request().getHeader("Authorization");
    byte[] expected = ("Bearer " + config.adminToken().value()).getBytes(StandardCharsets.UTF_8);
    if (header == null || !MessageDigest.isEqual(expected, header.getBytes(StandardCharsets.UTF_8))) {
      rc.response().putHeader("WWW-Authenticate", "Bearer").setStatusCode(401).end();
      return;
    }
    rc.next();
  }

  private void list(RoutingContext rc) {
    String transport = rc.queryParams().get("transport");
    if (transport != null && !transport.equals(BOSH) && !transport.equals(WEBSOCKET)) {
      json(rc, 400, new JsonObject().put("error", "transport is bosh or websocket"));
      return;
    }
    JsonArray out = new JsonArray();
    if (transport == null || transport.equals(BOSH)) {
      pod.sessions().forEach(s -> out.add(view(s)));
    }
    if (transport == null || transport.equals(WEBSOCKET)) {
      webSockets.views().forEach(s -> out.add(view(s)));
    }
    json(rc, 200, out);
  }

  /** A WebSocket stream: its id stands where a BOSH session's sid does. */
  private JsonObject view(WebSocketSessions.View s) {
    return new JsonObject().put("sid", s.id()).put("transport", WEBSOCKET).put("pod", pod.id()).put("jid", s.jid())
        .put("client", s.client()).put("age_seconds", s.ageSeconds()).put("streams", s.streams()).put("state", s.state());
  }

  private JsonObject view(Pod.SessionView s) {
    JsonObject v = new JsonObject().put("sid", s.sid()).put("transport", BOSH).put("pod", pod.id()).put("jid", s.jid()).put("client", s.client())
        .put("age_seconds", s.ageSeconds()).put("streams", s.streams()).put("held", s.held());
    if (!s.streamJids().isEmpty()) {
      v.put("stream_jids", new JsonObject(new java.util.LinkedHashMap<>(s.streamJids())));
    }
    return v;
  }

  private void show(RoutingContext rc) {
    Pod.SessionView s = pod.session(rc.pathParam("sid"));
    WebSocketSessions.View w = s == null ? webSockets.view(rc.pathParam("sid")) : null;
    if (s != null) {
      json(rc, 200, view(s));
    } else if (w != null) {
      json(rc, 200, view(w));
    } else {
      json(rc, 404, new JsonObject().put("error", "no such session on this pod"));
    }
  }

  private void end(RoutingContext rc) {
    String sid = rc.pathParam("sid");
    String name = rc.queryParams().get("condition");
    if (pod.session(sid) == null && webSockets.view(sid) != null) {
      endWebSocket(rc, sid, name);
      return;
    }
    TerminateCondition condition;
    try {
      condition = name == null ? TerminateCondition.POLICY_VIOLATION : TerminateCondition.fromWireName(name);
    } catch (IllegalArgumentException e) {
      condition = null;
    }
    if (condition == null) {
      json(rc, 400, new JsonObject().put("error", "unknown condition"));
      return;
    }
    TerminateCondition chosen = condition;
    pod.end(sid, chosen).onComplete(ar -> {
      if (ar.failed()) {
        json(rc, 503, new JsonObject().put("error", "the store did not answer"));
      } else if (!ar.result()) {
        json(rc, 404, new JsonObject().put("error", "no such session on this pod"));
      } else {
        json(rc, 200, new JsonObject().put("sid", sid).put("ended", chosen.wireName()));
      }
    });
  }

  /** RFC 6120 stream error conditions for a WebSocket stream, or RFC 7395 §3.6.1's see-other-uri. */
  private void endWebSocket(RoutingContext rc, String id, String name) {
    String uri = null;
    StreamError condition = StreamError.POLICY_VIOLATION;
    if ("see-other-uri".equals(name)) {
      uri = rc.queryParams().get("uri") != null ? rc.queryParams().get("uri") : config.wsSeeOtherUri();
      if (uri == null || !(uri.startsWith("ws://") || uri.startsWith("wss://"))) {
        json(rc, 400, new JsonObject().put("error", "see-other-uri needs a ws:// or wss:// uri (uri= or XBOSH_WS_SEE_OTHER_URI)"));
        return;
      }
    } else if (name != null) {
      condition = StreamError.fromWire(name);
      if (condition == null) {
        json(rc, 400, new JsonObject().put("error", "unknown condition"));
        return;
      }
    }
    if (!webSockets.end(id, condition, uri)) {
      json(rc, 404, new JsonObject().put("error", "no such session on this pod"));
      return;
    }
    json(rc, 200, new JsonObject().put("sid", id).put("ended", uri != null ? "see-other-uri" : condition.wire()));
  }

  /** This pod's id and the deployment's pods: an operator asks each of them for its sessions. */
  private void pods(RoutingContext rc) {
    pod.pods().onComplete(ar -> {
      if (ar.failed()) {
        json(rc, 503, new JsonObject().put("error", "the store did not answer").put("pod", pod.id()));
      } else {
        json(rc, 200, new JsonObject().put("pod", pod.id()).put("pods", new JsonArray(ar.result())));
      }
    });
  }

  private void drain(RoutingContext rc) {
    log.info("drain asked for through the admin API");
    pod.drain(config.drainSeconds() * 1000L);
    json(rc, 202, new JsonObject().put("draining", true).put("sessions", pod.ownedSessions()));
  }

  private static void json(RoutingContext rc, int status, Object body) {
    rc.response().setStatusCode(status).putHeader("Content-Type", "application/json").end(body.toString());
  }

  @Override
  public Future<?> stop() {
    return server.close();
  }
}
