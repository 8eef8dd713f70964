package io.xbosh.cluster;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetClientOptions;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisClientType;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.vertx.redis.client.impl.RedisURI;
import io.vertx.redis.client.impl.RequestImpl;
import io.vertx.redis.client.impl.ZModem;
import io.vertx.redis.client.impl.types.ErrorType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Redis Cluster client in which one failing master fails only the commands of its slots.
 *
 * <p>Vert.x's cluster client (5.0) leases a connection to every node of the cluster for each
 * command and fails the command when any node cannot be reached, so while one master fails over
 * every command on every pod fails ("Failed to connect to all nodes of the cluster"). This client
 * keeps the slot map itself (from {@code CLUSTER SLOTS}) and sends each command through a pooled
 * standalone client of the master that serves its slot: a dead node fails only its own slots'
 * commands, and a failed command, a {@code MOVED} or an unknown slot refreshes the map (at most
 * one refresh at a time, at most one every {@value #MIN_REFRESH_MS} ms), so the promoted replica
 * takes the slots over as soon as the cluster has failed over. {@code ASK} (a slot being
 * migrated) is followed on a connection of its own. A batch goes to each node in one pipeline.
 */
public final class SlotRoutingRedis implements Redis {

  private static final Logger log = LoggerFactory.getLogger(SlotRoutingRedis.class);
  static final long MIN_REFRESH_MS = 250;
  private static final long PERIODIC_REFRESH_MS = 5000;
  private static final int SLOTS = 16384;
  private static final int REDIRECTS = 3;
  private static final int CONNECT_TIMEOUT_MS = 3000;

  private final Vertx vertx;
  private final RedisOptions template;
  private final List<String> seeds;
  private final Map<String, Redis> nodes = new ConcurrentHashMap<>();
  /** The master of each slot; null where the map has no owner. */
  private volatile String[] masters;
  /** Every node the map named (masters and replicas), for the pod channel. */
  private volatile List<String> known;
  private Future<Void> refreshing;
  private volatile long lastRefreshNanos;
  private final long refreshTimer;
  private volatile boolean closed;

  /**
   * @param template options each node's pooled client copies (pool sizes, TLS, credentials); its
   *                 endpoints are the seeds
   */
  public SlotRoutingRedis(Vertx vertx, RedisOptions template) {
    this.vertx = vertx;
    this.template = new RedisOptions(template).setType(RedisClientType.STANDALONE);
    // a node that does not answer at all (its host gone) fails its slots' commands within seconds,
    // not after the default minute
    NetClientOptions net = new NetClientOptions(this.template.getNetClientOptions());
    this.template.setNetClientOptions(net.setConnectTimeout(Math.min(net.getConnectTimeout(), CONNECT_TIMEOUT_MS)));
    this.seeds = List.copyOf(template.getEndpoints());
    this.known = seeds;
    this.refreshTimer = vertx.setPeriodic(PERIODIC_REFRESH_MS, t -> refresh());
  }

  /** The master serving a slot as the map says now; null when the map is not read yet or names none. */
  public String masterOf(int slot) {
    String[] m = masters;
    if (m == null) {
      refresh();
      return null;
    }
    return m[slot];
  }

  /** Something saw the map out of date (a slot moved): read it again, at most every {@value #MIN_REFRESH_MS} ms. */
  public void stale() {
    refresh();
  }

  /** Every node known, seeds first until the slot map names them: where a subscriber may go. */
  public List<String> nodes() {
    return known;
  }

  @Override
  public Future<RedisConnection> connect() {
    // a connection to one master, for what needs one (a subscriber); commands should use send
    return map().compose(m -> node(randomMaster(m)).connect());
  }

  @Override
  public Future<Response> send(Request request) {
    return map().compose(m -> sendTo(endpointFor(m, request), request, REDIRECTS));
  }

  @Override
  public Future<List<Response>> batch(List<Request> requests) {
    if (requests.isEmpty()) {
      return Future.succeededFuture(List.of());
    }
    return map().compose(m -> {
      Map<String, List<Integer>> byNode = new LinkedHashMap<>();
      for (int i = 0; i < requests.size(); i++) {
        byNode.computeIfAbsent(endpointFor(m, requests.get(i)), e -> new ArrayList<>()).add(i);
      }
      Response[] out = new Response[requests.size()];
      List<Future<Void>> parts = new ArrayList<>();
      for (Map.Entry<String, List<Integer>> e : byNode.entrySet()) {
        List<Request> part = e.getValue().stream().map(requests::get).toList();
        parts.add(batchTo(e.getKey(), part).map(replies -> {
          for (int j = 0; j < replies.size(); j++) {
            out[e.getValue().get(j)] = replies.get(j);
          }
          return null;
        }));
      }
      return Future.all(parts).map(all -> Arrays.asList(out));
    });
  }

  /** {@code request} on every master of the slot map, at once; fails when any of them fails it. */
  public Future<List<Response>> onEveryMaster(Request request) {
    return map().compose(m -> {
      List<Future<Response>> each = new ArrayList<>();
      for (String master : new LinkedHashSet<>(Arrays.asList(m))) {
        if (master != null) {
          each.add(sendTo(master, request, 0));
        }
      }
      return Future.all(each).map(all -> all.<Response>list());
    });
  }

  private Future<List<Response>> batchTo(String endpoint, List<Request> part) {
    return node(endpoint).batch(part).recover(err -> {
      if (err instanceof ErrorType e && e.is("MOVED")) {
        // slots moved under the batch: resend its commands one by one, each follows its redirect
        refresh();
        List<Future<Response>> each = new ArrayList<>();
        for (Request r : part) {
          each.add(send(r));
        }
        return Future.all(each).map(all -> all.<Response>list());
      }
      failed(err);
      return Future.failedFuture(err);
    });
  }

  private Future<Response> sendTo(String endpoint, Request request, int redirects) {
    return node(endpoint).send(request).recover(err -> {
      if (err instanceof ErrorType e && redirects > 0 && (e.is("MOVED") || e.is("ASK"))) {
        String target = redirectTarget(endpoint, e);
        if (target != null) {
          if (e.is("MOVED")) {
            refresh();
            return sendTo(target, request, redirects - 1);
          }
          return asking(target, request);
        }
      }
      failed(err);
      return Future.failedFuture(err);
    });
  }

  /** A slot being migrated: ASKING and the command on one connection of the target node. */
  private Future<Response> asking(String target, Request request) {
    return node(target).connect().compose(conn -> conn.send(Request.cmd(Command.ASKING))
        .compose(ok -> conn.send(request))
        .eventually(conn::close));
  }

  /** A command that failed for another reason than its own error may mean the map is stale. */
  private void failed(Throwable err) {
    if (!(err instanceof ErrorType) || ((ErrorType) err).is("CLUSTERDOWN") || ((ErrorType) err).is("TRYAGAIN")) {
      refresh();
    }
  }

  private static String redirectTarget(String endpoint, ErrorType e) {
    String addr = e.slice(' ', 2);
    if (addr == null) {
      return null;
    }
    RedisURI uri = new RedisURI(endpoint);
    if (addr.startsWith(":")) {
      addr = uri.socketAddress().host() + addr;
    }
    return uri.protocol() + "://" + uri.userinfo() + addr;
  }

  private String endpointFor(String[] m, Request request) {
    List<byte[]> keys = ((RequestImpl) request).keys();
    if (keys.isEmpty()) {
      return randomMaster(m);
    }
    String master = m[ZModem.generate(keys.get(0))];
    if (master == null) {
      refresh();
      return randomMaster(m);
    }
    return master;
  }

  private String randomMaster(String[] m) {
    List<String> distinct = new ArrayList<>(new LinkedHashSet<>(Arrays.asList(m)));
    distinct.remove(null);
    if (distinct.isEmpty()) {
      return seeds.get(0);
    }
    return distinct.get(ThreadLocalRandom.current().nextInt(distinct.size()));
  }

  private Redis node(String endpoint) {
    return nodes.computeIfAbsent(endpoint, e -> Redis.createClient(vertx,
        new RedisOptions(template).setEndpoints(new ArrayList<>(List.of(e)))));
  }

  // ---- the slot map

  private Future<String[]> map() {
    String[] m = masters;
    if (m != null) {
      return Future.succeededFuture(m);
    }
    return refreshNow().map(v -> masters);
  }

  /** Refreshes the map unless a refresh is running or one ran a moment ago. */
  private void refresh() {
    if (closed || System.nanoTime() - lastRefreshNanos < MIN_REFRESH_MS * 1_000_000L) {
      return;
    }
    refreshNow();
  }

  private synchronized Future<Void> refreshNow() {
    if (refreshing != null) {
      return refreshing;
    }
    lastRefreshNanos = System.nanoTime();
    Set<String> candidates = new LinkedHashSet<>();
    String[] m = masters;
    if (m != null) {
      for (String e : m) {
        if (e != null) {
          candidates.add(e);
        }
      }
    }
    candidates.addAll(known);
    candidates.addAll(seeds);
    Promise<Void> done = Promise.promise();
    refreshing = done.future();
    askForSlots(new ArrayList<>(candidates), 0, done);
    return refreshing.onComplete(ar -> {
      synchronized (this) {
        refreshing = null;
      }
    });
  }

  private void askForSlots(List<String> candidates, int i, Promise<Void> done) {
    if (i >= candidates.size()) {
      done.fail("no Redis Cluster node answered CLUSTER SLOTS (tried " + candidates.size() + ")");
      return;
    }
    String endpoint = candidates.get(i);
    node(endpoint).send(Request.cmd(Command.CLUSTER).arg("SLOTS")).onComplete(ar -> {
      if (ar.failed() || ar.result() == null || ar.result().size() == 0) {
        askForSlots(candidates, i + 1, done);
        return;
      }
      try {
        install(endpoint, ar.result());
        done.complete();
      } catch (RuntimeException e) {
        log.debug("CLUSTER SLOTS from {} not usable: {}", endpoint, e.toString());
        askForSlots(candidates, i + 1, done);
      }
    });
  }

  private void install(String from, Response reply) {
    RedisURI uri = new RedisURI(from);
    String[] m = new String[SLOTS];
    Set<String> all = new LinkedHashSet<>();
    for (Response range : reply) {
      int start = range.get(0).toInteger();
      int end = range.get(1).toInteger();
      for (int n = 2; n < range.size(); n++) {
        Response node = range.get(n);
        String host = node.get(0) == null || node.get(0).toString().isEmpty() ? uri.socketAddress().host() : node.get(0).toString();
        if (host.contains(":")) {
          host = "[" + host + "]";
        }
        String endpoint = uri.protocol() + "://" + uri.userinfo() + host + ":" + node.get(1).toInteger();
        all.add(endpoint);
        if (n == 2) {
          Arrays.fill(m, start, end + 1, endpoint);
        }
      }
    }
    String[] old = masters;
    masters = m;
    known = List.copyOf(all);
    if (old != null && !Arrays.equals(old, m)) {
      log.info("Redis Cluster slot map changed: masters now {}", new LinkedHashSet<>(Arrays.asList(m)));
    }
  }

  @Override
  public Future<Void> close() {
    closed = true;
    vertx.cancelTimer(refreshTimer);
    List<Future<Void>> all = new ArrayList<>();
    nodes.values().forEach(n -> all.add(n.close()));
    return Future.join(all).mapEmpty();
  }
}
