package io.xbosh.amqp;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.TrustOptions;
import io.vertx.rabbitmq.RabbitMQOptions;
import io.xbosh.config.AmqpConfig;
import io.xbosh.protocol.SessionParams;
import io.xbosh.upstream.Connector;
import io.xbosh.upstream.LinkOpener;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Opens {@link AmqpLink}s for the domains {@code XBOSH_UPSTREAM_HOSTS} maps to a broker. Opening
 * touches no broker: the connection is made at SASL time, as the user.
 */
public final class AmqpOpener implements LinkOpener {

  private final Vertx vertx;
  private final AmqpConfig config;
  private final int maxStanzaChars;
  private final int maxQueuedStanzas;
  private final long connectTimeoutMs;
  /** by domain, for the amqps:// brokers */
  private final Map<String, TrustOptions> trust;

  public AmqpOpener(Vertx vertx, AmqpConfig config, int maxStanzaChars, int maxQueuedStanzas, long connectTimeoutMs) {
    this.vertx = vertx;
    this.config = config;
    this.maxStanzaChars = maxStanzaChars;
    this.maxQueuedStanzas = maxQueuedStanzas;
    this.connectTimeoutMs = connectTimeoutMs;
    Map<String, TrustOptions> t = new HashMap<>();
    config.hosts().forEach((domain, target) -> {
      if (target.tls()) {
        try {
          t.put(domain, TrustOptions.wrap(BrokerTrust.forHost(config.trust(), target.host())));
        } catch (IOException | GeneralSecurityException e) {
          throw new IllegalStateException("XBOSH_AMQP_TRUST " + config.trust() + ": " + e.getMessage(), e);
        }
      }
    });
    this.trust = Map.copyOf(t);
  }

  @Override
  public boolean serves(String domain) {
    return config.hosts().containsKey(domain);
  }

  @Override
  public Future<Connector.Opened> open(Context context, String sid, SessionParams params, String client) {
    String domain = params.to().toLowerCase(Locale.ROOT);
    AmqpConfig.Target target = config.hosts().get(domain);
    AmqpLink link = new AmqpLink(vertx, context, sid, params, settings(domain, target), client);
    return Future.succeededFuture(new Connector.Opened(link, link.opened()));
  }

  AmqpLink.Settings settings(String domain, AmqpConfig.Target target) {
    RabbitMQOptions o = new RabbitMQOptions()
        .setHost(target.host())
        .setPort(target.port())
        .setVirtualHost(target.vhost())
        .setConnectionTimeout((int) connectTimeoutMs)
        .setHandshakeTimeout((int) connectTimeoutMs)
        // a dead broker or path is noticed within two beats
        .setRequestedHeartbeat(10);
    if (target.tls()) {
      // the chain and the host name, checked in the handshake (BrokerTrust); Vert.x's own
      // algorithm would only apply to its own sockets, not to the RabbitMQ client's, but must be set
      o.setSsl(true).setTrustOptions(trust.get(domain)).setHostnameVerificationAlgorithm("");
      if (config.cert() != null) {
        // for a broker that asks for one (ssl_options.verify = verify_peer)
        o.setKeyCertOptions(new PemKeyCertOptions().setCertPath(config.cert()).setKeyPath(config.key()));
      }
    }
    return new AmqpLink.Settings(domain, o, config.prefetch(), config.offlineSeconds(), config.queueMax(), config.reconnectSeconds(),
        maxStanzaChars, maxQueuedStanzas);
  }
}
