package io.xbosh.upstream;

import io.vertx.core.Future;
import io.vertx.core.dns.DnsClient;
import io.vertx.core.dns.SrvRecord;
import io.vertx.core.net.SocketAddress;
import io.xbosh.config.XboshConfig.HostPort;
import io.xbosh.protocol.BoshException;
import io.xbosh.protocol.TerminateCondition;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Picks the XMPP server for a new session, connecting only where the operator allows (no open
 * relay, no SSRF through {@code route}):
 * <ol>
 *   <li>a domain allow-list, when set, admits the {@code to} domain or answers {@code host-unknown};
 *   <li>{@code route='xmpp:host:port'} is honoured when the route allow-list admits it
 *       ({@code host-unknown} otherwise, {@code improper-addressing} when it is not of that form),
 *       and ignored when there is no route allow-list (XEP-0124 §7.1 lets such a CM ignore it);
 *   <li>the per-domain server map;
 *   <li>the fixed default server, or in SRV mode the domain's {@code _xmpp-client._tcp} records
 *       (RFC 6120 §3.2.1, looked up without blocking), falling back to the domain on port 5222.
 * </ol>
 */
public final class ConfiguredResolver implements UpstreamResolver {

  /** The port of a domain without SRV records (RFC 6120 §3.2.1). */
  public static final int DEFAULT_PORT = 5222;

  /** {@code host[:port]}, the host a name or a bracketed IPv6 address: what routes and see-other-host name. */
  private static final Pattern HOST_PORT = Pattern.compile("(\\[[0-9a-f:.]{2,45}]|[a-z0-9.-]{1,253})(?::(\\d{1,5}))?");

  private final HostPort fallback;
  private final Map<String, HostPort> hosts;
  private final Set<String> domains;
  private final Set<String> routeAllow;
  private final DnsClient dns;

  /**
   * @param fallback   the server for domains not in {@code hosts}; null for SRV mode
   * @param routeAllow admitted routes as {@code host:port} or {@code host:*}, lower case; empty: routes ignored
   * @param dns        the client for SRV lookups (SRV mode only; may be null otherwise)
   */
  public ConfiguredResolver(HostPort fallback, Map<String, HostPort> hosts, Set<String> domains, Set<String> routeAllow, DnsClient dns) {
    this.fallback = fallback;
    this.hosts = Map.copyOf(hosts);
    this.domains = Set.copyOf(domains);
    this.routeAllow = Set.copyOf(routeAllow);
    this.dns = dns;
    if (fallback == null && dns == null) {
      throw new IllegalArgumentException("SRV mode needs a DNS client");
    }
  }

  /** Fixed servers only, no routes. */
  public ConfiguredResolver(HostPort fallback, Map<String, HostPort> hosts, Set<String> domains) {
    this(fallback, hosts, domains, Set.of(), null);
  }

  @Override
  public Future<List<SocketAddress>> resolve(String domain, String route) {
    String d = domain.toLowerCase(Locale.ROOT);
    if (!domains.isEmpty() && !domains.contains(d)) {
      return Future.failedFuture(new BoshException(TerminateCondition.HOST_UNKNOWN, "domain not served: " + d));
    }
    if (route != null && !routeAllow.isEmpty()) {
      Matcher m = route.startsWith("xmpp:") ? HOST_PORT.matcher(route.substring(5).toLowerCase(Locale.ROOT)) : null;
      if (m == null || !m.matches() || m.group(2) == null || port(m) < 1 || port(m) > 65535) {
        return Future.failedFuture(new BoshException(TerminateCondition.IMPROPER_ADDRESSING, "route is not xmpp:host:port"));
      }
      SocketAddress target = admitted(m);
      return target != null ? Future.succeededFuture(List.of(target))
          : Future.failedFuture(new BoshException(TerminateCondition.HOST_UNKNOWN, "route not admitted: " + route));
    }
    HostPort mapped = hosts.get(d);
    if (mapped == null) {
      mapped = fallback;
    }
    if (mapped != null) {
      return Future.succeededFuture(List.of(SocketAddress.inetSocketAddress(mapped.port(), mapped.host())));
    }
    return srv(d);
  }

  /** A see-other-host target is followed only when the route allow-list admits it. */
  @Override
  public SocketAddress redirect(String value) {
    Matcher m = HOST_PORT.matcher(value.trim().toLowerCase(Locale.ROOT));
    return m.matches() ? admitted(m) : null;
  }

  /** The address a matched {@link #HOST_PORT} names (port 5222 when absent), if the route allow-list admits it; else null. */
  private SocketAddress admitted(Matcher hostPort) {
    String host = hostPort.group(1);
    int port = port(hostPort);
    if (port < 1 || port > 65535 || !(routeAllow.contains(host + ":" + port) || routeAllow.contains(host + ":*"))) {
      return null;
    }
    return SocketAddress.inetSocketAddress(port, host.startsWith("[") ? host.substring(1, host.length() - 1) : host);
  }

  private static int port(Matcher hostPort) {
    return hostPort.group(2) == null ? DEFAULT_PORT : Integer.parseInt(hostPort.group(2));
  }

  private Future<List<SocketAddress>> srv(String domain) {
    SocketAddress plain = SocketAddress.inetSocketAddress(DEFAULT_PORT, domain);
    return dns.resolveSRV("_xmpp-client._tcp." + domain).transform(ar -> {
      if (ar.failed() || ar.result() == null || ar.result().isEmpty()) {
        // no records (or no answer): the domain itself on the standard port
        return Future.succeededFuture(List.of(plain));
      }
      List<SrvRecord> records = ar.result();
      if (records.size() == 1 && isRoot(records.get(0).target())) {
        // RFC 2782: a target of "." says the service is decidedly not available at this domain
        return Future.failedFuture(new BoshException(TerminateCondition.HOST_UNKNOWN, "no XMPP service at " + domain));
      }
      return Future.succeededFuture(order(records));
    });
  }

  private static boolean isRoot(String target) {
    return target == null || target.isEmpty() || target.equals(".");
  }

  /** RFC 2782: lowest priority first; within a priority, a random order weighted by weight. */
  static List<SocketAddress> order(List<SrvRecord> records) {
    List<SrvRecord> sorted = new ArrayList<>(records);
    sorted.removeIf(r -> isRoot(r.target()));
    sorted.sort(Comparator.comparingInt(SrvRecord::priority));
    List<SocketAddress> out = new ArrayList<>(sorted.size());
    int i = 0;
    while (i < sorted.size()) {
      int j = i;
      while (j < sorted.size() && sorted.get(j).priority() == sorted.get(i).priority()) {
        j++;
      }
      List<SrvRecord> group = new ArrayList<>(sorted.subList(i, j));
      while (!group.isEmpty()) {
        long total = group.stream().mapToLong(r -> r.weight() + 1L).sum();
        long pick = ThreadLocalRandom.current().nextLong(total);
        int k = 0;
        for (long acc = group.get(0).weight() + 1L; acc <= pick; acc += group.get(k).weight() + 1L) {
          k++;
        }
        SrvRecord r = group.remove(k);
        String target = r.target().endsWith(".") ? r.target().substring(0, r.target().length() - 1) : r.target();
        out.add(SocketAddress.inetSocketAddress(r.port(), target));
      }
      i = j;
    }
    return out;
  }
}
