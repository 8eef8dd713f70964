package io.xbosh.http;

import io.xbosh.upstream.ConnectGate;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What one client address may take of a pod: open connections, requests in flight, sessions not
 * yet authenticated, and how fast it may create sessions. Shared by every event loop of the pod
 * (counters only, no session state); every method is cheap and never blocks.
 *
 * <p>Each pod-wide cap keeps a reserve: its last tenth is given only to addresses that hold
 * nothing of that kind yet, so a flood from a few addresses cannot take the slots a new user,
 * a probe or a load balancer check needs.
 */
public final class ClientLimits {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ClientLimits.class);

  /** The limits; 0 turns a per-address limit off. */
  public record Settings(int maxConnections, int maxConnectionsPerAddress, int maxRequestsPerAddress, int maxHeldRequests,
      int maxPreauthSessions, int maxPreauthPerAddress, int createsPerSecond, int maxConnectsInFlight) {
  }

  /** Why a creation was refused. */
  public enum Refusal { RATE, ADDRESS_PREAUTH, POD_PREAUTH }

  /** Bound on the addresses remembered for the creation rate; beyond it, the oldest are forgotten at once. */
  static final int MAX_RATE_ENTRIES = 100_000;

  private final Settings settings;
  private final AtomicInteger connections = new AtomicInteger();
  private final ConcurrentMap<String, AtomicInteger> connectionsByAddress = new ConcurrentHashMap<>();
  private final AtomicInteger requests = new AtomicInteger();
  private final ConcurrentMap<String, AtomicInteger> requestsByAddress = new ConcurrentHashMap<>();
  private final AtomicInteger preauth = new AtomicInteger();
  private final ConcurrentMap<String, AtomicInteger> preauthByAddress = new ConcurrentHashMap<>();
  private final ConcurrentMap<String, Bucket> creationRate = new ConcurrentHashMap<>();
  private final ConnectGate connectGate;

  public ClientLimits(Settings settings) {
    this.settings = settings;
    this.connectGate = new ConnectGate(settings.maxConnectsInFlight());
  }

  public Settings settings() {
    return settings;
  }

  // ---- connections

  /** @return whether a new connection from this address may stay open; if so, call {@link #connectionClosed} when it closes */
  public boolean connectionOpened(String address) {
    return acquire(connections, connectionsByAddress, address, settings.maxConnections(), settings.maxConnectionsPerAddress());
  }

  public void connectionClosed(String address) {
    release(connections, connectionsByAddress, address);
  }

  public int connections() {
    return connections.get();
  }

  // ---- requests on the BOSH path (held or being processed)

  /**
   * XBOSH_MAX_HELD_REQUESTS is the pod's; one address may have at most its share of it in flight,
   * and the last tenth only goes to addresses with nothing in flight.
   */
  public boolean requestStarted(String address) {
    return acquire(requests, requestsByAddress, address, settings.maxHeldRequests(), settings.maxRequestsPerAddress());
  }

  public void requestDone(String address) {
    release(requests, requestsByAddress, address);
  }

  public int requests() {
    return requests.get();
  }

  // ---- session creation before authentication

  /**
   * A session creation from this address: within its rate and the caps on sessions not yet
   * authenticated. On null, call {@link #preauthEnded} once the session authenticated, ended or failed.
   */
  public Refusal creationStarted(String address, long nowNanos) {
    return creationStarted(address, nowNanos, false);
  }

  /**
   * Like {@link #creationStarted(String, long)}; {@code warmup}: a session of the pod's own warm-up
   * ({@code io.xbosh.warmup.WarmupRoute}), which the creation rate does not count (its loopback
   * address would otherwise allow it {@code XBOSH_CREATES_PER_SECOND}); the caps still do.
   */
  public Refusal creationStarted(String address, long nowNanos, boolean warmup) {
    if (!warmup && settings.createsPerSecond() > 0 && !rate(address, nowNanos)) {
      return Refusal.RATE;
    }
    int pod = preauth.get();
    AtomicInteger own = preauthByAddress.get(address);
    if (settings.maxPreauthPerAddress() > 0 && own != null && own.get() >= settings.maxPreauthPerAddress()) {
      return Refusal.ADDRESS_PREAUTH;
    }
    if (!acquire(preauth, preauthByAddress, address, settings.maxPreauthSessions(), settings.maxPreauthPerAddress())) {
      return pod >= settings.maxPreauthSessions() - reserve(settings.maxPreauthSessions()) ? Refusal.POD_PREAUTH : Refusal.ADDRESS_PREAUTH;
    }
    return null;
  }

  public void preauthEnded(String address) {
    release(preauth, preauthByAddress, address);
  }

  /**
   * A session counts against its address's and the pod's pre-authentication caps until its server
   * sends SASL success; one that has not within {@code seconds} ends with policy-violation and its
   * upstream link closes. Called on the event loop that created the session.
   */
  public void preauthDeadline(io.xbosh.pod.Pod pod, long seconds, String sid, io.xbosh.upstream.Link link, String address) {
    boolean[] released = {false};
    Runnable release = () -> {
      if (!released[0]) {
        released[0] = true;
        preauthEnded(address);
      }
    };
    io.vertx.core.Context here = pod.vertx().getOrCreateContext();
    long timer = pod.vertx().setTimer(seconds * 1000L, id -> {
      release.run();
      if (!link.authenticated().succeeded() && pod.owns(sid)) {
        LOG.info("sid={} not authenticated within {} s; ending it", sid, seconds);
        pod.failed(sid, io.xbosh.protocol.TerminateCondition.POLICY_VIOLATION);
      }
    });
    link.authenticated().onComplete(ar -> here.runOnContext(v -> {
      release.run();
      pod.vertx().cancelTimer(timer);
    }));
  }

  public int preauthSessions() {
    return preauth.get();
  }

  /** The pod's bound on connections to XMPP servers being opened at once (every event loop's connector shares it). */
  public ConnectGate connectGate() {
    return connectGate;
  }

  // ---- counting

  private static int reserve(int cap) {
    return cap / 10;
  }

  /**
   * Takes one slot of the pod-wide cap and of the address's, or none: at the address's cap, or in
   * the pod's reserve while the address already holds a slot, or at the pod's cap.
   */
  private static boolean acquire(AtomicInteger total, ConcurrentMap<String, AtomicInteger> byAddress, String address, int cap,
      int perAddress) {
    boolean[] taken = {false};
    byAddress.compute(address, (a, count) -> {
      int own = count == null ? 0 : count.get();
      if (perAddress > 0 && own >= perAddress) {
        return count;
      }
      int limit = own == 0 ? cap : cap - reserve(cap);
      if (total.incrementAndGet() > limit) {
        total.decrementAndGet();
        return count;
      }
      taken[0] = true;
      AtomicInteger c = count == null ? new AtomicInteger() : count;
      c.incrementAndGet();
      return c;
    });
    return taken[0];
  }

  private static void release(AtomicInteger total, ConcurrentMap<String, AtomicInteger> byAddress, String address) {
    byAddress.computeIfPresent(address, (a, count) -> {
      total.decrementAndGet();
      return count.decrementAndGet() <= 0 ? null : count;
    });
  }

  /** A token bucket per address: {@code createsPerSecond}, bursts of twice that. */
  private boolean rate(String address, long nowNanos) {
    if (creationRate.size() >= MAX_RATE_ENTRIES) {
      long stale = nowNanos - 10_000_000_000L;
      creationRate.values().removeIf(b -> b.updated < stale);
      if (creationRate.size() >= MAX_RATE_ENTRIES) {
        creationRate.clear();
      }
    }
    int perSecond = settings.createsPerSecond();
    Bucket b = creationRate.computeIfAbsent(address, a -> new Bucket(2.0 * perSecond, nowNanos));
    synchronized (b) {
      b.tokens = Math.min(2.0 * perSecond, b.tokens + (nowNanos - b.updated) / 1e9 * perSecond);
      b.updated = nowNanos;
      if (b.tokens < 1) {
        return false;
      }
      b.tokens -= 1;
      return true;
    }
  }

  private static final class Bucket {
    double tokens;
    long updated;

    Bucket(double tokens, long updated) {
      this.tokens = tokens;
      this.updated = updated;
    }
  }
}
