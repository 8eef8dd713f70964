package io.xbosh;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Redis;
import io.xbosh.cluster.PodBus;
import io.xbosh.cluster.RedisPodBus;
import io.xbosh.config.XboshConfig;
import io.xbosh.metrics.XboshMetrics;
import io.xbosh.http.ClientLimits;
import io.xbosh.http.HttpVerticle;
import io.xbosh.http.ManagementVerticle;
import io.xbosh.pod.Pod;
import io.xbosh.session.InMemorySessionStore;
import io.xbosh.session.RedisClients;
import io.xbosh.session.RedisSessionStore;
import io.xbosh.session.SessionStore;
import io.xbosh.upstream.ConfiguredResolver;
import io.xbosh.warmup.Warmup;
import io.xbosh.warmup.WarmupRoute;
import io.xbosh.websocket.WebSocketSessions;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A running xbosh pod inside a Vert.x instance: store, pod state and HTTP verticles. */
public final class Xbosh {

  private static final Logger log = LoggerFactory.getLogger(Xbosh.class);

  private final Vertx vertx;
  private final XboshConfig config;
  private final Pod pod;
  private final WebSocketSessions webSockets;
  private final List<String> deployments = new ArrayList<>();
  /** the HTTP listeners, one per event loop: the loops nearly every store call is made from */
  private final List<HttpVerticle> listeners = new ArrayList<>();
  private int port;
  private int managementPort = -1;
  /** the stop under way or done: stopping twice (a drain's stop, then the caller's) stops once */
  private Future<Void> stopped;
  private Warmup warmup;
  /** the resolver, through which the warm-up reaches its own XMPP server */
  private WarmupRoute route;
  private Future<Warmup.Report> warmedUp = Future.succeededFuture(new Warmup.Report(0, 0, 0, 0));

  private Xbosh(Vertx vertx, XboshConfig config, Pod pod, WebSocketSessions webSockets) {
    this.vertx = vertx;
    this.config = config;
    this.pod = pod;
    this.webSockets = webSockets;
  }

  private static io.vertx.core.dns.DnsClient dnsClient(Vertx vertx, XboshConfig config) {
    if (config.dnsServer() == null) {
      return vertx.createDnsClient();
    }
    return vertx.createDnsClient(new io.vertx.core.dns.DnsClientOptions()
        .setHost(config.dnsServer().host()).setPort(config.dnsServer().port()).setQueryTimeout(5000));
  }

  /**
   * Starts a pod: connects the store, then deploys the HTTP verticles on one port. With
   * a warm-up ({@code XBOSH_WARMUP_SESSIONS}, {@code XBOSH_WARMUP_SECONDS}), the pod then warms up ({@link Warmup}) and is not ready until that
   * is done; the future completes as soon as it listens.
   */
  public static Future<Xbosh> start(Vertx vertx, XboshConfig config) {
    return startListening(vertx, config).map(x -> {
      if (config.warmup().on()) {
        x.warmUp();
      }
      return x;
    });
  }

  private void warmUp() {
    pod.warmingUp(true);
    warmup = new Warmup(vertx, this, route);
    log.info("xbosh {} warming up (at most {} sessions, {} s) before it is ready", config.nodeId(), config.warmup().sessions(),
        config.warmup().seconds());
    warmedUp = warmup.run().onComplete(ar -> {
      pod.warmingUp(false);
      Warmup.Report r = ar.result();
      log.info("xbosh {} warmed up: {} sessions ({} failed) in {} ms, {} ms of JIT compilation; ready", config.nodeId(), r.sessions(),
          r.failed(), r.millis(), r.compileMillis());
    });
  }

  /** Completes when the warm-up is over (at once without one): the pod is ready from then on. */
  public Future<Warmup.Report> warmedUp() {
    return warmedUp;
  }

