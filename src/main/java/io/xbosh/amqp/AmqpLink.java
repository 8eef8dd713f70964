package io.xbosh.amqp;

import com.rabbitmq.client.Connection;
import com.rabbitmq.client.NoOpMetricsCollector;
import com.rabbitmq.client.PossibleAuthenticationFailureException;
import com.rabbitmq.client.ShutdownSignalException;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.rabbitmq.QueueOptions;
import io.vertx.rabbitmq.RabbitMQClient;
import io.vertx.rabbitmq.RabbitMQMessage;
import io.vertx.rabbitmq.RabbitMQOptions;
import io.xbosh.amqp.Xml.El;
import io.xbosh.amqp.Xml.XmlException;
import io.xbosh.protocol.Namespaces;
import io.xbosh.protocol.SessionParams;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.protocol.XmlEscape;
import io.xbosh.session.Forward;
import io.xbosh.session.SessionStore.Delivery;
import io.xbosh.upstream.Link;
import io.xbosh.upstream.LinkSink;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A BOSH session's first stream served from an AMQP 0-9-1 broker: xbosh itself speaks the little
 * XMPP a notification client needs (SASL PLAIN checked by the broker, resource binding, session,
 * an empty roster, ping, disco#info; every other iq {@code service-unavailable}) and maps the
 * user's exchange and the client's queue to {@code <message/>} stanzas. Confined to one event loop,
 * like the c2s {@link io.xbosh.upstream.UpstreamLink} it stands in for.
 *
 * <p>The model: exchange {@code user@domain} (fanout, durable) per user; one queue per client
 * resource, named by the full JID and bound to it: durable (expiring {@code offlineSeconds} after
 * its last consumer, at most {@code queueMax} messages, oldest dropped) when the client chose its
 * resource, auto-delete when xbosh generated it. The queue is consumed with manual acks and a
 * prefetch of {@code prefetch}; a delivery is acked only once the store has taken the stanza made
 * of it ({@link LinkSink#deliver} succeeded) and put it into a response, or {@link #ACK_DELAY_MS}
 * after it waits in the session's queue: a pod that dies before loses nothing, the broker
 * redelivers to the client's next consumer. A redelivery this link has already passed on (same
 * message id) is acked and dropped; across sessions delivery is at least once.
 *
 * <p>One {@link State}; {@link #to} is the only place it changes. Broker failures end the session
 * cleanly: {@code remote-connection-failed} when the broker cannot be reached (or, for a session
 * without a durable queue, when its connection drops), {@code host-gone} when it no longer admits
 * the user. A session with a durable queue reconnects for {@code reconnectSeconds} first.
 */
public final class AmqpLink implements Link {

  private static final Logger log = LoggerFactory.getLogger(AmqpLink.class);
  private static final SecureRandom RANDOM = new SecureRandom();
  static final String BIND = "urn:ietf:params:xml:ns:xmpp-bind";
  static final String SESSION = "urn:ietf:params:xml:ns:xmpp-session";
  static final String STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
  static final String ROSTER = "jabber:iq:roster";
  static final String PING = "urn:xmpp:ping";
  static final String DISCO_INFO = "http://jabber.org/protocol/disco#info";
  /** What a SASL PLAIN authcid may be: a JID localpart xbosh can name an exchange after (RFC 7622 §3.3, narrowed). */
  private static final Pattern LOCALPART = Pattern.compile("[^\\s@/\"&'<>:]{1,255}");
  /** A resource the client chose (RFC 7622 §3.4, narrowed to what names a queue well). */
  private static final Pattern RESOURCE = Pattern.compile("[^\\s\"&'<>]{1,200}");
  private static final int MAX_AUTH_FAILURES = 3;
  /** Stanzas xbosh itself answers the client with, waiting for the store, at most. */
  private static final int MAX_LOCAL_PENDING = 256;
  /** Message ids remembered for de-duplicating redeliveries. */
  private static final int SEEN_IDS = 4096;
  private static final long RETRY_MS = 100;
  private static final long MAX_RETRY_MS = 5000;
  /** How long a stanza waiting in the session's queue (no request held) stays unacked, at most. */
  static final long ACK_DELAY_MS = 250;
  private static final String FEATURES_SASL = "<stream:features xmlns:stream=\"" + Namespaces.STREAMS + "\"><mechanisms xmlns=\""
      + Namespaces.SASL + "\"><mechanism>PLAIN</mechanism></mechanisms></stream:features>";
  private static final String FEATURES_BIND = "<stream:features xmlns:stream=\"" + Namespaces.STREAMS + "\"><bind xmlns=\"" + BIND
      + "\"/><session xmlns=\"" + SESSION + "\"><optional/></session></stream:features>";

  /** Where the link is. Moves forward only, but for OPEN ⇄ RECONNECTING; any state can go to CLOSED. */
  public enum State {
    /** features with SASL PLAIN are out; {@code <auth/>} is awaited */
    AUTH,
    /** the broker connection is being opened as the user */
    AUTHENTICATING,
    /** SASL succeeded; the client's stream restart is awaited */
    AUTHENTICATED,
    /** the restarted stream's features are out; resource binding is awaited */
    BINDING,
    /** bound: the queue is consumed, messages are published */
    OPEN,
    /** the broker connection dropped; a durable queue's session connects again */
    RECONNECTING,
    /** the session is over on the broker side: what is pending still goes out, then the end */
    ENDING,
    /** nothing more happens; an attached sink has been told */
    CLOSED
  }

  /**
   * Bounds and settings of a link.
   *
   * @param maxStanzaChars   largest stanza either way
   * @param maxQueuedStanzas the session's queue bound in the store: the largest batch
   * @param options          the broker's address, TLS and timeouts; user and password are set per login
   */
  public record Settings(String domain, RabbitMQOptions options, int prefetch, int offlineSeconds, int queueMax, int reconnectSeconds,
      int maxStanzaChars, int maxQueuedStanzas) {
  }

  /** A stanza for the client; {@code client} and {@code tag} name the broker delivery to ack, null for xbosh's own. */
  private record Out(String stanza, RabbitMQClient client, long tag, String messageId) {
  }

  private record Ending(TerminateCondition condition) {
  }

  private final Vertx vertx;
  private final Context context;
  private final String sid;
  private final SessionParams params;
  private final Settings settings;
  private final String clientAddress;
  private final int batchLimit;
  private final String streamId;
  private final Promise<Void> authenticated = Promise.promise();
  private final ArrayDeque<Out> pending = new ArrayDeque<>();
  private final Map<String, Boolean> seen = new LinkedHashMap<>(64, 0.75f, false) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
      return size() > SEEN_IDS;
    }
  };

  private State state = State.AUTH;
  /** names this link in its batches' tokens (see {@link LinkSink#deliver}) */
  private final String linkId = Long.toString(java.util.concurrent.ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE, 36);
  private long batchSeq;
  /** a batch that failed or met a full queue: it goes again as it was, with its token, before anything newer */
  private List<Out> unsent;
  private LinkSink sink;
  private boolean inFlight;
  private long retryMs = RETRY_MS;
  private long retryTimer = -1;
  private int authFailures;
  private int localPending;
  private Ending ending;

  private String user;
  private String password;
  private String bareJid;
  private String fullJid;
  private String queue;
  private boolean durable;
  /** the consuming connection; null before login and while reconnecting */
  private RabbitMQClient client;
  /** the publishing connection, opened on the first message the client sends */
  private RabbitMQClient publisher;
  private Future<Void> publisherStarted;
  private long reconnectDeadline;
  /** the last delivery in the store but not yet in a response, acked by {@link #deferTimer} or the next response */
  private RabbitMQClient deferredClient;
  private long deferredTag;
  private long deferTimer = -1;

  public AmqpLink(Vertx vertx, Context context, String sid, SessionParams params, Settings settings, String clientAddress) {
    this.vertx = vertx;
    this.context = context;
    this.sid = sid;
    this.params = params;
    this.settings = settings;
    this.clientAddress = clientAddress;
    this.batchLimit = Math.max(1, Math.min(200, settings.maxQueuedStanzas()));
    this.streamId = random(12);
  }

  /** What the creation response carries: SASL PLAIN only. */
  public io.xbosh.upstream.StreamOpened opened() {
    return new io.xbosh.upstream.StreamOpened(streamId, settings.domain(), FEATURES_SASL, settings.options().isSsl());
  }

  public State state() {
    return state;
  }

  public String sid() {
    return sid;
  }

  /** The bound JID, null before binding. */
  public String jid() {
    return fullJid;
  }

  @Override
  public Context context() {
    return context;
  }

  @Override
  public SessionParams params() {
    return params;
  }

  @Override
  public String clientAddress() {
    return clientAddress;
  }

  @Override
  public Future<Void> authenticated() {
    return authenticated.future();
  }

  // ---- the one place the state changes

  private void to(State next) {
    State from = state;
    if (from == next || from == State.CLOSED) {
      return;
    }
    boolean allowed = switch (next) {
      case AUTH -> from == State.AUTHENTICATING;
      case AUTHENTICATING -> from == State.AUTH;
      case AUTHENTICATED -> from == State.AUTHENTICATING;
      case BINDING -> from == State.AUTHENTICATED;
      case OPEN -> from == State.BINDING || from == State.RECONNECTING;
      case RECONNECTING -> from == State.OPEN;
      case ENDING -> from != State.ENDING;
      case CLOSED -> true;
    };
    if (!allowed) {
      throw new IllegalStateException("sid=" + sid + " AMQP link cannot go from " + from + " to " + next);
    }
    state = next;
    log.debug("sid={} AMQP link {} -> {}", sid, from, next);
    if (next == State.CLOSED) {
      enterClosed();
    }
  }

  private void enterClosed() {
    cancelRetry();
    clearDeferred();
    // unacked deliveries go back to the queue when the connection closes
    stopClient(client);
    stopClient(publisher);
    client = null;
    publisher = null;
    pending.clear();
    unsent = null;
    password = null;
    authenticated.tryFail("link closed");
    if (sink != null) {
      LinkSink s = sink;
      sink = null;
      s.closed(sid, null);
    }
  }

  // ---- what the session asks

  @Override
  public void attach(LinkSink sink) {
    runOnContext(() -> {
      if (state == State.CLOSED) {
        sink.closed(sid, null);
        return;
      }
      this.sink = sink;
      pump();
    });
  }

  @Override
  public boolean writable(Runnable whenWritable) {
    return true;
  }

  @Override
  public void abort() {
    runOnContext(() -> to(State.CLOSED));
  }

  @Override
  public void shutdown() {
    runOnContext(() -> to(State.CLOSED));
  }

  /**
   * Messages the client will never read back to its own queue (only a durable one outlives the
   * session), so its next session gets them; xbosh's own answers are dropped.
   */
  @Override
  public void bounce(Collection<String> stanzas) {
    runOnContext(() -> {
      if (!durable || client == null || !client.isConnected()) {
        return;
      }
      for (String s : stanzas) {
        if (s.startsWith("<message")) {
          try {
            El m = Xml.element(s, settings.maxStanzaChars());
            client.basicPublish("", queue, Notification.fromClient(m, m.attr("from") != null ? m.attr("from") : settings.domain()),
                Buffer.buffer(s)).onFailure(e -> log.info("sid={} returning an unread message to {} failed: {}", sid, queue, e.getMessage()));
          } catch (XmlException e) {
            log.debug("sid={} unread stanza not returned: {}", sid, e.getMessage());
          }
        }
      }
    });
  }

  @Override
  public void apply(Forward f) {
    if (state == State.CLOSED || state == State.ENDING) {
      return;
    }
    if (f.restart()) {
      // XEP-0206 §5: payloads of a restart request are ignored; the new stream's features follow
      if (state == State.AUTHENTICATED) {
        to(State.BINDING);
        local(FEATURES_BIND);
      } else {
        local(state == State.AUTH ? FEATURES_SASL : FEATURES_BIND);
      }
      return;
    }
    if (!f.payload().isEmpty()) {
      List<El> stanzas;
      try {
        stanzas = Xml.stanzas(f.payload(), Math.max(f.payload().length(), settings.maxStanzaChars()));
      } catch (XmlException e) {
        log.info("sid={} unreadable client payload: {}", sid, e.getMessage());
        end(TerminateCondition.BAD_REQUEST);
        return;
      }
      for (El s : stanzas) {
        if (state == State.CLOSED || state == State.ENDING) {
          return;
        }
        stanza(s);
      }
    }
    if (f.terminate()) {
      // XEP-0124 §13: the store ended the session with the request; nothing to report
      to(State.CLOSED);
    }
  }

  private void stanza(El s) {
    if (s.is("auth", Namespaces.SASL)) {
      auth(s);
    } else if (state == State.AUTH || state == State.AUTHENTICATING || state == State.AUTHENTICATED) {
      // RFC 6120 §6.4.1: nothing but SASL before authentication
      if (s.is("iq", Namespaces.CLIENT)) {
        local(iqError(s, "auth", "not-authorized"));
      }
    } else if (s.is("iq", Namespaces.CLIENT)) {
      iq(s);
    } else if (s.is("message", Namespaces.CLIENT)) {
      message(s);
    }
    // presence: AMQP has no presence; the client is online while its session is
  }

  // ---- SASL PLAIN (RFC 4616), checked by the broker

  private void auth(El s) {
    if (state != State.AUTH) {
      local(saslFailure("not-authorized"));
      return;
    }
    if (!"PLAIN".equals(s.attr("mechanism"))) {
      local(saslFailure("invalid-mechanism"));
      return;
    }
    String[] parts;
    try {
      byte[] raw = Base64.getDecoder().decode(s.text().trim());
      parts = new String(raw, StandardCharsets.UTF_8).split("\u0000", -1);
    } catch (IllegalArgumentException e) {
      local(saslFailure("incorrect-encoding"));
      return;
    }
    if (parts.length != 3 || !LOCALPART.matcher(parts[1]).matches() || parts[2].isEmpty()) {
      authFailed();
      return;
    }
    String bare = parts[1].toLowerCase(Locale.ROOT) + "@" + settings.domain();
    if (!parts[0].isEmpty() && !parts[0].equalsIgnoreCase(bare) && !parts[0].equalsIgnoreCase(parts[1])) {
      local(saslFailure("invalid-authzid"));
      return;
    }
    user = parts[1];
    password = parts[2];
    bareJid = bare;
    to(State.AUTHENTICATING);
    RabbitMQClient c = newClient();
    c.start().onComplete(ar -> runOnContext(() -> {
      if (state != State.AUTHENTICATING) {
        stopClient(c);
        return;
      }
      if (ar.succeeded()) {
        client = c;
        log.info("sid={} authenticated as {} by the broker", sid, bareJid);
        to(State.AUTHENTICATED);
        local("<success xmlns=\"" + Namespaces.SASL + "\"/>");
        authenticated.tryComplete();
      } else if (refused(ar.cause())) {
        to(State.AUTH);
        authFailed();
      } else {
        log.info("sid={} broker unreachable at login: {}", sid, why(ar.cause()));
        end(TerminateCondition.REMOTE_CONNECTION_FAILED);
      }
    }));
  }

  private void authFailed() {
    local(saslFailure("not-authorized"));
    if (++authFailures >= MAX_AUTH_FAILURES) {
      // RFC 6120 §6.4.5: the server may end the stream after a few failures
      end(TerminateCondition.POLICY_VIOLATION);
    }
  }

  /** The messages down a cause chain (a refused TLS handshake says why only in a cause). */
  static String why(Throwable e) {
    StringBuilder b = new StringBuilder();
    int depth = 0;
    for (Throwable t = e; t != null && depth++ < 8; t = t.getCause() == t ? null : t.getCause()) {
      String m = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
      if (b.indexOf(m) < 0) {
        b.append(b.isEmpty() ? "" : ": ").append(m);
      }
    }
    return b.toString();
  }

  /** Whether the broker refused the user (bad credentials, no access to the vhost), not the network. */
  static boolean refused(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof PossibleAuthenticationFailureException) {
        return true;
      }
      if (t instanceof ShutdownSignalException sig && sig.getReason() instanceof com.rabbitmq.client.AMQP.Connection.Close close
          && (close.getReplyCode() == 403 || close.getReplyCode() == 530)) {
        return true;
      }
      if (t.getCause() == t) {
        break;
      }
    }
    return false;
  }

  // ---- iq

  private void iq(El iq) {
    String type = iq.attr("type");
    if (!"get".equals(type) && !"set".equals(type)) {
      return; // results and errors from the client answer nothing xbosh asked
    }
    if (iq.children().size() != 1) {
      local(iqError(iq, "modify", "bad-request"));
      return;
    }
    El q = iq.children().get(0);
    if (state == State.BINDING) {
      if ("set".equals(type) && q.is("bind", BIND)) {
        bind(iq, q);
      } else {
        local(iqError(iq, "auth", "not-authorized"));
      }
      return;
    }
    if ("set".equals(type) && q.is("session", SESSION) || "get".equals(type) && q.is("ping", PING)) {
      local(iqResult(iq, ""));
    } else if ("get".equals(type) && q.is("query", ROSTER)) {
      local(iqResult(iq, "<query xmlns=\"" + ROSTER + "\"/>"));
    } else if ("get".equals(type) && q.is("query", DISCO_INFO) && q.attr("node") == null && toService(iq)) {
      local(iqResult(iq, "<query xmlns=\"" + DISCO_INFO + "\"><identity category=\"server\" type=\"im\" name=\"xbosh AMQP\"/>"
          + "<feature var=\"" + DISCO_INFO + "\"/><feature var=\"" + PING + "\"/><feature var=\"" + ROSTER + "\"/>"
          + "<feature var=\"" + SESSION + "\"/></query>"));
    } else {
      local(iqError(iq, "cancel", "service-unavailable"));
    }
  }

  /** An iq to the service itself (no {@code to}, the domain, or the user's own bare JID). */
  private boolean toService(El iq) {
    String t = iq.attr("to");
    return t == null || t.equalsIgnoreCase(settings.domain()) || t.equalsIgnoreCase(bareJid);
  }

  /** RFC 6120 §7: the resource the client asks for, or one xbosh makes; then the queue is set up. */
  private void bind(El iq, El bind) {
    El r = bind.child("resource", BIND);
    String resource = r == null ? "" : r.text().trim();
    if (!resource.isEmpty() && !RESOURCE.matcher(resource).matches()) {
      local(iqError(iq, "modify", "bad-request"));
      return;
    }
    // a resource the client chose is one it comes back with: its queue keeps what it misses
    durable = !resource.isEmpty();
    fullJid = bareJid + "/" + (durable ? resource : random(9));
    queue = fullJid;
    topology(client).onComplete(ar -> runOnContext(() -> {
      if (state != State.BINDING) {
        return;
      }
      if (ar.failed()) {
        log.info("sid={} setting up {} failed: {}", sid, queue, ar.cause().getMessage());
        if (ar.cause() instanceof Conflict) {
          local(iqError(iq, "cancel", "conflict"));
          return;
        }
        end(client != null && client.isConnected() ? TerminateCondition.HOST_GONE : TerminateCondition.REMOTE_CONNECTION_FAILED);
        return;
      }
      to(State.OPEN);
      log.info("sid={} bound {} ({} queue)", sid, fullJid, durable ? "durable" : "auto-delete");
      local(iqResult(iq, "<bind xmlns=\"" + BIND + "\"><jid>" + XmlEscape.text(new StringBuilder(), fullJid) + "</jid></bind>"));
      consume(client);
    }));
  }

  /** Another session of the same resource consumes its queue. */
  private static final class Conflict extends RuntimeException {
    Conflict() {
      super("resource in use", null, false, false);
    }
  }

  /** The user's exchange, the client's queue bound to it, the prefetch. */
  private Future<Void> topology(RabbitMQClient c) {
    JsonObject args = new JsonObject();
    if (durable) {
      args.put("x-expires", settings.offlineSeconds() * 1000L).put("x-max-length", settings.queueMax()).put("x-overflow", "drop-head");
    }
    boolean first = state == State.BINDING;
    return c.exchangeDeclare(bareJid, "fanout", true, false)
        .compose(v -> durable ? lock(c) : Future.<Void>succeededFuture())
        .compose(v -> c.queueDeclare(queue, durable, false, !durable, args))
        // a consumer without the lock: a session of a version of xbosh that took none
        .compose(ok -> first && ok.getConsumerCount() > 0 ? Future.failedFuture(new Conflict()) : Future.succeededFuture())
        .compose(v -> c.queueBind(queue, bareJid, ""))
        .compose(v -> c.basicQos(settings.prefetch()));
  }

  /**
   * The resource's lock: an exclusive queue of this connection, named by the full JID and a space
   * (no resource has one, and it stays inside the user's permission pattern). The broker admits
   * one declaring connection at a time and deletes the queue with it, so of two sessions binding
   * the same resource at once exactly one gets it, and a session that dies frees it.
   */
  private Future<Void> lock(RabbitMQClient c) {
    return c.queueDeclare(queue + " lock", false, true, true).<Void>mapEmpty().recover(e -> locked(e)
        ? Future.failedFuture(new Conflict()) : Future.failedFuture(e));
  }

  /** Whether the broker refused a declaration because another connection holds the exclusive queue. */
  static boolean locked(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof ShutdownSignalException sig && sig.getReason() instanceof com.rabbitmq.client.AMQP.Channel.Close close
          && close.getReplyCode() == 405) {
        return true;
      }
      if (t.getCause() == t) {
        break;
      }
    }
    return false;
  }

  private void consume(RabbitMQClient c) {
    QueueOptions options = new QueueOptions().setAutoAck(false).setMaxInternalQueueSize(settings.prefetch() * 2);
    c.basicConsumer(queue, options).onComplete(ar -> runOnContext(() -> {
      if (ar.failed()) {
        log.info("sid={} consuming {} failed: {}", sid, queue, ar.cause().getMessage());
        if (c == client) {
          end(TerminateCondition.REMOTE_CONNECTION_FAILED);
        }
        return;
      }
      ar.result().handler(m -> runOnContext(() -> delivered(c, m)));
      ar.result().exceptionHandler(e -> log.debug("sid={} consumer: {}", sid, e.getMessage()));
      // the broker cancelled the consumer: the queue was deleted under it
      ar.result().endHandler(v -> runOnContext(() -> {
        if (c == client && state == State.OPEN) {
          log.info("sid={} the broker cancelled the consumer of {}", sid, queue);
          end(TerminateCondition.HOST_GONE);
        }
      }));
    }));
  }

  // ---- broker → client

  private void delivered(RabbitMQClient c, RabbitMQMessage m) {
    if (c != client || (state != State.OPEN && state != State.ENDING)) {
      return; // a delivery of a connection given up: the broker gives it again
    }
    long tag = m.envelope().getDeliveryTag();
    String id = m.properties().getMessageId();
    if (id != null && m.envelope().isRedeliver() && seen.containsKey(id)) {
      // already passed on by this link; the ack of it was lost with its connection
      c.basicAck(tag, false);
      return;
    }
    String stanza;
    try {
      stanza = Notification.toStanza(m.properties(), m.body().getBytes(), fullJid, settings.domain(), settings.maxStanzaChars());
    } catch (XmlException e) {
      // never deliverable: rejected without requeue (to the queue's dead-letter exchange, if it has one)
      log.info("sid={} broker message {} refused: {}", sid, id, e.getMessage());
      c.basicNack(tag, false, false);
      return;
    }
    pending.add(new Out(stanza, c, tag, id));
    pump();
  }

  // ---- client → broker

  private void message(El m) {
    String to = m.attr("to");
    String bare = to == null ? bareJid : bare(to);
    if (bare == null || !bare.endsWith("@" + settings.domain()) || state != State.OPEN) {
      // only users of this service can be sent to, and only while the broker is there
      local(stanzaError(m, state == State.OPEN ? "cancel" : "wait", state == State.OPEN ? "service-unavailable" : "remote-server-timeout"));
      return;
    }
    if (m.standalone().length() > settings.maxStanzaChars()) {
      local(stanzaError(m, "modify", "policy-violation"));
      return;
    }
    publisher().compose(v -> publisher.exchangeDeclare(bare, "fanout", true, false))
        .compose(v -> publisher.basicPublish(bare, "", Notification.fromClient(m, fullJid), Buffer.buffer(m.standalone())))
        .onComplete(ar -> runOnContext(() -> {
          if (ar.failed()) {
            log.info("sid={} publishing to {} failed: {}", sid, bare, ar.cause().getMessage());
            local(stanzaError(m, "cancel", "service-unavailable"));
          }
        }));
  }

  /** The publishing connection, apart from the consuming one: a refused publish closes only its channel. */
  private Future<Void> publisher() {
    if (publisher == null || publisherStarted.failed()) {
      stopClient(publisher);
      publisher = newClient();
      publisherStarted = publisher.start();
    }
    return publisherStarted;
  }

  /** The bare JID of a JID, lower case; null when it has no local part. */
  static String bare(String jid) {
    int slash = jid.indexOf('/');
    String b = (slash < 0 ? jid : jid.substring(0, slash)).toLowerCase(Locale.ROOT);
    int at = b.indexOf('@');
    return at <= 0 || at == b.length() - 1 ? null : b;
  }

  // ---- the broker connection

  private RabbitMQClient newClient() {
    RabbitMQOptions o = new RabbitMQOptions(settings.options())
        .setUser(user)
        .setPassword(password)
        // xbosh reconnects itself (a fresh channel: delivery tags of the old one are never acked on it)
        .setReconnectAttempts(0)
        .setAutomaticRecoveryEnabled(false)
        .setAutomaticRecoveryOnInitialConnection(false)
        .setConnectionName("xbosh " + sid);
    RabbitMQClient[] self = new RabbitMQClient[1];
    // the client reports no lost connection without its own recovery: the connection's shutdown listener does
    o.setMetricsCollector(new NoOpMetricsCollector() {
      @Override
      public void newConnection(Connection connection) {
        connection.addShutdownListener(sig -> {
          if (!sig.isInitiatedByApplication()) {
            runOnContext(() -> lost(self[0], sig));
          }
        });
      }
    });
    self[0] = RabbitMQClient.create(vertx, o);
    return self[0];
  }

  private void lost(RabbitMQClient c, ShutdownSignalException sig) {
    if (c == publisher) {
      publisher = null; // opened again by the next message
      return;
    }
    if (c != client || state == State.CLOSED || state == State.ENDING) {
      return;
    }
    log.info("sid={} broker connection lost: {}", sid, sig.getMessage());
    client = null;
    stopClient(c);
    clearDeferred();
    // deliveries not yet in the store come again from the broker
    pending.removeIf(o -> o.client() != null);
    if (state != State.OPEN || !durable || settings.reconnectSeconds() == 0) {
      end(TerminateCondition.REMOTE_CONNECTION_FAILED);
      return;
    }
    to(State.RECONNECTING);
    reconnectDeadline = System.nanoTime() + settings.reconnectSeconds() * 1_000_000_000L;
    retryMs = RETRY_MS * 5;
    reconnect();
  }

  private void reconnect() {
    if (state != State.RECONNECTING) {
      return;
    }
    RabbitMQClient c = newClient();
    c.start().compose(v -> topology(c)).onComplete(ar -> runOnContext(() -> {
      if (state != State.RECONNECTING) {
        stopClient(c);
        return;
      }
      if (ar.succeeded()) {
        client = c;
        retryMs = RETRY_MS;
        log.info("sid={} broker connection back; consuming {} again", sid, queue);
        to(State.OPEN);
        consume(c);
        return;
      }
      stopClient(c);
      if (refused(ar.cause())) {
        log.info("sid={} the broker no longer admits {}", sid, bareJid);
        end(TerminateCondition.HOST_GONE);
        return;
      }
      if (ar.cause() instanceof Conflict) {
        log.info("sid={} {} was bound by another session while the broker was away", sid, fullJid);
        end(TerminateCondition.HOST_GONE);
        return;
      }
      if (System.nanoTime() > reconnectDeadline) {
        log.info("sid={} broker unreachable for {} s; ending", sid, settings.reconnectSeconds());
        end(TerminateCondition.REMOTE_CONNECTION_FAILED);
        return;
      }
      long delay = retryMs;
      retryMs = Math.min(MAX_RETRY_MS, retryMs * 2);
      retryTimer = vertx.setTimer(delay, id -> {
        retryTimer = -1;
        reconnect();
      });
    }));
  }

  private static void stopClient(RabbitMQClient c) {
    if (c != null) {
      c.stop().onFailure(e -> log.debug("closing a broker connection: {}", e.getMessage()));
    }
  }

  // ---- handing stanzas to the sink

  /** One of xbosh's own stanzas for the client. */
  private void local(String stanza) {
    if (++localPending > MAX_LOCAL_PENDING) {
      // a client that sends far faster than it reads its answers
      log.info("sid={} more than {} answers waiting for the client; ending", sid, MAX_LOCAL_PENDING);
      end(TerminateCondition.POLICY_VIOLATION);
      return;
    }
    pending.add(new Out(stanza, null, 0, null));
    pump();
  }

  /** The session ends from the broker side: what is pending goes first, then the end. */
  private void end(TerminateCondition condition) {
    if (state == State.CLOSED || state == State.ENDING) {
      return;
    }
    ending = new Ending(condition);
    to(State.ENDING);
    pump();
  }

  private void pump() {
    if (sink == null || inFlight || state == State.CLOSED) {
      return;
    }
    if (unsent != null || !pending.isEmpty()) {
      List<Out> batch;
      if (unsent != null) {
        // the same stanzas with the same token: a batch the store applied but whose reply was lost is not applied twice
        batch = unsent;
        unsent = null;
      } else {
        batch = new ArrayList<>();
        long chars = 0;
        while (!pending.isEmpty() && batch.size() < batchLimit && (batch.isEmpty() || chars + pending.peek().stanza().length() <= 1 << 20)) {
          Out o = pending.poll();
          chars += o.stanza().length();
          batch.add(o);
        }
        batchSeq++;
      }
      inFlight = true;
      List<String> stanzas = batch.stream().map(Out::stanza).toList();
      sink.deliver(sid, null, linkId + ":" + batchSeq, stanzas)
          .onComplete(ar -> runOnContext(() -> onDelivered(batch, ar.succeeded() ? ar.result() : null, ar.cause())));
    } else if (state == State.ENDING) {
      inFlight = true;
      sink.ended(sid, null, ending.condition(), "").onComplete(ar -> runOnContext(() -> {
        inFlight = false;
        if (ar.succeeded()) {
          to(State.CLOSED);
        } else {
          log.warn("sid={} reporting the end failed, retrying: {}", sid, ar.cause().getMessage());
          retryLater(true);
        }
      }));
    }
  }

  private void onDelivered(List<Out> batch, Delivery d, Throwable failure) {
    inFlight = false;
    if (state == State.CLOSED) {
      return;
    }
    if (d != null && d.gone()) {
      // the client is gone: its deliveries stay with the broker (unacked, requeued as the connection closes)
      to(State.CLOSED);
      return;
    }
    if (d == null || d.full()) {
      unsent = batch;
      if (failure != null) {
        log.warn("sid={} delivering to the store failed, retrying: {}", sid, failure.getMessage());
      }
      retryLater(failure != null);
      return;
    }
    retryMs = RETRY_MS;
    ack(batch, !d.answers().isEmpty());
    pump();
  }

  /**
   * The store has the stanzas. When they went into a response at once (the store answered a held
   * request with them: a cached response, which any pod gives again to a resent rid), their
   * deliveries are acked now, one cumulative ack up to the last tag; else they wait in the session's
   * queue for the client's next request and are acked {@link #ACK_DELAY_MS} later or with the next
   * batch that goes into a response, whichever comes first.
   */
  private void ack(List<Out> batch, boolean inResponse) {
    RabbitMQClient last = null;
    long lastTag = -1;
    for (Out o : batch) {
      if (o.client() == null) {
        localPending--;
        continue;
      }
      if (o.messageId() != null) {
        seen.put(o.messageId(), Boolean.TRUE);
      }
      if (last != null && o.client() != last) {
        ackUpTo(last, lastTag);
      }
      last = o.client();
      lastTag = o.tag();
    }
    if (inResponse) {
      if (last != null) {
        ackUpTo(last, lastTag);
      } else if (deferredClient != null) {
        ackUpTo(deferredClient, deferredTag);
      }
      clearDeferred();
      return;
    }
    if (last != null) {
      deferredClient = last;
      deferredTag = lastTag;
      if (deferTimer < 0) {
        deferTimer = vertx.setTimer(ACK_DELAY_MS, id -> runOnContext(() -> {
          deferTimer = -1;
          if (deferredClient != null) {
            ackUpTo(deferredClient, deferredTag);
          }
          deferredClient = null;
        }));
      }
    }
  }

  private void clearDeferred() {
    deferredClient = null;
    if (deferTimer >= 0) {
      vertx.cancelTimer(deferTimer);
      deferTimer = -1;
    }
  }

  private void ackUpTo(RabbitMQClient c, long tag) {
    if (c == client && c.isConnected()) {
      // earlier tags of this channel are acked, nacked or in this batch: deliveries are handed on in order
      c.basicAck(tag, true).onFailure(e -> log.info("sid={} ack failed (the broker redelivers): {}", sid, e.getMessage()));
    }
    // a connection given up: the broker redelivers, and the ids seen drop the copies
  }

  private void retryLater(boolean backOff) {
    inFlight = true;
    long delay = backOff ? retryMs : RETRY_MS;
    retryMs = backOff ? Math.min(MAX_RETRY_MS, retryMs * 2) : RETRY_MS;
    retryTimer = vertx.setTimer(delay, id -> {
      retryTimer = -1;
      inFlight = false;
      pump();
    });
  }

  private void cancelRetry() {
    if (retryTimer >= 0) {
      vertx.cancelTimer(retryTimer);
      retryTimer = -1;
    }
  }

  // ---- stanzas xbosh writes

  private static String saslFailure(String condition) {
    return "<failure xmlns=\"" + Namespaces.SASL + "\"><" + condition + "/></failure>";
  }

  private String iqResult(El iq, String child) {
    StringBuilder sb = new StringBuilder(128).append("<iq xmlns=\"").append(Namespaces.CLIENT).append("\" type=\"result\"");
    addressing(sb, iq);
    return sb.append('>').append(child).append("</iq>").toString();
  }

  private String iqError(El iq, String type, String condition) {
    return stanzaError(iq, type, condition);
  }

  /** RFC 6120 §8.3: the stanza back with type error, from where it went, the condition in it. */
  private String stanzaError(El s, String type, String condition) {
    StringBuilder sb = new StringBuilder(160).append('<').append(s.name()).append(" xmlns=\"").append(Namespaces.CLIENT)
        .append("\" type=\"error\"");
    addressing(sb, s);
    return sb.append("><error type=\"").append(type).append("\"><").append(condition).append(" xmlns=\"").append(STANZAS)
        .append("\"/></error></").append(s.name()).append('>').toString();
  }

  private void addressing(StringBuilder sb, El s) {
    if (s.attr("id") != null) {
      sb.append(" id=\"");
      XmlEscape.attribute(sb, s.attr("id")).append('"');
    }
    if (s.attr("to") != null) {
      sb.append(" from=\"");
      XmlEscape.attribute(sb, s.attr("to")).append('"');
    }
    if (fullJid != null) {
      sb.append(" to=\"");
      XmlEscape.attribute(sb, fullJid).append('"');
    }
  }

  private static String random(int bytes) {
    byte[] b = new byte[bytes];
    RANDOM.nextBytes(b);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
  }

  private void runOnContext(Runnable r) {
    if (Vertx.currentContext() == context) {
      r.run();
    } else {
      context.runOnContext(v -> r.run());
    }
  }
}
