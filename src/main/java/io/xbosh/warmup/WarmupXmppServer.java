package io.xbosh.warmup;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.NetSocket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The XMPP server of the warm-up: a c2s listener on loopback that logs anyone in (SASL PLAIN,
 * any password), binds, answers a session request, a roster request with a small roster and any
 * other {@code iq} with an empty result, and sends every message and presence back to its
 * sender. Nothing leaves the process; it holds no state beyond each connection's.
 *
 * <p>It reads only what xbosh's upstream link writes (well-formed, escaped XML, one stream per
 * connection), so a top-level element is found by counting tags; a connection that sends more than
 * {@link #MAX_PENDING_BYTES} without completing an element is closed.
 */
public final class WarmupXmppServer {

  static final int MAX_PENDING_BYTES = 1 << 20;
  private static final String HEADER = "<?xml version='1.0'?><stream:stream xmlns='jabber:client'"
      + " xmlns:stream='http://etherx.jabber.org/streams' id='w%d' from='%s' version='1.0' xml:lang='en'>";
  private static final String SASL_FEATURES = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
      + "<mechanism>PLAIN</mechanism></mechanisms></stream:features>";
  private static final String BIND_FEATURES = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><required/></bind>"
      + "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>";
  private static final Pattern ID = Pattern.compile("\\sid=[\"']([^\"']*)[\"']");
  private static final Pattern BODY = Pattern.compile("<body>[^<]*</body>");
  private static final Pattern RESOURCE = Pattern.compile("<resource>([^<]{1,64})</resource>");
  private static final Pattern AUTH = Pattern.compile(">([A-Za-z0-9+/=]{1,1024})<");

  private final Vertx vertx;
  /** the domain it serves, whose users log in */
  private final String domain;
  private final AtomicInteger streams = new AtomicInteger();
  private final AtomicInteger connections = new AtomicInteger();
  private NetServer server;

  public WarmupXmppServer(Vertx vertx, String domain) {
    this.vertx = vertx;
    this.domain = domain;
  }

  /** Listens on a free loopback port. */
  public Future<Integer> start() {
    server = vertx.createNetServer(new NetServerOptions().setHost("127.0.0.1").setPort(0).setTcpNoDelay(true))
        .connectHandler(this::connected);
    return server.listen().map(NetServer::actualPort);
  }

  /** Connections accepted so far. */
  public int connections() {
    return connections.get();
  }

  public Future<Void> close() {
    return server == null ? Future.succeededFuture() : server.close();
  }

  /** The authentication id of a SASL PLAIN {@code <auth/>} ({@code authzid NUL authcid NUL password}), or "anonymous". */
  static String plainUser(String auth) {
    Matcher m = AUTH.matcher(auth);
    if (!m.find()) {
      return "anonymous";
    }
    try {
      String[] parts = new String(java.util.Base64.getDecoder().decode(m.group(1)), StandardCharsets.UTF_8).split("\0", -1);
      return parts.length == 3 && parts[1].matches("[a-z0-9._-]{1,64}") ? parts[1] : "anonymous";
    } catch (IllegalArgumentException e) {
      return "anonymous";
    }
  }

  private void connected(NetSocket socket) {
    connections.incrementAndGet();
    Stream stream = new Stream(socket);
    socket.handler(stream::read);
  }

  /** One client connection: what it sent that is not yet a whole element, and whether it authenticated. */
  private final class Stream {
    final NetSocket socket;
    final StringBuilder pending = new StringBuilder();
    boolean authenticated;
    /** who logged in (SASL PLAIN's authentication id), and the full JID once bound */
    String user = "anonymous";
    String jid;

    Stream(NetSocket socket) {
      this.socket = socket;
    }

    void read(Buffer data) {
      pending.append(data.toString(StandardCharsets.UTF_8));
      int used;
      while ((used = next()) > 0) {
        pending.delete(0, used);
      }
      if (used < 0) {
        socket.close();
      } else if (pending.length() > MAX_PENDING_BYTES) {
        socket.close();
      }
    }

    /** Handles the first complete thing in {@code pending}: its length, 0 when incomplete, -1 to close. */
    int next() {
      int start = 0;
      while (start < pending.length() && Character.isWhitespace(pending.charAt(start))) {
        start++;
      }
      if (start == pending.length() || pending.length() - start < 2) {
        return start;
      }
      if (pending.charAt(start) != '<') {
        return -1;
      }
      int end = tagEnd(start);
      if (end < 0) {
        return start;
      }
      String tag = pending.substring(start, end + 1);
      if (tag.startsWith("<?")) {
        return end + 1;
      }
      if (tag.startsWith("<stream:stream")) {
        socket.write(String.format(HEADER, streams.incrementAndGet(), domain) + (authenticated ? BIND_FEATURES : SASL_FEATURES));
        return end + 1;
      }
      if (tag.startsWith("</stream:stream")) {
        socket.end(Buffer.buffer("</stream:stream>"));
        return -1;
      }
      int elementEnd = elementEnd(start);
      if (elementEnd < 0) {
        return start;
      }
      element(pending.substring(start, elementEnd + 1));
      return elementEnd + 1;
    }

    /** The index of the {@code >} ending the tag at {@code from}, quotes respected; -1 if not here yet. */
    int tagEnd(int from) {
      char quote = 0;
      for (int i = from + 1; i < pending.length(); i++) {
        char c = pending.charAt(i);
        if (quote != 0) {
          quote = c == quote ? 0 : quote;
        } else if (c == '\'' || c == '"') {
          quote = c;
        } else if (c == '>') {
          return i;
        }
      }
      return -1;
    }

    /** The index of the last {@code >} of the element starting at {@code from}; -1 if not here yet. */
    int elementEnd(int from) {
      int depth = 0;
      int i = from;
      while (i < pending.length()) {
        int lt = pending.indexOf("<", i);
        if (lt < 0) {
          return -1;
        }
        int gt = tagEnd(lt);
        if (gt < 0) {
          return -1;
        }
        if (pending.charAt(lt + 1) == '/') {
          depth--;
        } else if (pending.charAt(gt - 1) != '/') {
          depth++;
        }
        if (depth == 0) {
          return gt;
        }
        i = gt + 1;
      }
      return -1;
    }

    void element(String e) {
      if (e.startsWith("<auth")) {
        authenticated = true;
        user = plainUser(e);
        socket.write("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
      } else if (e.startsWith("<iq")) {
        Matcher m = ID.matcher(e);
        String id = m.find() ? m.group(1) : "";
        if (e.contains("urn:ietf:params:xml:ns:xmpp-bind")) {
          Matcher r = RESOURCE.matcher(e);
          jid = user + "@" + domain + "/" + (r.find() ? r.group(1) : "r" + streams.get());
          socket.write("<iq xmlns='jabber:client' type='result' id='" + id + "'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>"
              + jid + "</jid></bind></iq>");
        } else if (e.contains("jabber:iq:roster")) {
          socket.write("<iq xmlns='jabber:client' type='result' id='" + id + "' to='" + jid + "'><query xmlns='jabber:iq:roster' ver='1'>"
              + "<item jid='alice@" + domain + "' name='Alice' subscription='both'><group>Friends</group></item>"
              + "<item jid='bob@" + domain + "' subscription='both'/>"
              + "<item jid='carol@" + domain + "' name='Carol' subscription='to'/></query></iq>");
        } else {
          socket.write("<iq xmlns='jabber:client' type='result' id='" + id + "' to='" + jid + "'/>");
        }
      } else if (e.startsWith("<message")) {
        Matcher body = BODY.matcher(e);
        socket.write("<message xmlns='jabber:client' from='echo@" + domain + "/e' to='" + jid + "' type='chat'>"
            + (body.find() ? body.group() : "") + "</message>");
      } else if (e.startsWith("<presence")) {
        socket.write("<presence xmlns='jabber:client' from='" + jid + "' to='" + jid + "'/>");
      }
    }
  }
}
