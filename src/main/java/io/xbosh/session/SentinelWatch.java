package io.xbosh.session;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.vertx.redis.client.ResponseType;
import java.util.List;
import java.util.Objects;
import java.util.function.BiConsumer;
import java.util.function.IntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows the master of a Sentinel deployment: one connection to a sentinel subscribed to
 * {@code +switch-master}, and the master's address asked for whenever that connection is made (a
 * switch while it was down is seen then).
 *
 * <p>Why a pod needs this beyond what its Sentinel client does by itself: the client resolves the
 * master through a topology it caches for a second, and a {@code SENTINEL FAILOVER} (or a
 * partition) leaves the old master up and taking writes until Sentinel turns it into a replica,
 * which may be ten seconds later. A pod that went on writing there for that second, or reading the
 * pod channel there for those ten, would lose what it wrote (the old master's data is replaced by
 * the new one's) and the notices published on the new one. On a switch the pod moves its commands
 * and its channel to the new master at once ({@link #onMoved}).
 */
public final class SentinelWatch {

  private static final Logger log = LoggerFactory.getLogger(SentinelWatch.class);
  private static final String CHANNEL = "+switch-master";
  private static final long MAX_BACKOFF_MS = 2000;

  private final Vertx vertx;
  private final Context context;
  private final String masterName;
  private final int sentinels;
  /** a one-connection-plus-one client of the sentinel at that index (of the configured list) */
  private final IntFunction<Redis> sentinel;
  /** (index of the sentinel that told, new master as host:port), on this watch's context */
  private BiConsumer<Integer, String> moved = (i, m) -> {
  };
  /** the master's address as last seen, host:port; null before the first answer */
  private String master;
  private Redis client;
  private RedisConnection connection;
  private int next;
  private long backoffMs = 100;
  private boolean stopped;

  /**
   * @param sentinels how many sentinels are configured
   * @param sentinel  makes a client of the sentinel at an index (TLS and credentials as configured)
   */
  public SentinelWatch(Vertx vertx, String masterName, int sentinels, IntFunction<Redis> sentinel) {
    if (sentinels < 1) {
      throw new IllegalArgumentException("no sentinel");
    }
    this.vertx = vertx;
    this.context = vertx.getOrCreateContext();
    this.masterName = Objects.requireNonNull(masterName);
    this.sentinels = sentinels;
    this.sentinel = sentinel;
  }

  /**
   * Called, on this watch's context, when a sentinel reports the master at a new address: with the
   * index of that sentinel (which already knows the new master) and the address.
   */
  public SentinelWatch onMoved(BiConsumer<Integer, String> moved) {
    this.moved = Objects.requireNonNull(moved);
    return this;
  }

  public void start() {
    context.runOnContext(v -> connect());
  }

  public Future<Void> stop() {
    io.vertx.core.Promise<Void> done = io.vertx.core.Promise.promise();
    context.runOnContext(v -> {
      stopped = true;
      Redis c = client;
      client = null;
      connection = null;
      (c == null ? Future.<Void>succeededFuture() : c.close()).onComplete(ar -> done.tryComplete());
    });
    return done.future();
  }

  /** The master's address as last reported, host:port; null before the first answer. For tests and logs. */
  public String master() {
    return master;
  }

  private void connect() {
    if (stopped) {
      return;
    }
    int index = Math.floorMod(next++, sentinels);
    Redis c = sentinel.apply(index);
    client = c;
    c.connect().compose(conn -> {
      if (stopped || client != c) {
        conn.close();
        return Future.succeededFuture();
      }
      conn.handler(r -> onPush(index, r));
      conn.exceptionHandler(e -> log.debug("sentinel connection error: {}", e.getMessage()));
      conn.endHandler(v -> lost(c));
      connection = conn;
      return conn.send(Request.cmd(Command.SUBSCRIBE).arg(CHANNEL))
          // asked after subscribing: a switch in between is either in the answer or pushed
          .compose(x -> c.send(Request.cmd(Command.SENTINEL).arg("GET-MASTER-ADDR-BY-NAME").arg(masterName)))
          .map(addr -> {
            if (addr != null && addr.size() >= 2) {
              seen(index, addr.get(0).toString() + ":" + addr.get(1).toString());
            }
            backoffMs = 100;
            return (Void) null;
          });
    }).onFailure(e -> {
      if (client == c) {
        log.warn("watching Sentinel for failovers failed ({}); trying the next sentinel", e.getMessage());
        lost(c);
      }
    });
  }

  private void lost(Redis c) {
    if (stopped || client != c) {
      return;
    }
    client = null;
    connection = null;
    c.close();
    long delay = backoffMs;
    backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
    vertx.setTimer(delay, t -> connect());
  }

  private void onPush(int index, Response r) {
    // ["message", "+switch-master", "<name> <old-ip> <old-port> <new-ip> <new-port>"]
    if (r == null || (r.type() != ResponseType.PUSH && r.type() != ResponseType.MULTI) || r.size() < 3
        || !"message".equals(String.valueOf(r.get(0)))) {
      return;
    }
    String[] words = String.valueOf(r.get(2)).split(" ");
    if (words.length == 5 && words[0].equals(masterName)) {
      seen(index, words[3] + ":" + words[4]);
    }
  }

  private void seen(int index, String address) {
    if (address.equals(master)) {
      return;
    }
    String before = master;
    master = address;
    if (before != null) {
      log.warn("Sentinel reports master {} moved from {} to {}: commands and the pod channel follow now", masterName,
          before, address);
      moved.accept(index, address);
    }
  }
}