  private static Future<Xbosh> startListening(Vertx vertx, XboshConfig config) {
    XboshMetrics metrics = new XboshMetrics(config.nodeId());
    Backend backend = createBackend(vertx, config, metrics);
    SessionStore store = backend.store();
    Pod pod = new Pod(vertx, config.nodeId(), store, backend.bus(), metrics, config.maxSessions(), config.maxHeldRequests());
    WebSocketSessions webSockets = new WebSocketSessions(vertx, metrics);
    metrics.bindTransports(pod::ownedSessions, webSockets::count);
    Xbosh x = new Xbosh(vertx, config, pod, webSockets);
    WarmupRoute resolver = new WarmupRoute(new ConfiguredResolver(config.upstream(), config.upstreamHosts(), config.domains(),
        config.routeAllow(), config.srvMode() ? dnsClient(vertx, config) : null));
    x.route = resolver;
    int port;
    try {
      port = config.httpPort() != 0 ? config.httpPort() : freePort(config.httpHost());
    } catch (IOException e) {
      return Future.failedFuture(e);
    }
    warnIfFileDescriptorsShort(config);
    // behind a trusted proxy every connection comes from the proxy: no per-address connection limit
    ClientLimits limits = new ClientLimits(new ClientLimits.Settings(config.maxConnections(),
        config.trustForwardedFor() ? 0 : config.maxConnectionsPerAddress(), config.maxHeldPerAddress(), config.maxHeldRequests(),
        config.maxPreauthSessions(), config.maxPreauthPerAddress(), config.createsPerSecond(), config.maxConnectsInFlight()));
    List<HttpVerticle> verticles = x.listeners;
    for (int i = 0; i < config.eventLoops(); i++) {
      verticles.add(new HttpVerticle(config, pod, resolver, limits, port, webSockets));
    }
    // instances bound to one host:port share its listener; Vert.x does not share a port 0
    return pod.start(config.sweepMs())
        .compose(started -> {
          List<Future<String>> deployed = new ArrayList<>();
          for (HttpVerticle v : verticles) {
            deployed.add(vertx.deployVerticle(v).onSuccess(x.deployments::add));
          }
          // the first failure names the address; later listeners fail the same way
          return Future.all(deployed).recover(e -> Future.failedFuture(
              "cannot listen on " + config.httpHost() + ":" + port + ": " + e.getMessage()));
        })
        .compose(all -> {
          if (!config.separateManagement()) {
            return Future.succeededFuture();
          }
          ManagementVerticle management = new ManagementVerticle(config, pod, webSockets);
          return vertx.deployVerticle(management).onSuccess(x.deployments::add)
              .map(id -> x.managementPort = management.actualPort())
              .recover(e -> Future.failedFuture("cannot listen on " + config.httpHost() + ":" + config.managementPort() + ": "
                  + e.getMessage()));
        })
        .compose(all -> {
          x.port = verticles.get(0).actualPort();
          boolean shared = verticles.stream().allMatch(v -> v.actualPort() == x.port);
          return shared ? Future.succeededFuture() : Future.failedFuture("HTTP listeners did not share one port");
        })
        .map(v -> {
          pod.serving();
          log.info("xbosh {} listening on {}:{}{} with {} store, upstream {}", config.nodeId(), config.httpHost(), x.port,
              config.httpPath(), config.redisUrl() == null ? "in-process" : "Redis", config.upstream());
          if (x.managementPort >= 0) {
            log.info("xbosh {} probes and metrics on {}:{}{}", config.nodeId(), config.httpHost(), x.managementPort,
                config.adminToken() != null ? ", admin API at /admin" : "");
          }
          return x;
        })
        .recover(e -> store.close().transform(ignored -> Future.failedFuture(e)));
  }

  private record Backend(SessionStore store, PodBus bus) {
  }

  /** The in-process store and no bus (one pod), or Redis for both. */
  private static Backend createBackend(Vertx vertx, XboshConfig config, XboshMetrics metrics) {
    int tombstone = config.tombstoneSeconds();
    if (config.redisUrl() == null) {
      return new Backend(new InMemorySessionStore(config.maxQueuedStanzas(), config.maxQueuedBytes(), config.maxResponseBytes(), tombstone,
          config.maxStreams(), System::currentTimeMillis), PodBus.LOCAL);
    }
    RedisClients clients = new RedisClients(vertx, config);
    Redis redis = clients.commands();
    RedisSessionStore store = new RedisSessionStore(redis, true, config.nodeId(), config.maxQueuedStanzas(), config.maxQueuedBytes(),
        config.maxResponseBytes(), tombstone, config.maxStreams(), metrics.registry(), clients.loopConnections(),
        RedisClients.loopConnectionCount(config));
    XboshMetrics.redisPool(metrics.registry(), config.redisPoolSize(), store::inFlight);
    if (clients.cluster() != null) {
      // a PING on the pod channel does not order messages published on other nodes: answers for
      // requests held here go on sharded channels, which fence on each master
      return new Backend(store, RedisPodBus.onCluster(vertx, clients.cluster(), clients.subscribers(), clients::subscriberAt,
          config.nodeId(), config.heartbeatMs(), config.podDeadMs()));
    }
    RedisPodBus bus = new RedisPodBus(vertx, redis, clients.subscribers(), config.nodeId(), config.heartbeatMs(), config.podDeadMs(), true);
    clients.onMasterMoved(bus::masterMoved);
    return new Backend(store, bus);
  }

