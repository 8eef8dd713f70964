package io.xbosh.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmHeapPressureMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmInfoMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The pod's meters, scraped at {@code /metrics} in the Prometheus text format. Every pod reports
 * its own; deployment totals are sums over pods (for instance {@code sum(xbosh_sessions_owned)}).
 *
 * <p>No label names the pod: Prometheus' Kubernetes discovery adds {@code pod} (and {@code
 * instance}) itself, and a label of ours by that name would come out as {@code exported_pod}. The
 * pod's id is on {@code xbosh_build_info{xbosh_node}} for joins. Label values are lower case with
 * hyphens, like the XEP's condition names ({@code item-not-found}, {@code bad-request}). Latencies
 * are histograms with fixed buckets, so quantiles can be computed across pods
 * ({@code histogram_quantile(0.99, sum by (le) (rate(xbosh_redis_command_seconds_bucket[5m])))}).
 */
public final class XboshMetrics implements AutoCloseable {

  /** Store script calls: a healthy Redis answers in well under a millisecond. */
  static final Duration[] REDIS_BUCKETS = millis(0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500);
  /** Connecting to the XMPP server up to its stream features (TLS included). */
  static final Duration[] CONNECT_BUCKETS = millis(5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000);
  /** HTTP requests on the BOSH path, held ones included: up to the largest wait. */
  static final Duration[] REQUEST_BUCKETS = millis(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000,
      60_000, 120_000);
  /** How long a request was held before its answer: 0 to the largest wait. */
  static final Duration[] HOLD_BUCKETS = millis(1, 10, 100, 500, 1000, 2500, 5000, 10_000, 20_000, 30_000, 45_000, 60_000,
      90_000, 120_000);

  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final JvmGcMetrics gc = new JvmGcMetrics();
  private final JvmHeapPressureMetrics heapPressure = new JvmHeapPressureMetrics();
  private final Counter sessionsCreated;
  private final Counter stanzasIn;
  private final Counter stanzasOut;
  private final Timer upstreamConnect;
  private final Timer held;

  public XboshMetrics(String podId) {
    Gauge.builder("xbosh.build.info", () -> 1).description("xbosh's version and this pod's id (always 1)")
        .tag("version", version()).tag("java", System.getProperty("java.version", "unknown")).tag("xbosh_node", podId)
        .register(registry);
    new JvmMemoryMetrics().bindTo(registry);
    gc.bindTo(registry);
    heapPressure.bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ClassLoaderMetrics().bindTo(registry);
    new JvmInfoMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    new FileDescriptorMetrics().bindTo(registry);
    sessionsCreated = Counter.builder("xbosh.sessions.created").description("BOSH sessions created on this pod").register(registry);
    stanzasIn = Counter.builder("xbosh.stanzas").tag("direction", "in").description("stanzas: in, client to XMPP server; out, server to client")
        .register(registry);
    stanzasOut = Counter.builder("xbosh.stanzas").tag("direction", "out").description("stanzas: in, client to XMPP server; out, server to client")
        .register(registry);
    upstreamConnect = Timer.builder("xbosh.upstream.connect").description("time to connect to the XMPP server and get its features")
        .serviceLevelObjectives(CONNECT_BUCKETS).register(registry);
    held = Timer.builder("xbosh.hold").description("how long an HTTP request was held before it was answered, dropped or abandoned")
        .serviceLevelObjectives(HOLD_BUCKETS).register(registry);
  }

  private static Duration[] millis(double... ms) {
    Duration[] out = new Duration[ms.length];
    for (int i = 0; i < ms.length; i++) {
      out[i] = Duration.ofNanos((long) (ms[i] * 1_000_000));
    }
    return out;
  }

  /** The version in the jar's manifest, {@code dev} when run from classes. */
  public static String version() {
    String v = XboshMetrics.class.getPackage().getImplementationVersion();
    return v == null ? "dev" : v;
  }

  /** A label value as every label of ours writes it: lower case, words joined by hyphens. */
  public static String label(String value) {
    return value.toLowerCase(Locale.ROOT).replace('_', '-');
  }

  public MeterRegistry registry() {
    return registry;
  }

  /** The Prometheus text exposition of every meter. */
  public String scrape() {
    return registry.scrape();
  }

  /** Gauges read at scrape time: sessions whose link this pod owns, requests it holds. */
  public void bindPod(Supplier<Number> ownedSessions, Supplier<Number> heldRequests) {
    Gauge.builder("xbosh.sessions.owned", ownedSessions).description("sessions whose XMPP connection this pod holds")
        .register(registry);
    Gauge.builder("xbosh.requests.held", heldRequests).description("HTTP requests this pod is holding").register(registry);
  }

  /** Gauges of the sessions this pod holds, by transport: BOSH (sessions owned) and WebSocket (RFC 7395 streams). */
  public void bindTransports(Supplier<Number> bosh, Supplier<Number> websocket) {
    Gauge.builder("xbosh.sessions.transport", bosh).tag("transport", "bosh").description("sessions this pod holds, by transport")
        .register(registry);
    Gauge.builder("xbosh.sessions.transport", websocket).tag("transport", "websocket").description("sessions this pod holds, by transport")
        .register(registry);
  }

