package io.xbosh.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A raw BOSH client for tests: a logged-in, bound session that writes bodies by hand. With several
 * endpoints, each request goes to the next one in turn (a load balancer without stickiness).
 */
public final class BoshSession {

  public static final String B = "xmlns='http://jabber.org/protocol/httpbind'";
  public static final String X = "xmlns:xmpp='urn:xmpp:xbosh'";

  private final HttpClient http;
  private final List<URI> endpoints;
  private int next;
  private final java.util.concurrent.atomic.AtomicLong requests = new java.util.concurrent.atomic.AtomicLong();
  public final String sid;
  /** The first stream's name (XEP-0124 §16.2), null when xbosh announced none. */
  public final String stream;
  public long rid;

  private BoshSession(HttpClient http, List<URI> endpoints, int next, String sid, String stream, long rid) {
    this.http = http;
    this.endpoints = List.copyOf(endpoints);
    this.next = next;
    this.sid = sid;
    this.stream = stream;
    this.rid = rid;
  }

  public static HttpResponse<String> post(HttpClient http, URI endpoint, String body) throws Exception {
    return http.send(request(endpoint, body), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  public static CompletableFuture<HttpResponse<String>> postAsync(HttpClient http, URI endpoint, String body) {
    return http.sendAsync(request(endpoint, body), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  private static HttpRequest request(URI endpoint, String body) {
    return HttpRequest.newBuilder(endpoint).header("Content-Type", "text/xml; charset=utf-8")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build();
  }

  public static String attr(String xml, String name) {
    Matcher m = Pattern.compile("\\s" + Pattern.quote(name) + "=\"([^\"]*)\"").matcher(xml);
    return m.find() ? m.group(1) : null;
  }

  /**
   * Creates a session, authenticates with SASL PLAIN, restarts the stream and binds the resource:
   * the four steps go to consecutive endpoints.
   */
  public static BoshSession login(HttpClient http, List<URI> endpoints, String domain, String user, String password,
      String resource) throws Exception {
    return login(http, endpoints, domain, user, password, resource, 2);
  }

  /** Like {@link #login(HttpClient, List, String, String, String, String)} with another {@code wait}. */
  public static BoshSession login(HttpClient http, List<URI> endpoints, String domain, String user, String password,
      String resource, int wait) throws Exception {
    long rid = 1_000_000 + (long) (Math.random() * 1_000_000);
    HttpResponse<String> created = post(http, endpoints.get(0), "<body " + B + " " + X + " rid='" + rid + "' to='" + domain
        + "' xml:lang='en' wait='" + wait + "' hold='1' ver='1.11' xmpp:version='1.0'/>");
    assertThat(created.statusCode()).isEqualTo(200);
    assertThat(created.body()).contains("<mechanism>PLAIN</mechanism>");
    BoshSession s = new BoshSession(http, endpoints, 1, attr(created.body(), "sid"), attr(created.body(), "stream"), rid);
    String auth = Base64.getEncoder().encodeToString(("\0" + user + "\0" + password).getBytes(StandardCharsets.UTF_8));
    assertThat(s.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>").body())
        .contains("<success xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\"");
    HttpResponse<String> restarted = post(http, s.nextEndpoint(), "<body " + B + " " + X + " sid='" + s.sid + "' rid='" + (++s.rid)
        + "' to='" + domain + "' xmpp:restart='true'/>");
    assertThat(restarted.body()).contains("<bind xmlns=\"urn:ietf:params:xml:ns:xmpp-bind\">");
    assertThat(s.send("<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        + "<resource>" + resource + "</resource></bind></iq>").body())
        .contains("<jid>" + user + "@" + domain + "/" + resource + "</jid>");
    return s;
  }

  /** The endpoint the next request goes to; advances the rotation. */
  public synchronized URI nextEndpoint() {
    requests.incrementAndGet();
    URI u = endpoints.get(next % endpoints.size());
    next++;
    return u;
  }

  /** Requests this session sent through {@link #nextEndpoint} (its rotation). */
  public long requestsSent() {
    return requests.get();
  }

  /** A body with the next rid and these payloads. */
  public synchronized String nextBody(String payload) {
    return "<body " + B + " sid='" + sid + "' rid='" + (++rid) + "'>" + payload + "</body>";
  }

  /** Sends the next rid with these attributes (written as they are) and payloads. */
  public HttpResponse<String> sendBody(String attributes, String payload) throws Exception {
    String body;
    URI to;
    synchronized (this) {
      String open = "<body " + B + " " + X + " sid='" + sid + "' rid='" + (++rid) + "' " + attributes;
      body = payload.isEmpty() ? open + "/>" : open + ">" + payload + "</body>";
      to = nextEndpoint();
    }
    return post(http, to, body);
  }

  public HttpResponse<String> send(String payload) throws Exception {
    return sendAsync(payload).get(120, TimeUnit.SECONDS);
  }

  /** Sends the next rid with these payloads to the next endpoint. */
  public CompletableFuture<HttpResponse<String>> sendAsync(String payload) {
    String body;
    URI to;
    synchronized (this) {
      body = nextBody(payload);
      to = nextEndpoint();
    }
    return postAsync(http, to, body);
  }

  /**
   * Sends one message a request with two requests in flight, as a BOSH client with hold=1 does:
   * each new request releases the held one (which is what the sender waits for before the next).
   * Requests may reach xbosh out of rid order; the rid window puts them back in order. The last
   * request is held until the session's wait runs out (nothing follows to release it), and is given
   * ten seconds: for sessions with a wait of at most 10.
   */
  public static void sendAll(BoshSession s, String to, String prefix, int n) {
    try {
      CompletableFuture<HttpResponse<String>> previous = null;
      for (int i = 0; i < n; i++) {
        CompletableFuture<HttpResponse<String>> current =
            s.sendAsync("<message xmlns='jabber:client' to='" + to + "'><body>" + prefix + i + "</body></message>");
        if (previous != null) {
          assertThat(previous.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
        }
        previous = current;
      }
      assertThat(previous.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** Long-polls until {@code n} message bodies with the prefix have arrived, in arrival order. */
  public static List<String> receive(BoshSession s, String prefix, int n) {
    List<String> got = new ArrayList<>();
    Pattern body = Pattern.compile("<body>(" + Pattern.quote(prefix) + "\\d+)</body>");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    try {
      while (got.size() < n && System.nanoTime() < deadline) {
        Matcher m = body.matcher(s.send("").body());
        while (m.find()) {
          got.add(m.group(1));
        }
      }
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
    return got;
  }

  /** Polls until a response satisfies the condition; every response goes to {@code seen}. */
  public String pollUntil(java.util.function.Predicate<String> done, List<String> seen) throws Exception {
    for (int i = 0; i < 20; i++) {
      String body = send("").body();
      seen.add(body);
      if (done.test(body)) {
        return body;
      }
    }
    throw new AssertionError("no such response; got " + seen);
  }

  /** The first response seen, or polled for, that satisfies the condition. */
  public String awaitBody(java.util.function.Predicate<String> done, List<String> seen) throws Exception {
    for (String b : seen) {
      if (done.test(b)) {
        return b;
      }
    }
    return pollUntil(done, seen);
  }

  /**
   * XEP-0124 §16.3: opens another stream and logs a user in on it (SASL PLAIN, restart, bind), each
   * request naming the stream. Every response goes to {@code seen}.
   *
   * @return the stream's name
   */
  public String openStreamAndLogin(String domain, String user, String password, String resource, List<String> seen) throws Exception {
    HttpResponse<String> opened = sendBody("to='" + domain + "' xml:lang='en' xmpp:version='1.0'", "");
    String name = attr(opened.body(), "stream");
    assertThat(name).as(opened.body()).isNotNull().isNotEqualTo(stream);
    String on = "stream='" + name + "'";
    awaitBody(b -> name.equals(attr(b, "stream")) && b.contains("<mechanism>PLAIN</mechanism>"), seen);
    String auth = Base64.getEncoder().encodeToString(("\0" + user + "\0" + password).getBytes(StandardCharsets.UTF_8));
    seen.add(sendBody(on, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>").body());
    awaitBody(b -> b.contains("<success"), seen);
    seen.add(sendBody("to='" + domain + "' xmpp:restart='true' " + on, "").body());
    awaitBody(b -> name.equals(attr(b, "stream")) && b.contains("urn:ietf:params:xml:ns:xmpp-bind"), seen);
    seen.add(sendBody(on, "<iq xmlns='jabber:client' type='set' id='bind-" + name + "'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        + "<resource>" + resource + "</resource></bind></iq>").body());
    awaitBody(b -> b.contains("<jid>" + user + "@" + domain + "/" + resource + "</jid>"), seen);
    return name;
  }

  /** Sends an XMPP ping and returns the body in which its answer comes back. */
  public static String pingResult(BoshSession s, String to, String id) throws Exception {
    String answer = s.send("<iq xmlns='jabber:client' type='get' id='" + id + "' to='" + to + "'><ping xmlns='urn:xmpp:ping'/></iq>").body();
    for (int i = 0; i < 5 && !answer.contains("id=\"" + id + "\""); i++) {
      answer = s.send("").body();
    }
    return answer;
  }
}
