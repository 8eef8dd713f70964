package io.xbosh.upstream;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Bounds the connections to XMPP servers a pod has opening at once (TCP connect, TLS, stream
 * header, until the stream's features): a server that accepts connections and never answers
 * would otherwise let them pile up, one socket and one timer each, for as long as the connect
 * timeout. Shared by every event loop of the pod; never blocks.
 */
public final class ConnectGate {

  private final int max;
  private final AtomicInteger inFlight = new AtomicInteger();

  /** @param max connects in flight at once, at least 1 */
  public ConnectGate(int max) {
    if (max < 1) {
      throw new IllegalArgumentException("max connects in flight must be at least 1: " + max);
    }
    this.max = max;
  }

  /** @return whether a connect may start; if so, call {@link #exit} once it has succeeded or failed */
  boolean tryEnter() {
    if (inFlight.incrementAndGet() > max) {
      inFlight.decrementAndGet();
      return false;
    }
    return true;
  }

  void exit() {
    inFlight.decrementAndGet();
  }

  public int inFlight() {
    return inFlight.get();
  }

  public int max() {
    return max;
  }
}
