package io.xbosh.websocket;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.xbosh.metrics.XboshMetrics;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The WebSocket streams of this pod, shared by its event loops: counted for capacity and metrics,
 * drained and shut down with the pod. Each stream stays on the event loop of its socket; this only
 * keeps references and reaches them by {@code runOnContext}.
 */
public final class WebSocketSessions {

  private static final Logger log = LoggerFactory.getLogger(WebSocketSessions.class);
  private static final long POLL_MS = 100;

  private final Vertx vertx;
  private final XboshMetrics metrics;
  private final Map<String, WebSocketSession> sessions = new ConcurrentHashMap<>();

  public WebSocketSessions(Vertx vertx, XboshMetrics metrics) {
    this.vertx = vertx;
    this.metrics = metrics;
  }

  /** Open WebSocket streams on this pod. */
  public int count() {
    return sessions.size();
  }

  XboshMetrics metrics() {
    return metrics;
  }

  /**
   * A stream as the admin API shows it: nothing of its content. {@code jid} is the JID the server
   * bound (null until then); {@code streams} counts stream headers sent to the server (the first,
   * then one per restart; 0 before the client's {@code <open/>}); {@code state} is the stream's
   * state (awaiting-open, connecting, open, closing, closed).
   */
  public record View(String id, String client, long ageSeconds, String jid, int streams, String state) {
  }

  /** This pod's streams, oldest first. */
  public java.util.List<View> views() {
    return sessions.values().stream().map(WebSocketSession::view)
        .sorted(java.util.Comparator.comparingLong(View::ageSeconds).reversed().thenComparing(View::id)).toList();
  }

  /** One of this pod's streams, or null. */
  public View view(String id) {
    WebSocketSession s = sessions.get(id);
    return s == null ? null : s.view();
  }

  /**
   * Ends one of this pod's streams as an operator asks: with {@code seeOtherUri}, {@code <close
   * see-other-uri=.../>} (RFC 7395 §3.6.1); else the stream error {@code condition}, then
   * {@code <close/>}. Either way the server's stream ends cleanly.
   *
   * @return false when this pod holds no such stream
   */
  public boolean end(String id, StreamError condition, String seeOtherUri) {
    WebSocketSession s = sessions.get(id);
    if (s == null) {
      return false;
    }
    log.info("ws={} ended by an operator with {}", id, seeOtherUri != null ? "see-other-uri " + seeOtherUri : condition.wire());
    if (seeOtherUri != null) {
      s.redirect(seeOtherUri);
    } else {
      s.end(condition);
    }
    return true;
  }

  /** A live stream, for tests and the admin view. */
  WebSocketSession get(String id) {
    return sessions.get(id);
  }

  java.util.Set<String> ids() {
    return java.util.Set.copyOf(sessions.keySet());
  }

  void add(WebSocketSession s) {
    sessions.put(s.id(), s);
    metrics.webSocketStarted();
  }

  void remove(WebSocketSession s) {
    sessions.remove(s.id(), s);
  }

  /**
   * SIGTERM: with a {@code seeOtherUri}, every client is told at once to reconnect there (RFC 7395
   * §3.6.1) and its stream ends; without one, streams go on until they end or the time is up.
   *
   * @return completes when no stream is left or {@code drainMs} has passed
   */
  public Future<Void> drain(long drainMs, String seeOtherUri) {
    log.info("draining: {} WebSocket streams{}", sessions.size(), seeOtherUri == null ? "" : ", sent to " + seeOtherUri);
    if (seeOtherUri != null) {
      sessions.values().forEach(s -> s.redirect(seeOtherUri));
    }
    return whenEmpty(drainMs);
  }

  /** Ends every stream with system-shutdown; completes when they are closed (or after a few seconds). */
  public Future<Void> shutdown() {
    sessions.values().forEach(WebSocketSession::shutdown);
    return whenEmpty(5000);
  }

  private Future<Void> whenEmpty(long ms) {
    if (sessions.isEmpty()) {
      return Future.succeededFuture();
    }
    Promise<Void> done = Promise.promise();
    long deadline = System.nanoTime() + ms * 1_000_000L;
    vertx.setPeriodic(POLL_MS, t -> {
      if (sessions.isEmpty() || System.nanoTime() >= deadline) {
        vertx.cancelTimer(t);
        done.tryComplete();
      }
    });
    return done.future();
  }
}
