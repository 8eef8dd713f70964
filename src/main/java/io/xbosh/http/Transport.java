package io.xbosh.http;

import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;

/**
 * What the HTTP version of a request changes: on HTTP/1.x a request owns its connection while it is
 * answered, on HTTP/2 (a load balancer's h2c connection, {@code XBOSH_HTTP2_CLEARTEXT}) it is one
 * stream among other clients' requests, so ending "the connection" ends only its stream.
 */
public final class Transport {

  private Transport() {
  }

  public static boolean multiplexed(HttpServerRequest req) {
    return req.version() == HttpVersion.HTTP_2;
  }

  /**
   * Marks the answer as the connection's last on HTTP/1.x ({@code Connection: close}); nothing on
   * HTTP/2, which has no such header (RFC 9113 §8.2.2).
   */
  public static HttpServerResponse lastOnConnection(HttpServerRequest req) {
    HttpServerResponse res = req.response();
    if (!multiplexed(req)) {
      res.putHeader("Connection", "close");
    }
    return res;
  }

  /**
   * Stops reading the request: closes its HTTP/1.x connection; on HTTP/2 resets its stream alone
   * (RST_STREAM after the answer: the client stops sending the body, RFC 9113 §8.1), so the other
   * requests on the connection go on.
   */
  public static void endRequest(HttpServerRequest req) {
    if (multiplexed(req)) {
      req.response().reset();
    } else {
      req.connection().close();
    }
  }
}