  /** A WebSocket stream began (its handshake was accepted). */
  public void webSocketStarted() {
    io.micrometer.core.instrument.Counter.builder("xbosh.sessions.started").tag("transport", "websocket")
        .description("sessions started on this pod, by transport (BOSH creations are xbosh_sessions_total)").register(registry).increment();
  }

  /** A WebSocket stream ended with xbosh's own stream error, or its peer was found dead. */
  public void webSocketError(String condition) {
    io.micrometer.core.instrument.Counter.builder("xbosh.websocket.errors").tag("condition", condition)
        .description("WebSocket streams ended by xbosh's own stream error, or found dead (dead-peer)").register(registry).increment();
  }

  /** One HTTP request on the BOSH path, by what became of it. */
  public void request(String outcome) {
    Counter.builder("xbosh.http.requests").description("HTTP requests on the BOSH path, by what became of them")
        .tag("outcome", label(outcome)).register(registry).increment();
  }

  /** One client connection accepted, by protocol ({@code http/1.x}, {@code h2c}: a load balancer's multiplexed connection). */
  public void connection(String protocol) {
    Counter.builder("xbosh.http.connections").description("client connections accepted, by protocol (h2c: HTTP/2 without TLS, XBOSH_HTTP2_CLEARTEXT)")
        .tag("protocol", protocol).register(registry).increment();
  }

  /** One HTTP request on the BOSH path from its start to the end of its response. */
  public void requestDuration(String method, int status, long nanos) {
    Timer.builder("xbosh.http.request").description("HTTP requests on the BOSH path, start to end of the response (held time included)")
        .tag("method", method).tag("status", status / 100 + "xx").serviceLevelObjectives(REQUEST_BUCKETS).register(registry)
        .record(nanos, TimeUnit.NANOSECONDS);
  }

  /** The timer of one store script and outcome ({@code ok}, {@code error}) in a registry. */
  public static Timer redisScript(MeterRegistry registry, String script, String outcome) {
    return Timer.builder("xbosh.redis.command").description("store script calls (one Redis round trip each), by script and outcome")
        .tag("script", label(script)).tag("outcome", label(outcome)).serviceLevelObjectives(REDIS_BUCKETS).register(registry);
  }

  /**
   * The store's Redis pool, as this process sees it: the pool's size ({@code xbosh.redis.pool.connections}) and
   * the script calls sent and not yet answered ({@code xbosh.redis.inflight}; beyond the pool size they wait for a
   * connection). The Redis client keeps its pool's occupancy to itself, so in-flight calls stand for it.
   */
  public static void redisPool(MeterRegistry registry, int poolSize, Supplier<Number> inFlight) {
    Gauge.builder("xbosh.redis.pool.connections", () -> poolSize).description("connections the store's Redis pool may open (XBOSH_REDIS_POOL_SIZE)")
        .register(registry);
    Gauge.builder("xbosh.redis.inflight", inFlight).description("store script calls sent to Redis and not yet answered (waiting for a pooled connection included)")
        .register(registry);
  }

  /** Counts store calls refused at once because every pooled connection was busy and the pool's wait queue was full. */
  public static Counter redisPoolBusy(MeterRegistry registry) {
    return Counter.builder("xbosh.redis.pool.busy").description("store script calls refused because the Redis pool and its wait queue were full")
        .register(registry);
  }

  /** A request was held this long. */
  public void held(long nanos) {
    held.record(nanos, TimeUnit.NANOSECONDS);
  }

  /**
   * The wait of a request the store holds with a deadline ran out; {@code answer}: {@code local} when
   * the pod answered it empty by itself, {@code release} when it asked the store (its channel dropped
   * meanwhile, a script of the pod on the session was in flight, the fence failed).
   */
  public void heldExpired(String answer) {
    Counter.builder("xbosh.held.expired").description("waits of requests held with a store deadline that ran out, by how they were answered")
        .tag("answer", label(answer)).register(registry).increment();
  }

  public void sessionCreated() {
    sessionsCreated.increment();
  }

  public void stanzasIn(int n) {
    stanzasIn.increment(n);
  }

  public void stanzasOut(int n) {
    stanzasOut.increment(n);
  }

  /** A session ended; {@code condition} is the terminate condition, or how it ended without one. */
  public void terminated(String condition) {
    Counter.builder("xbosh.sessions.terminated").description("sessions ended, by terminate condition or how they ended without one")
        .tag("condition", label(condition)).register(registry).increment();
  }

  public Timer upstreamConnect() {
    return upstreamConnect;
  }

  public void upstreamConnectFailed(String condition) {
    Counter.builder("xbosh.upstream.connect.failures").description("failed connections to the XMPP server, by terminate condition")
        .tag("condition", label(condition)).register(registry).increment();
  }

  /** Stops the JVM listeners the GC meters registered. */
  @Override
  public void close() {
    gc.close();
    heapPressure.close();
    registry.close();
  }
}
