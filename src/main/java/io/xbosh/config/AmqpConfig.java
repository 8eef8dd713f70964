package io.xbosh.config;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The domains served from an AMQP 0-9-1 broker instead of an XMPP server ({@code
 * XBOSH_UPSTREAM_HOSTS=notify.example=amqp://host:5672/vhost}) and the bounds of their links.
 *
 * @param hosts            broker by domain (lower case); empty: no AMQP upstream
 * @param trust            PEM file of the authorities trusted for {@code amqps://} brokers; null: the JVM's
 * @param prefetch         unacknowledged deliveries one client's queue consumer holds at most
 * @param offlineSeconds   how long a durable queue outlives its last consumer (the broker's {@code x-expires})
 * @param queueMax         messages a durable queue keeps at most; beyond, the oldest go ({@code x-max-length}, drop-head)
 * @param reconnectSeconds how long a session with a durable queue tries to reach its broker again before it ends
 * @param cert             PEM certificate presented to {@code amqps://} brokers that ask for one; null: none
 * @param key              PEM private key of {@code cert}
 */
public record AmqpConfig(Map<String, Target> hosts, String trust, int prefetch, int offlineSeconds, int queueMax, int reconnectSeconds,
    String cert, String key) {

  /** Without a client certificate. */
  public AmqpConfig(Map<String, Target> hosts, String trust, int prefetch, int offlineSeconds, int queueMax, int reconnectSeconds) {
    this(hosts, trust, prefetch, offlineSeconds, queueMax, reconnectSeconds, null, null);
  }

  /** Nothing served from a broker. */
  public static final AmqpConfig NONE = new AmqpConfig(Map.of(), null, 50, 7 * 24 * 3600, 10_000, 60);

  private static final Pattern URI = Pattern.compile("(amqps?)://(\\[[0-9a-fA-F:.]+]|[A-Za-z0-9.-]{1,253})(?::(\\d{1,5}))?(?:/([^/?#]*))?");

  /**
   * A broker.
   *
   * @param vhost the virtual host, {@code /} when the URI names none
   */
  public record Target(boolean tls, String host, int port, String vhost) {

    /** {@code amqp://host[:port][/vhost]} (vhost percent-encoded, {@code %2F} for {@code /}); no user or password in it. */
    public static Target parse(String uri) {
      Matcher m = URI.matcher(uri);
      if (!m.matches()) {
        // the value may hold a password (amqp://user:pw@host): echoed only without it
        throw new IllegalArgumentException("expected amqp://host[:port][/vhost] or amqps://... (no user or password: the client's"
            + " login is the broker's), got '" + XboshConfig.redactUrl(uri) + "'");
      }
      boolean tls = m.group(1).equals("amqps");
      String host = m.group(2).startsWith("[") ? m.group(2).substring(1, m.group(2).length() - 1) : m.group(2);
      int port = m.group(3) == null ? (tls ? 5671 : 5672) : Integer.parseInt(m.group(3));
      if (port < 1 || port > 65535) {
        throw new IllegalArgumentException("port out of range in '" + XboshConfig.redactUrl(uri) + "'");
      }
      String vhost = m.group(4) == null || m.group(4).isEmpty() ? "/" : URLDecoder.decode(m.group(4), StandardCharsets.UTF_8);
      return new Target(tls, host, port, vhost);
    }
  }

  public AmqpConfig {
    hosts = Map.copyOf(hosts);
  }

  /** Whether an {@code XBOSH_UPSTREAM_HOSTS} value names a broker. */
  public static boolean isBroker(String value) {
    String v = value.trim().toLowerCase(Locale.ROOT);
    return v.startsWith("amqp://") || v.startsWith("amqps://");
  }

  /** The broker entries of an {@code XBOSH_UPSTREAM_HOSTS} value ({@code domain=amqp://...}); other entries are skipped. */
  public static Map<String, Target> parseHosts(String s) {
    Map<String, Target> m = new LinkedHashMap<>();
    for (String entry : s.split(",")) {
      int eq = entry.indexOf('=');
      if (eq > 0 && isBroker(entry.substring(eq + 1))) {
        m.put(entry.substring(0, eq).trim().toLowerCase(Locale.ROOT), Target.parse(entry.substring(eq + 1).trim()));
      }
    }
    return Map.copyOf(m);
  }
}
