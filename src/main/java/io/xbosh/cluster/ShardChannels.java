package io.xbosh.cluster;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.vertx.redis.client.ResponseType;
import io.vertx.redis.client.impl.types.ErrorType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.LongPredicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A pod's sharded channels on a Redis Cluster: one per slot, {@code xb:pod:<id>{tag}} (the tag
 * hashes to the slot, {@link SlotTags}), subscribed ({@code SSUBSCRIBE}) on the slot's master over
 * one connection per master, lazily, the first time the pod holds a request of a session in that
 * slot. A script answering such a request publishes ({@code SPUBLISH}) on the node it runs on; that
 * node writes the message to this pod's connection at once, so a reply to a later command on the
 * same connection comes behind it. That is the fence of a Redis Cluster ({@link #fence}): for each
 * master with requests due, {@code EXISTS} of a key that never exists in each of their slots, then
 * {@code PING <token>} on the connection. The {@code EXISTS} answers {@code ASK} while the slot is
 * being migrated (a script on a session already moved runs on the other node), {@code MOVED} once the
 * node no longer serves it, {@code CLUSTERDOWN} on a master cut off from the majority (which can
 * fail over without it); each of those, a {@code sunsubscribe} push (the node gave the slot up) and a
 * dropped connection invalidate the slot's channel number, so the requests registered under it ask
 * the store ({@code release}) as before.
 *
 * <p>A channel number is {@code (generation << 14) | slot}; it changes whenever the slot's
 * subscription is confirmed again or invalidated. Confined to the bus's context, except
 * {@link #number}, read from any thread.
 */
final class ShardChannels {

  private static final Logger log = LoggerFactory.getLogger(ShardChannels.class);
  private static final int SLOT_BITS = 14;
  /** after a failed connection or subscription, the node (or slot) is not tried again for this long */
  private static final long RETRY_NANOS = 1_000_000_000L;

  /** What the cluster looks like now: the master of a slot (null: unknown), and a client for a node. */
  interface Topology {
    String masterOf(int slot);

    Redis subscriberAt(String endpoint);

    /** The slot map may be out of date (a slot moved): read it again soon. */
    void stale();
  }

  private final Vertx vertx;
  private final Context context;
  private final Topology topology;
  private final String podId;
  private final long timeoutMs;
  /** a message pushed on a sharded channel (the answer to a request held here) */
  private final BiConsumer<String, String> onAnswer;
  /** numbers that were invalidated while requests may have waited under them */
  private final java.util.function.Consumer<LongPredicate> onLost;
  /** per slot, the number of its confirmed subscription; 0 while none */
  private final AtomicLongArray numbers = new AtomicLongArray(SlotTags.SLOTS);
  /** per slot, the node its subscription was sent to (pending or confirmed); on the context */
  private final Node[] nodeOf = new Node[SlotTags.SLOTS];
  private final long[] retryAfter = new long[SlotTags.SLOTS];
  private final Map<String, Node> nodes = new HashMap<>();
  private final Map<String, Long> nodeRetryAfter = new HashMap<>();
  private long generation;
  private long fenceSeq;
  private boolean stopped;
  /** sharded pub/sub refused (a Redis before 7.0, or an ACL without it): requests use the pod channel */
  private volatile boolean unavailable;

  private final class Node {
    final String endpoint;
    final Redis client;
    RedisConnection conn;
    Future<RedisConnection> connecting;
    /** slots confirmed on this connection, and slots whose SSUBSCRIBE is on its way */
    final Set<Integer> slots = new HashSet<>();
    final Set<Integer> pending = new HashSet<>();
    final Map<String, Promise<Void>> fences = new HashMap<>();

    Node(String endpoint, Redis client) {
      this.endpoint = endpoint;
      this.client = client;
    }
  }

  ShardChannels(Vertx vertx, Context context, Topology topology, String podId, long timeoutMs,
      BiConsumer<String, String> onAnswer, java.util.function.Consumer<LongPredicate> onLost) {
    this.vertx = vertx;
    this.context = context;
    this.topology = topology;
    this.podId = podId;
    this.timeoutMs = timeoutMs;
    this.onAnswer = onAnswer;
    this.onLost = onLost;
  }

  /** The sharded channel of this pod in a slot. */
  static String channel(String podId, int slot) {
    return RedisPodBus.channelOf(podId) + "{" + SlotTags.tag(slot) + "}";
  }

  static int slotOfNumber(long number) {
    return (int) (number & (SlotTags.SLOTS - 1));
  }

  /** The slot of a session (its keys' hash tag is the sid). */
  static int slotOfSession(String sid) {
    return SlotTags.slot("xb:{" + sid + "}");
  }

  /**
   * The confirmed channel number of the slot, or 0 while there is none (then it is subscribed,
   * unless that is under way or failed a moment ago); from any thread.
   */
  long number(int slot) {
    long n = numbers.get(slot);
    if (n == 0 && !unavailable) {
      context.runOnContext(v -> subscribe(slot));
    }
    return n;
  }

  // ---- subscribing

  private void subscribe(int slot) {
    if (stopped || numbers.get(slot) != 0 || nodeOf[slot] != null || System.nanoTime() - retryAfter[slot] < 0) {
      return;
    }
    String endpoint = topology.masterOf(slot);
    if (endpoint == null) {
      return;
    }
    Long nodeRetry = nodeRetryAfter.get(endpoint);
    if (nodeRetry != null && System.nanoTime() - nodeRetry < 0) {
      return;
    }
    Node node = nodes.computeIfAbsent(endpoint, e -> new Node(e, topology.subscriberAt(e)));
    nodeOf[slot] = node;
    node.pending.add(slot);
    connection(node).onSuccess(conn -> {
      if (nodeOf[slot] != node || node.conn != conn) {
        return;
      }
      // the confirmation is a push (onReply); an error (MOVED: the map was stale) fails the slot
      conn.send(Request.cmd(Command.SSUBSCRIBE).arg(channel(podId, slot))).onComplete(ar -> replied(node, conn, ar));
    }).onFailure(e -> {
      node.pending.remove(slot);
      if (nodeOf[slot] == node) {
        nodeOf[slot] = null;
      }
    });
  }

  private Future<RedisConnection> connection(Node node) {
    if (node.conn != null) {
      return Future.succeededFuture(node.conn);
    }
    if (node.connecting != null) {
      return node.connecting;
    }
    node.connecting = node.client.connect().onComplete(ar -> {
      node.connecting = null;
      if (ar.failed() || stopped) {
        log.warn("sharded pod channel: connecting to {} failed: {}", node.endpoint, ar.failed() ? ar.cause().getMessage() : "stopped");
        if (ar.succeeded()) {
          ar.result().close();
        }
        forget(node, ar.failed() ? ar.cause().getMessage() : "stopped");
        return;
      }
      RedisConnection conn = ar.result();
      node.conn = conn;
      conn.handler(r -> onReply(node, conn, r));
      conn.exceptionHandler(e -> log.debug("sharded pod channel {}: {}", node.endpoint, e.getMessage()));
      conn.endHandler(v -> {
        if (node.conn == conn) {
          log.warn("sharded pod channel connection to {} lost", node.endpoint);
          forget(node, "the connection dropped");
        }
      });
    });
    return node.connecting.map(c -> {
      if (node.conn != c) {
        throw new IllegalStateException("the connection was lost");
      }
      return c;
    });
  }

  /** The node's connection is gone: its slots' numbers are invalid, its fences fail. */
  private void forget(Node node, String why) {
    if (nodes.get(node.endpoint) == node) {
      nodes.remove(node.endpoint);
    }
    long now = System.nanoTime();
    // bounded: entries whose pause is over go (a node that left the cluster is not tried again)
    nodeRetryAfter.values().removeIf(until -> now - until >= 0);
    nodeRetryAfter.put(node.endpoint, now + RETRY_NANOS);
    RedisConnection conn = node.conn;
    node.conn = null;
    Set<Long> lost = new HashSet<>();
    for (int slot = 0; slot < SlotTags.SLOTS; slot++) {
      if (nodeOf[slot] == node) {
        nodeOf[slot] = null;
        long n = numbers.getAndSet(slot, 0);
        if (n != 0) {
          lost.add(n);
        }
      }
    }
    node.slots.clear();
    node.pending.clear();
    node.fences.values().forEach(p -> p.tryFail(why));
    node.fences.clear();
    if (conn != null) {
      conn.close();
    }
    node.client.close();
    topology.stale();
    if (!lost.isEmpty()) {
      onLost.accept(lost::contains);
    }
  }

  // ---- what the connection receives

  /** A command's callback: what the client gave it may be another command's reply (see RedisPodBus.onReply). */
  private void replied(Node node, RedisConnection conn, io.vertx.core.AsyncResult<Response> ar) {
    if (ar.succeeded()) {
      onReply(node, conn, ar.result());
    } else if (ar.cause() instanceof ErrorType e) {
      onError(node, conn, e.getMessage());
    }
  }

  /**
   * Everything a sharded connection receives, whichever way the client hands it over: pushes
   * (messages, subscription confirmations and losses), replies to EXISTS and PING, and errors. In
   * the order Redis sent them, on the bus's context.
   */
  private void onReply(Node node, RedisConnection conn, Response r) {
    if (r == null || node.conn != conn) {
      return;
    }
    if (r.type() == ResponseType.ERROR) {
      onError(node, conn, r.toString());
      return;
    }
    if (r.type() == ResponseType.PUSH || r.type() == ResponseType.MULTI) {
      String kind = r.size() > 0 && r.get(0) != null ? r.get(0).toString() : "";
      switch (kind) {
        case "smessage" -> {
          if (r.size() >= 3) {
            onMessage(r.get(2).toString());
          }
        }
        case "ssubscribe" -> confirmed(node, SlotTags.slot(r.get(1).toString()));
        case "sunsubscribe" -> unsubscribed(node, SlotTags.slot(r.get(1).toString()));
        case "pong" -> fenceReply(node, r.size() > 1 && r.get(1) != null ? r.get(1).toString() : "");
        default -> {
        }
      }
      return;
    }
    if (r.type() == ResponseType.BULK || r.type() == ResponseType.SIMPLE) {
      fenceReply(node, r.toString());
    }
  }

  private void onMessage(String msg) {
    int nl = msg.indexOf('\n');
    if (nl != 1 || msg.charAt(0) != 'a') {
      return;
    }
    int nl2 = msg.indexOf('\n', 2);
    if (nl2 > 2) {
      onAnswer.accept(msg.substring(2, nl2), msg.substring(nl2 + 1));
    }
  }

  private void confirmed(Node node, int slot) {
    if (nodeOf[slot] != node || numbers.get(slot) != 0 || stopped) {
      return;
    }
    node.pending.remove(slot);
    node.slots.add(slot);
    numbers.set(slot, (++generation << SLOT_BITS) | slot);
  }

  /** The node gave the slot up (it moved, or the node became a replica): subscribed again on its new master later. */
  private void unsubscribed(Node node, int slot) {
    if (nodeOf[slot] != node) {
      return;
    }
    nodeOf[slot] = null;
    node.slots.remove(slot);
    node.pending.remove(slot);
    retryAfter[slot] = System.nanoTime() + RETRY_NANOS;
    lose(slot, numbers.getAndSet(slot, 0));
    topology.stale();
  }

  private void onError(Node node, RedisConnection conn, String msg) {
    if (msg == null) {
      return;
    }
    if (!unavailable && (msg.startsWith("ERR unknown command") || msg.startsWith("NOPERM"))) {
      unavailable = true;
      log.warn("sharded pub/sub refused by {} ({}): answers go on the pod channel and every idle wait's end asks the store",
          node.endpoint, msg);
    }
    if (msg.startsWith("MOVED ") || msg.startsWith("ASK ")) {
      String[] parts = msg.split(" ");
      int slot;
      try {
        slot = Integer.parseInt(parts[1]);
      } catch (RuntimeException e) {
        renumberAll(node, msg);
        return;
      }
      if (slot < 0 || slot >= SlotTags.SLOTS || nodeOf[slot] != node) {
        return;
      }
      if (msg.startsWith("ASK ")) {
        // being migrated: scripts on sessions already moved publish elsewhere; requests held so far ask the store
        long old = numbers.get(slot);
        if (old != 0) {
          numbers.set(slot, (++generation << SLOT_BITS) | slot);
          lose(slot, old);
        }
        return;
      }
      // the node does not serve the slot (any more): its subscription there is no use
      unsubscribed(node, slot);
      return;
    }
    renumberAll(node, msg);
  }

  /** An error that names no slot (CLUSTERDOWN, LOADING, ...): nothing held so far on the node counts as fenced. */
  private void renumberAll(Node node, String msg) {
    if (msg.startsWith("CLUSTERDOWN") || msg.startsWith("TRYAGAIN") || msg.startsWith("LOADING") || msg.startsWith("MASTERDOWN")) {
      log.debug("sharded pod channel {}: {}", node.endpoint, msg);
    } else {
      log.warn("sharded pod channel {}: {}", node.endpoint, msg);
    }
    // a subscription on its way may be what failed: tried again a moment later
    for (int slot : node.pending) {
      if (nodeOf[slot] == node) {
        nodeOf[slot] = null;
        retryAfter[slot] = System.nanoTime() + RETRY_NANOS;
      }
    }
    node.pending.clear();
    Set<Long> lost = new HashSet<>();
    for (int slot : node.slots) {
      long old = numbers.get(slot);
      if (old != 0) {
        lost.add(old);
        numbers.set(slot, (++generation << SLOT_BITS) | slot);
      }
    }
    if (!lost.isEmpty()) {
      onLost.accept(lost::contains);
    }
  }

  private void lose(int slot, long number) {
    if (number != 0) {
      onLost.accept(n -> n == number);
    }
  }

  // ---- the fence

  /**
   * Fences the channels of {@code channels} (numbers noted by held requests): completes with the
   * numbers that are still their slot's once every message their node published to them before has
   * been handled. Never fails; a number whose node did not answer in time is not in the result.
   */
  Future<LongPredicate> fence(long[] channels) {
    Promise<LongPredicate> done = Promise.promise();
    context.runOnContext(v -> {
      Map<Node, Set<Integer>> byNode = new LinkedHashMap<>();
      for (long n : channels) {
        int slot = slotOfNumber(n);
        Node node = nodeOf[slot];
        if (n != 0 && numbers.get(slot) == n && node != null && node.conn != null) {
          byNode.computeIfAbsent(node, k -> new HashSet<>()).add(slot);
        }
      }
      List<Future<Void>> all = new ArrayList<>();
      for (Map.Entry<Node, Set<Integer>> e : byNode.entrySet()) {
        all.add(fence(e.getKey(), e.getValue()));
      }
      Future.join(all).onComplete(ar -> {
        Set<Long> valid = new HashSet<>();
        int i = 0;
        for (Map.Entry<Node, Set<Integer>> e : byNode.entrySet()) {
          if (all.get(i++).succeeded()) {
            for (int slot : e.getValue()) {
              valid.add(numbers.get(slot));
            }
          }
        }
        valid.remove(0L);
        done.complete(valid::contains);
      });
    });
    return done.future();
  }

  /** EXISTS of a key that never exists in each slot, then PING with a token, on the node's connection. */
  private Future<Void> fence(Node node, Set<Integer> slots) {
    RedisConnection conn = node.conn;
    String token = "xb-sfence-" + Long.toString(++fenceSeq, 36);
    Promise<Void> p = Promise.promise();
    node.fences.put(token, p);
    long timer = vertx.setTimer(timeoutMs, t -> {
      if (node.fences.remove(token) != null) {
        p.tryFail("no reply to the sharded channel fence within " + timeoutMs + " ms");
      }
    });
    for (int slot : slots) {
      conn.send(Request.cmd(Command.EXISTS).arg("xb:fence{" + SlotTags.tag(slot) + "}")).onComplete(ar -> replied(node, conn, ar));
    }
    conn.send(Request.cmd(Command.PING).arg(token)).onComplete(ar -> replied(node, conn, ar));
    return p.future().onComplete(ar -> vertx.cancelTimer(timer));
  }

  private void fenceReply(Node node, String token) {
    Promise<Void> p = node.fences.remove(token);
    if (p != null) {
      p.tryComplete();
    }
  }

  Future<Void> stop() {
    Promise<Void> done = Promise.promise();
    context.runOnContext(v -> {
      stopped = true;
      List<Future<Void>> closing = new ArrayList<>();
      for (Node node : List.copyOf(nodes.values())) {
        RedisConnection c = node.conn;
        node.conn = null;
        node.fences.values().forEach(f -> f.tryFail("stopped"));
        if (c != null) {
          closing.add(c.close());
        }
        closing.add(node.client.close());
      }
      nodes.clear();
      Future.join(closing).onComplete(ar -> done.complete());
    });
    return done.future();
  }

  /** Whether a node refused sharded pub/sub, so that requests listen on the pod channel. */
  boolean unavailable() {
    return unavailable;
  }

  /** For tests: how many slots have a confirmed subscription. */
  int subscribedSlots() {
    int n = 0;
    for (int i = 0; i < SlotTags.SLOTS; i++) {
      if (numbers.get(i) != 0) {
        n++;
      }
    }
    return n;
  }
}
