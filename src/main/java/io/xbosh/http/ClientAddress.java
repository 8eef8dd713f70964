package io.xbosh.http;

import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.net.SocketAddress;
import io.vertx.ext.web.RoutingContext;

/**
 * The address of the client behind a request, for logs: the peer of the connection or, when
 * {@code XBOSH_TRUST_FORWARDED_FOR} says a proxy in front appends it, the last
 * {@code X-Forwarded-For} entry (the one that proxy wrote; earlier entries are the client's own
 * word). Decided once per request, before the BOSH handler, and kept in the routing context.
 */
public final class ClientAddress {

  static final String KEY = "xbosh.client";
  private static final int MAX_LENGTH = 64;

  private ClientAddress() {
  }

  /** Records the request's client address in its routing context. */
  public static void record(RoutingContext rc, boolean trustForwardedFor) {
    rc.put(KEY, of(rc.request(), trustForwardedFor));
  }

  /** The address recorded for this request, {@code -} when none was. */
  public static String of(RoutingContext rc) {
    String a = rc.get(KEY);
    return a == null ? "-" : a;
  }

  static String of(HttpServerRequest req, boolean trustForwardedFor) {
    if (trustForwardedFor) {
      String forwarded = req.getHeader("X-Forwarded-For");
      if (forwarded != null) {
        String last = forwarded.substring(forwarded.lastIndexOf(',') + 1).trim();
        if (!last.isEmpty() && last.length() <= MAX_LENGTH && last.matches("[0-9A-Fa-f:.\\[\\]]+")) {
          return last.intern();
        }
      }
    }
    SocketAddress peer = req.remoteAddress();
    // interned: one string per address for the request, its connection and the session's link, which
    // an idle session keeps (the JVM's string table holds it weakly)
    return peer == null || peer.hostAddress() == null ? "-" : peer.hostAddress().intern();
  }
}
