package io.xbosh.upstream;

import io.vertx.core.Future;
import io.vertx.core.net.SocketAddress;
import java.util.List;

/**
 * Picks the XMPP server for a new session from its {@code to} domain and {@code route} attribute
 * (XEP-0124 §7.1). Fails with a {@link io.xbosh.protocol.BoshException}: {@code host-unknown} for a
 * domain or route xbosh will not serve. Never blocks.
 */
public interface UpstreamResolver {

  /** @return the servers to try, in order (more than one from SRV records) */
  Future<List<SocketAddress>> resolve(String domain, String route);
}
