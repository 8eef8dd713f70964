package io.xbosh.upstream;

import io.vertx.core.Future;
import io.vertx.core.net.SocketAddress;
import io.xbosh.config.XboshConfig.HostPort;
import io.xbosh.protocol.BoshException;
import io.xbosh.protocol.TerminateCondition;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Resolution from configuration only: an optional domain allow-list, a per-domain server map, else
 * the default server. {@code route} is not honoured (XEP-0124 §7.1 lets a CM serving fixed servers
 * ignore it), so xbosh connects only where it is configured to: no open relay.
 */
public final class ConfiguredResolver implements UpstreamResolver {

  private final HostPort fallback;
  private final Map<String, HostPort> hosts;
  private final Set<String> domains;

  public ConfiguredResolver(HostPort fallback, Map<String, HostPort> hosts, Set<String> domains) {
    this.fallback = fallback;
    this.hosts = Map.copyOf(hosts);
    this.domains = Set.copyOf(domains);
  }

  @Override
  public Future<SocketAddress> resolve(String domain, String route) {
    String d = domain.toLowerCase(Locale.ROOT);
    if (!domains.isEmpty() && !domains.contains(d)) {
      return Future.failedFuture(new BoshException(TerminateCondition.HOST_UNKNOWN, "domain not served: " + d));
    }
    HostPort hp = hosts.getOrDefault(d, fallback);
    return Future.succeededFuture(SocketAddress.inetSocketAddress(hp.port(), hp.host()));
  }
}