  private static int freePort(String host) throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(host))) {
      return s.getLocalPort();
    }
  }

  public int port() {
    return port;
  }

  /** The management listener's port; -1 when probes and metrics are on the BOSH port. */
  public int managementPort() {
    return managementPort;
  }

  public Pod pod() {
    return pod;
  }

  /** The event loops of the HTTP listeners, one context each; empty until they are deployed. */
  public List<io.vertx.core.Context> eventLoops() {
    return listeners.stream().map(HttpVerticle::loop).filter(java.util.Objects::nonNull).toList();
  }

  /**
   * Runs {@code call} on the {@code i}-th listener's event loop (counted round the listeners), so
   * that what it opens (a pooled store connection) belongs to a loop that serves clients; on the
   * caller's own when no listener is deployed. The result comes back on the caller's context.
   */
  public <T> Future<T> onListenerLoop(int i, java.util.function.Supplier<Future<T>> call) {
    List<io.vertx.core.Context> loops = eventLoops();
    if (loops.isEmpty()) {
      return call.get();
    }
    io.vertx.core.Context caller = vertx.getOrCreateContext();
    io.vertx.core.Promise<T> done = io.vertx.core.Promise.promise();
    loops.get(Math.floorMod(i, loops.size())).runOnContext(v -> call.get().onComplete(ar -> caller.runOnContext(x -> done.handle(ar))));
    return done.future();
  }

  /**
   * Opens the store's pooled connections before the first client needs them, a share on each
   * listener's event loop. A pooled Redis connection belongs to the loop that opened it, and the
   * pool lends a caller an idle connection of its own loop when it has one, any other idle one when
   * it has none and the pool is full: opened from the warm-up's loop, which serves no client, about
   * half of the scripts of a warm pod crossed threads twice (the command to the connection's loop,
   * the reply back; BENCHMARKS.md, "Warm login").
   */
  public Future<Void> openStoreConnections() {
    int loops = eventLoops().size();
    int total = config.redisUrl() == null ? 0 : config.redisPoolSize();
    if (total == 0 || loops == 0) {
      return Future.succeededFuture();
    }
    List<Future<Void>> opened = new ArrayList<>();
    for (int i = 0; i < loops; i++) {
      int share = total / loops + (i < total % loops ? 1 : 0);
      opened.add(onListenerLoop(i, () -> pod.store().openConnections(share)));
    }
    return Future.join(opened).mapEmpty();
  }

  /** This pod's WebSocket streams. */
  public WebSocketSessions webSockets() {
    return webSockets;
  }

  public XboshConfig config() {
    return config;
  }

  /** SIGTERM: drains for the configured time (see {@link Pod#drain}), then stops. */
  public Future<Void> drainAndStop() {
    long drainMs = config.drainSeconds() * 1000L;
    return Future.join(pod.drain(drainMs), webSockets.drain(drainMs, config.wsSeeOtherUri())).<Void>mapEmpty().eventually(this::stop);
  }

  /** Ends owned sessions with system-shutdown, stops the listeners and closes the store. */
  public synchronized Future<Void> stop() {
    if (stopped == null) {
      stopped = stopOnce();
    }
    return stopped;
  }

  private Future<Void> stopOnce() {
    if (warmup != null) {
      warmup.stop();
    }
    return warmedUp.transform(ignored -> Future.join(pod.shutdown(), webSockets.shutdown()))
        .compose(v -> {
          List<Future<Void>> undeploys = new ArrayList<>();
          for (String id : deployments) {
            undeploys.add(vertx.undeploy(id));
          }
          return Future.join(undeploys);
        })
        .eventually(() -> pod.store().close())
        .eventually(() -> {
          pod.metrics().close();
          return Future.succeededFuture();
        })
        .mapEmpty();
  }

  /**
   * Client connections and upstream links each take a file descriptor: caps above the process's
   * limit would let a flood reach "too many open files" before any cap, and then nobody is served.
   */
  private static void warnIfFileDescriptorsShort(XboshConfig config) {
    if (java.lang.management.ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.UnixOperatingSystemMXBean os) {
      long needed = (long) config.maxConnections() + config.maxSessions() + 256;
      if (needed > os.getMaxFileDescriptorCount()) {
        log.warn("XBOSH_MAX_CONNECTIONS ({}) + XBOSH_MAX_SESSIONS ({}) + 256 exceed the file descriptor limit ({}): raise the limit or lower the caps",
            config.maxConnections(), config.maxSessions(), os.getMaxFileDescriptorCount());
      }
    }
  }
}
