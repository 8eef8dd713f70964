package io.xbosh.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.function.Supplier;

/**
 * The pod's meters, scraped at {@code /metrics} in the Prometheus text format. Every pod reports
 * its own; deployment totals are sums over pods (for instance {@code sum(xbosh_sessions_owned)}).
 */
public final class XboshMetrics {

  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Counter sessionsCreated;
  private final Counter stanzasIn;
  private final Counter stanzasOut;
  private final Timer upstreamConnect;

  public XboshMetrics(String podId) {
    registry.config().commonTags("pod", podId);
    sessionsCreated = Counter.builder("xbosh.sessions.created").description("BOSH sessions created on this pod").register(registry);
    stanzasIn = Counter.builder("xbosh.stanzas").tag("direction", "in").description("client stanzas forwarded to the XMPP server")
        .register(registry);
    stanzasOut = Counter.builder("xbosh.stanzas").tag("direction", "out").description("server stanzas queued for clients")
        .register(registry);
    upstreamConnect = Timer.builder("xbosh.upstream.connect").description("time to connect to the XMPP server and get its features")
        .register(registry);
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
    registry.counter("xbosh.sessions.started", "transport", "websocket").increment();
  }

  /** A WebSocket stream ended with xbosh's own stream error, or its peer was found dead. */
  public void webSocketError(String condition) {
    registry.counter("xbosh.websocket.errors", "condition", condition).increment();
  }

  /** One HTTP request on the BOSH path, by what became of it. */
  public void request(String outcome) {
    registry.counter("xbosh.http.requests", "outcome", outcome).increment();
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
    registry.counter("xbosh.sessions.terminated", "condition", condition).increment();
  }

  public Timer upstreamConnect() {
    return upstreamConnect;
  }

  public void upstreamConnectFailed(String condition) {
    registry.counter("xbosh.upstream.connect.failures", "condition", condition).increment();
  }
}
