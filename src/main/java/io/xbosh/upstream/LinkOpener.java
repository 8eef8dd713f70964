package io.xbosh.upstream;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.xbosh.protocol.SessionParams;

/**
 * Serves some domains with a {@link Link} other than a c2s stream (an AMQP broker, see
 * {@code io.xbosh.amqp}). The {@link Connector} asks it first for a session's first stream.
 */
public interface LinkOpener {

  /** Whether {@code domain} (lower case) is served by this opener. */
  boolean serves(String domain);

  /**
   * Opens the link of a new session's first stream. Fails with a
   * {@link io.xbosh.protocol.BoshException}.
   */
  Future<Connector.Opened> open(Context context, String sid, SessionParams params, String client);
}
