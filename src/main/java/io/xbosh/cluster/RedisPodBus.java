package io.xbosh.cluster;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.vertx.redis.client.ResponseType;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link PodBus} over Redis.
 *
 * <ul>
 *   <li>Channel {@code xb:pod:<id>}, on one dedicated connection that re-subscribes with capped
 *       backoff when it drops (and then reports {@link Listener#resubscribed}).
 *   <li>Liveness: the sorted set {@code xb:pods}, member = pod id, score = the time its heartbeat
 *       runs out; each pod renews its own and reads everyone's every heartbeat.
 *   <li>Ownership: the set {@code xb:owned:<id>} of sids whose upstream link the pod holds. When a
 *       pod's heartbeat runs out, one survivor (the one that wins {@code SET xb:reap:<id> NX}) takes
 *       that set and ends the sessions; a pod starting under an id that still owns sessions ends
 *       them itself (their links died with its previous run).
 * </ul>
 */
public final class RedisPodBus implements PodBus {

  private static final Logger log = LoggerFactory.getLogger(RedisPodBus.class);
  private static final String PODS = "xb:pods";
  private static final long MAX_BACKOFF_MS = 5000;

  private final Vertx vertx;
  private final Redis commands;
  private final Supplier<Redis> subscribers;
  private Redis subscriber;
  private final String podId;
  private final String channel;
  private final long heartbeatMs;
  private final long deadAfterMs;
  private final Set<String> alive = ConcurrentHashMap.newKeySet();
  private final Set<String> dead = ConcurrentHashMap.newKeySet();
  private Listener listener;
  private RedisConnection connection;
  private long heartbeatTimer = -1;
  private long backoffMs = 100;
  private volatile boolean stopped;
  private volatile boolean beating;

  /**
   * @param commands       the pooled client for ordinary commands
   * @param subscribers    makes the client of the subscribed connection, called again for every
   *                       re-subscription (so it may pick another Cluster node, or Sentinel's new master)
   * @param heartbeatMs how often the heartbeat is renewed and the others read
   * @param deadAfterMs how long after its last heartbeat a pod is declared dead
   */
  public RedisPodBus(Vertx vertx, Redis commands, Supplier<Redis> subscribers, String podId, long heartbeatMs,
      long deadAfterMs) {
    this.vertx = vertx;
    this.commands = commands;
    this.subscribers = subscribers;
    this.podId = podId;
    this.channel = channelOf(podId);
    this.heartbeatMs = heartbeatMs;
    this.deadAfterMs = deadAfterMs;
  }

  /** The channel a pod listens on; the store's scripts publish to the same names. */
  public static String channelOf(String podId) {
    return "xb:pod:" + podId;
  }

  static String ownedKey(String podId) {
    return "xb:owned:" + podId;
  }

  @Override
  public Future<Void> start(Listener listener) {
    this.listener = listener;
    return claimOwnPreviousSessions()
        .compose(v -> subscribe())
        .compose(v -> heartbeat())
        .onSuccess(v -> heartbeatTimer = vertx.setPeriodic(heartbeatMs, t -> heartbeat()));
  }

  private Future<Void> claimOwnPreviousSessions() {
    String key = ownedKey(podId);
    return commands.send(Request.cmd(Command.SMEMBERS).arg(key)).compose(members -> {
      Set<String> sids = strings(members);
      if (sids.isEmpty()) {
        return Future.succeededFuture();
      }
      log.warn("{} sessions were owned by a previous run of pod {}; ending them", sids.size(), podId);
      return commands.send(Request.cmd(Command.DEL).arg(key)).onSuccess(r -> listener.orphaned(sids)).mapEmpty();
    });
  }

  // ---- the subscribed connection

  private Future<Void> subscribe() {
    if (subscriber != null) {
      subscriber.close();
    }
    subscriber = subscribers.get();
    return subscriber.connect().compose(conn -> {
      conn.handler(this::onPush);
      conn.exceptionHandler(e -> log.warn("pod channel connection error: {}", e.getMessage()));
      conn.endHandler(v -> onLost(conn));
      return conn.send(Request.cmd(Command.SUBSCRIBE).arg(channel)).map(r -> {
        connection = conn;
        backoffMs = 100;
        return (Void) null;
      }).onFailure(e -> conn.close());
    });
  }

  private void onLost(RedisConnection conn) {
    if (stopped || conn != connection) {
      return;
    }
    connection = null;
    log.warn("pod channel lost; re-subscribing");
    retrySubscribe();
  }

  private void retrySubscribe() {
    long delay = backoffMs;
    backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
    vertx.setTimer(delay, t -> {
      if (stopped) {
        return;
      }
      subscribe().onSuccess(v -> {
        log.info("pod channel re-subscribed");
        listener.resubscribed();
      }).onFailure(e -> {
        log.warn("re-subscribing failed: {}", e.getMessage());
        retrySubscribe();
      });
    });
  }

  private void onPush(Response r) {
    // RESP2 delivers ["message", channel, payload] as a multi-bulk, RESP3 as a push
    if (r == null || (r.type() != ResponseType.MULTI && r.type() != ResponseType.PUSH) || r.size() < 3
        || !"message".equals(r.get(0).toString())) {
      return;
    }
    String msg = r.get(2).toString();
    int nl = msg.indexOf('\n');
    if (nl != 1) {
      log.debug("ignoring malformed pod message");
      return;
    }
    switch (msg.charAt(0)) {
      case 'a' -> {
        int nl2 = msg.indexOf('\n', 2);
        if (nl2 > 2) {
          listener.answer(msg.substring(2, nl2), msg.substring(nl2 + 1));
        }
      }
      case 'f' -> listener.payloadsWaiting(msg.substring(2));
      default -> log.debug("ignoring unknown pod message {}", msg.charAt(0));
    }
  }

  // ---- liveness

  private Future<Void> heartbeat() {
    long now = System.currentTimeMillis();
    Future<Response> beat = commands.send(Request.cmd(Command.ZADD).arg(PODS).arg(now + deadAfterMs).arg(podId));
    Future<Response> living = commands.send(Request.cmd(Command.ZRANGEBYSCORE).arg(PODS).arg(now).arg("+inf"));
    Future<Response> gone = commands.send(Request.cmd(Command.ZRANGEBYSCORE).arg(PODS).arg("-inf").arg("(" + now));
    return Future.all(beat, living, gone).<Void>map(all -> {
      Set<String> nowAlive = strings(living.result());
      Set<String> nowDead = strings(gone.result());
      alive.retainAll(nowAlive);
      alive.addAll(nowAlive);
      dead.retainAll(nowDead);
      for (String pod : nowDead) {
        if (!pod.equals(podId) && dead.add(pod)) {
          reap(pod);
        }
      }
      return null;
    }).onComplete(ar -> beating = ar.succeeded())
        .onFailure(e -> log.warn("heartbeat failed: {}", e.getMessage()));
  }

  @Override
  public boolean healthy() {
    return beating && connection != null;
  }

  /** Claims a dead pod's sessions; only the pod that wins the claim ends them. */
  private void reap(String pod) {
    commands.send(Request.cmd(Command.SET).arg("xb:reap:" + pod).arg(podId).arg("NX").arg("PX").arg(deadAfterMs * 10))
        .compose(claimed -> {
          if (claimed == null || !"OK".equals(claimed.toString())) {
            return Future.succeededFuture(Set.<String>of());
          }
          String key = ownedKey(pod);
          return commands.send(Request.cmd(Command.SMEMBERS).arg(key)).compose(members -> {
            Set<String> sids = strings(members);
            return Future.all(commands.send(Request.cmd(Command.DEL).arg(key)),
                    commands.send(Request.cmd(Command.ZREM).arg(PODS).arg(pod)))
                .map(sids);
          });
        })
        .onSuccess(sids -> {
          if (!sids.isEmpty()) {
            log.warn("pod {} stopped; ending the {} sessions it owned", pod, sids.size());
            listener.orphaned(sids);
          }
        })
        .onFailure(e -> {
          log.warn("claiming the sessions of pod {} failed: {}", pod, e.getMessage());
          dead.remove(pod); // try again on the next heartbeat
        });
  }

  @Override
  public boolean alive(String pod) {
    return pod.equals(podId) || alive.contains(pod) || !dead.contains(pod);
  }

  @Override
  public void owned(String sid) {
    commands.send(Request.cmd(Command.SADD).arg(ownedKey(podId)).arg(sid))
        .onFailure(e -> log.warn("sid={} recording ownership failed: {}", sid, e.getMessage()));
  }

  @Override
  public void disowned(String sid) {
    commands.send(Request.cmd(Command.SREM).arg(ownedKey(podId)).arg(sid))
        .onFailure(e -> log.debug("sid={} dropping ownership failed: {}", sid, e.getMessage()));
  }

  @Override
  public Future<Void> stop() {
    stopped = true;
    if (heartbeatTimer >= 0) {
      vertx.cancelTimer(heartbeatTimer);
    }
    RedisConnection c = connection;
    connection = null;
    Promise<Void> done = Promise.promise();
    // a stopped pod leaves the live set at once rather than after its heartbeat runs out
    commands.send(Request.cmd(Command.ZREM).arg(PODS).arg(podId)).onComplete(ar -> {
      if (c != null) {
        c.close().onComplete(x -> done.complete());
      } else {
        done.complete();
      }
    });
    return done.future().compose(v -> subscriber != null ? subscriber.close() : Future.succeededFuture());
  }

  private static Set<String> strings(Response r) {
    Set<String> out = new HashSet<>();
    if (r != null) {
      for (Response e : r) {
        out.add(e.toString());
      }
    }
    return out;
  }
}
