package io.xbosh.session;

import io.vertx.core.Vertx;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.redis.client.ProtocolVersion;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisClientType;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.RedisReplicas;
import io.vertx.redis.client.RedisRole;
import io.xbosh.cluster.SlotRoutingRedis;
import io.xbosh.config.XboshConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Builds every Redis client of a pod from the config, so that the pooled command client and the
 * pod channel's subscriber use the same topology, TLS and credentials.
 *
 * <ul>
 *   <li>standalone: {@code XBOSH_REDIS_URL} is the server;
 *   <li>Redis Cluster ({@code XBOSH_REDIS_CLUSTER}): the URLs are seed nodes, see {@link #clusterOptions};
 *   <li>Sentinel ({@code XBOSH_REDIS_SENTINEL}): the URLs are sentinels; commands go to the current
 *       master and follow a failover ({@code +switch-master}, and a topology re-read every second).
 * </ul>
 *
 * TLS ({@code rediss://}) verifies the server's certificate against {@code XBOSH_REDIS_TLS_CA} (or
 * the JVM's trust store) and, unless turned off, its host name; a client certificate is presented
 * when configured. The password is given to the client as an option, never put into a URL.
 */
public final class RedisClients {

  private final Vertx vertx;
  private final XboshConfig config;
  private final List<String> urls;
  private final AtomicInteger nextSubscriberUrl = new AtomicInteger();
  /** the command client of a Redis Cluster, which knows the nodes as they are now */
  private SlotRoutingRedis cluster;
  /** Sentinel: the sentinels in the order clients ask them, the one that reported the last switch first */
  private volatile List<String> sentinels;
  /** Sentinel: called on this watch's context when the master moved (after the command client followed) */
  private final List<Runnable> masterMoved = new java.util.concurrent.CopyOnWriteArrayList<>();

  public RedisClients(Vertx vertx, XboshConfig config) {
    if (config.redisUrl() == null) {
      throw new IllegalArgumentException("no XBOSH_REDIS_URL");
    }
    this.vertx = vertx;
    this.config = config;
    this.urls = config.redisUrls();
  }

  /** The pooled client for ordinary commands and scripts; call it before {@link #subscribers}. */
  public Redis commands() {
    RedisOptions options = base()
        .setEndpoints(urls)
        .setMaxPoolSize(config.redisPoolSize())
        .setMaxPoolWaiting(config.redisPoolSize() * 256)
        .setMaxWaitingHandlers(config.redisPoolSize() * 256);
    if (config.redisCluster()) {
      // one failing master fails only its own slots' commands (see SlotRoutingRedis)
      cluster = new SlotRoutingRedis(vertx, clusterOptions(options.setType(RedisClientType.CLUSTER)));
      return cluster;
    } else if (config.redisSentinelMaster() != null) {
      return sentinelCommands(options);
    } else {
      options.setType(RedisClientType.STANDALONE);
    }
    return Redis.createClient(vertx, options);
  }

  /**
   * The client the event loops' own store connections come from (one each, kept while it lives,
   * scripts pipelined on it: RedisSessionStore); null when {@code XBOSH_REDIS_LOOP_CONNECTIONS} is
   * off, and on a Redis Cluster, whose client routes every call to its slot's master itself. A
   * client of its own: taken from the command pool, the loops' connections would starve it. Its
   * pool holds {@link #loopConnectionCount} and one more, for a connection opened while a broken
   * one is still being let go.
   */
  public Redis loopConnections() {
    if (!config.redisLoopConnections() || config.redisCluster()) {
      return null;
    }
    int n = loopConnectionCount(config);
    // room for the calls a store keeps in flight on one connection, twice: a connection let go
    // goes back to this pool with its calls still answering, and may be the next loop's
    RedisOptions options = base().setEndpoints(urls).setMaxPoolSize(n + 1).setMaxPoolWaiting(n * 4)
        .setMaxWaitingHandlers(2 * RedisSessionStore.MAX_LOOP_IN_FLIGHT);
    if (config.redisSentinelMaster() != null) {
      sentinelOptions(options).setAutoFailover(true);
    } else {
      options.setType(RedisClientType.STANDALONE);
    }
    return Redis.createClient(vertx, options);
  }

  /** Event loops of the pod's Vert.x (one per HTTP listener and one more) that get a store connection of their own. */
  public static int loopConnectionCount(XboshConfig config) {
    return config.eventLoops() + 1;
  }

  /**
   * Where the pod channel's subscribed connection comes from: each call gives a new one-connection
   * client, for the first subscription and every re-subscription after a drop. On a Redis Cluster
   * the calls go round the seed nodes (any node sees every message published in the cluster); with
   * Sentinel each one asks the sentinels for the current master, so a re-subscription after a
   * failover (the old master's clients are killed by Sentinel) lands on the new one.
   */
  public Supplier<Redis> subscribers() {
    return () -> {
      // RESP3: messages arrive as pushes, so the reply to a PING on the channel cannot be mistaken for one
      RedisOptions options = base().setMaxPoolSize(1).setMaxPoolWaiting(16).setMaxWaitingHandlers(1024)
          .setPreferredProtocolVersion(ProtocolVersion.RESP3);
      if (config.redisSentinelMaster() != null) {
        sentinelOptions(options.setEndpoints(sentinels)).setAutoFailover(false);
      } else {
        // a Redis Cluster's nodes as the command client knows them now (a failed-over seed may be gone)
        List<String> nodes = cluster != null ? cluster.nodes() : urls;
        options.setType(RedisClientType.STANDALONE)
            .setEndpoints(new ArrayList<>(List.of(nodes.get(Math.floorMod(nextSubscriberUrl.getAndIncrement(), nodes.size())))));
      }
      return Redis.createClient(vertx, options);
    };
  }

  /**
   * Sentinel: commands follow the master as soon as a sentinel reports a switch ({@link SentinelWatch}),
   * each new client asking first the sentinel that reported it (the others may not know yet).
   */
  private Redis sentinelCommands(RedisOptions options) {
    sentinels = List.copyOf(urls);
    SentinelWatch watch = new SentinelWatch(vertx, config.redisSentinelMaster(), urls.size(), i -> Redis.createClient(vertx,
        base().setType(RedisClientType.STANDALONE).setEndpoints(new ArrayList<>(List.of(urls.get(i))))
            .setMaxPoolSize(2).setMaxPoolWaiting(16).setPreferredProtocolVersion(ProtocolVersion.RESP3)));
    // the watch does what the client's own auto failover would, and more: see SentinelWatch
    SwitchingRedis commands = new SwitchingRedis(
        () -> Redis.createClient(vertx, sentinelOptions(new RedisOptions(options).setEndpoints(new ArrayList<>(sentinels)))
            .setAutoFailover(false)),
        watch::stop);
    watch.onMoved((told, address) -> {
      List<String> order = new ArrayList<>(urls);
      order.add(0, order.remove((int) told));
      sentinels = List.copyOf(order);
      commands.renew();
      masterMoved.forEach(Runnable::run);
    });
    watch.start();
    return commands;
  }

  /**
   * Sentinel: {@code action} runs (on the watch's context) each time the master moves, after the
   * command client has moved; the pod channel re-subscribes from it. Never called otherwise.
   */
  public void onMasterMoved(Runnable action) {
    masterMoved.add(action);
  }

  /**
   * The command client of a Redis Cluster ({@link #commands} first), or null: it knows which node
   * serves each slot.
   */
  public SlotRoutingRedis cluster() {
    return cluster;
  }

  /**
   * A one-connection client of one Redis Cluster node, for the pod's sharded channels there (RESP3,
   * the same TLS and credentials as every client).
   */
  public Redis subscriberAt(String endpoint) {
    RedisOptions options = base().setMaxPoolSize(1).setMaxPoolWaiting(16).setMaxWaitingHandlers(1024)
        .setPreferredProtocolVersion(ProtocolVersion.RESP3).setType(RedisClientType.STANDALONE)
        .setEndpoints(new ArrayList<>(List.of(endpoint)));
    return Redis.createClient(vertx, options);
  }

  /** Redis Cluster settings of the command client. */
  static RedisOptions clusterOptions(RedisOptions options) {
    return options.setUseReplicas(RedisReplicas.NEVER);
  }

  private RedisOptions sentinelOptions(RedisOptions options) {
    return options.setType(RedisClientType.SENTINEL).setRole(RedisRole.MASTER).setMasterName(config.redisSentinelMaster());
  }

  /** TLS and credentials, common to every client. */
  private RedisOptions base() {
    RedisOptions options = new RedisOptions().setNetClientOptions(netClientOptions(config));
    if (config.redisUser() != null) {
      options.setUser(config.redisUser());
    }
    if (config.redisPassword() != null) {
      options.setPassword(config.redisPassword().value());
    }
    return options;
  }

  static NetClientOptions netClientOptions(XboshConfig config) {
    NetClientOptions net = new NetClientOptions().setConnectTimeout(10_000).setTcpKeepAlive(true).setTcpNoDelay(true);
    if (!config.redisTls()) {
      return net;
    }
    // Vert.x 5 refuses a TLS client without an explicit choice here ("Missing hostname verification algorithm")
    net.setSsl(true).setHostnameVerificationAlgorithm(config.redisTlsVerifyHost() ? "HTTPS" : "");
    if (config.redisTlsCa() != null) {
      net.setTrustOptions(new PemTrustOptions().addCertPath(config.redisTlsCa()));
    }
    if (config.redisTlsCert() != null) {
      net.setKeyCertOptions(new PemKeyCertOptions().setCertPath(config.redisTlsCert()).setKeyPath(config.redisTlsKey()));
    }
    return net;
  }
}
