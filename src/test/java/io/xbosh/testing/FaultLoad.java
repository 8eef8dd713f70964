package io.xbosh.testing;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.BitSet;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A load of BOSH clients for the fault suite, on one Vert.x event loop: every client logs in with
 * SASL PLAIN, binds, sends presence and long-polls (hold=1: one request waiting, a second one when
 * it has something to send). Clients are paired (0↔1, 2↔3, …) and send each other chat messages
 * at a steady total rate.
 *
 * <p>It behaves like a careful BOSH client when things go wrong: a request that fails (connection
 * refused or reset, HTTP 502/503/504, a recoverable {@code type='error'} body, no answer in time)
 * is resent with the same rid and body until {@link Options#retryForMs} has passed. A terminate
 * body ends the client and its condition is recorded, with the time.
 *
 * <p>Per client it counts what it sent, when each message was accepted (its request answered 200),
 * what arrived from its partner, duplicates, and why and when its session ended, so that a test
 * can say exactly what users lost.
 */
public final class FaultLoad implements AutoCloseable {

  /**
   * @param url              where every request goes (the load balancer)
   * @param sessions         clients (an even number: they are paired)
   * @param userPrefix       user names are prefix + index; each has {@code password}
   * @param waitSeconds      the BOSH {@code wait} asked for
   * @param retryForMs       how long a failing request is resent before the client gives up
   */
  public record Options(URI url, String domain, int sessions, String userPrefix, String password, int waitSeconds,
      long retryForMs) {
  }

  private static final Pattern MESSAGE = Pattern.compile("<body>m\\|([0-9a-z]+)\\|(\\d+)\\|(\\d+)</body>");
  private static final Pattern CONDITION = Pattern.compile("condition=[\"']([^\"']+)[\"']");
  /** A final body's report of the client's own payloads that never reached the server: not received. */
  private static final Pattern UNDELIVERED = Pattern.compile("<undelivered\\b.*?</undelivered>", Pattern.DOTALL);
  private static final String NS = "xmlns='http://jabber.org/protocol/httpbind'";
  /** The condition recorded when the test itself ended a session. */
  public static final String CLOSED_BY_CLIENT = "closed-by-client";

  private final Vertx vertx;
  private final Options options;
  private final HttpClientAgent http;
  private final List<Client> clients = new ArrayList<>();
  private final Map<String, Long> errors = new TreeMap<>();
  private final long startNanos = System.nanoTime();
  /**
   * Names this load in every message and resource, so a stanza of an earlier load (sent to a JID
   * a user had before) is never taken for one of this load's.
   */
  private final String token = Long.toString(ThreadLocalRandom.current().nextLong(1L << 40, 1L << 41), 36);
  private long foreign;
  private long ticker = -1;
  private long sentTotal;
  private boolean closing;
  private volatile boolean closed;

  public FaultLoad(Vertx vertx, Options options) {
    if (options.sessions() % 2 != 0) {
      throw new IllegalArgumentException("clients are paired: an even number of sessions");
    }
    this.vertx = vertx;
    this.options = options;
    this.http = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true).setConnectTimeout(5000),
        new PoolOptions().setHttp1MaxSize(options.sessions() * 3 + 8).setMaxWaitQueueSize(-1));
    for (int i = 0; i < options.sessions(); i++) {
      clients.add(new Client(i));
    }
  }

  /** Runs {@code read} on the clients' event loop and returns its result: a consistent snapshot. */
  public <T> T onLoop(Supplier<T> read) {
    CompletableFuture<T> f = new CompletableFuture<>();
    vertx.runOnContext(v -> {
      try {
        f.complete(read.get());
      } catch (RuntimeException e) {
        f.completeExceptionally(e);
      }
    });
    try {
      return f.get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private static <T> T join(Future<T> f, long seconds) {
    try {
      return f.toCompletionStage().toCompletableFuture().get(seconds, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  // ---- phases, called from the test thread

  /** Logs every client in, {@code concurrency} at a time; throws unless all of them are in. */
  public void login(int concurrency) {
    Promise<Void> all = Promise.promise();
    vertx.runOnContext(v -> {
      int[] started = {0};
      int[] finished = {0};
      Runnable[] launch = new Runnable[1];
      launch[0] = () -> {
        while (started[0] < clients.size() && started[0] - finished[0] < concurrency) {
          Client c = clients.get(started[0]++);
          c.login().onComplete(ar -> {
            if (ar.failed()) {
              c.loginError = String.valueOf(ar.cause().getMessage());
            }
            if (++finished[0] == clients.size()) {
              all.complete();
            } else {
              launch[0].run();
            }
          });
        }
      };
      launch[0].run();
    });
    join(all.future(), 300);
    List<String> failed = onLoop(() -> clients.stream().filter(c -> !c.ready).map(c -> c.user + ": " + c.loginError).toList());
    if (!failed.isEmpty()) {
      throw new IllegalStateException(failed.size() + " of " + clients.size() + " logins failed: " + failed);
    }
  }

  /** The sids of the clients, by index. */
  public List<String> sids() {
    return onLoop(() -> clients.stream().map(c -> c.sid).toList());
  }

  /** Records which pod holds each session's link (read from the store after login). */
  public void owners(Map<String, String> podBySid) {
    onLoop(() -> {
      clients.forEach(c -> c.owner = podBySid.getOrDefault(c.sid, "?"));
      return null;
    });
  }

  /** Starts sending {@code perSecond} messages in total, spread over the live pairs. */
  public void startMessages(double perSecond) {
    onLoop(() -> {
      long start = System.nanoTime();
      long base = sentTotal;
      int[] next = {ThreadLocalRandom.current().nextInt(clients.size())};
      ticker = vertx.setPeriodic(10, t -> {
        long due = base + (long) (perSecond * (System.nanoTime() - start) / 1e9);
        int guard = 0;
        while (sentTotal < due && guard++ < clients.size() * 2) {
          Client from = clients.get(next[0]++ % clients.size());
          Client to = clients.get(from.index ^ 1);
          if (from.live() && to.live()) {
            from.send(to);
            sentTotal++;
          }
        }
        if (guard >= clients.size() * 2) {
          // no live pair: nothing can be sent
          sentTotal = due;
        }
      });
      return null;
    });
  }

  /** Messages sent so far (placed in a request) by every client. */
  public long sent() {
    return onLoop(() -> sentTotal);
  }

  public void stopMessages() {
    onLoop(() -> {
      if (ticker >= 0) {
        vertx.cancelTimer(ticker);
        ticker = -1;
      }
      return null;
    });
  }

  /**
   * Whether everything accepted for a live recipient has arrived: what a test waits for after
   * {@link #stopMessages()}.
   */
  public boolean settled() {
    return onLoop(() -> {
      for (Client c : clients) {
        Client to = clients.get(c.index ^ 1);
        if (!to.live()) {
          continue;
        }
        for (int s = 0; s < c.seq; s++) {
          if (!to.got.get(s) && (c.live() || c.acceptedAt(s) > 0)) {
            return false;
          }
        }
      }
      return true;
    });
  }

  /** Ends every live session with a terminate of its own and waits for the answers. */
  public void endAll() {
    stopMessages();
    Promise<Void> done = Promise.promise();
    vertx.runOnContext(v -> {
      closing = true;
      List<Future<?>> ends = new ArrayList<>();
      for (Client c : clients) {
        if (c.live()) {
          ends.add(c.terminate());
        }
      }
      Future.join(ends).onComplete(ar -> done.complete());
    });
    join(done.future(), 120);
  }

  @Override
  public void close() {
    closed = true;
    try {
      join(http.close(), 30);
    } catch (RuntimeException ignored) {
      // closing anyway
    }
  }

  private void error(String kind) {
    errors.merge(kind, 1L, Long::sum);
  }

  // ---- the report

  /** What one client lived through. */
  public record SessionReport(int index, String user, String sid, String owner, String endCondition, long endedAtNanos,
      long sent, long received, long duplicated, List<String> duplicates, long retries) {

    public boolean survived() {
      return endCondition == null || CLOSED_BY_CLIENT.equals(endCondition);
    }
  }

  /** One message accepted for a recipient that stayed alive, never delivered. */
  public record Lost(String from, String to, int seq, long acceptedAtNanos, String fromOwner, String toOwner,
      String fromEnd, String toEnd) {

    @Override
    public String toString() {
      return from + "(" + fromOwner + (fromEnd != null ? ", ended " + fromEnd : "") + ")→" + to + "(" + toOwner
          + (toEnd != null ? ", ended " + toEnd : "") + ") #" + seq;
    }
  }

  /**
   * Everything the load measured.
   *
   * @param lost       messages whose request was answered 200 and whose recipient was still alive
   *                   {@code graceMs} later, that never arrived
   * @param told       messages answered 200 that a final body of their sender's session reported
   *                   undelivered ({@code <undelivered>}): the sender knows, so not lost
   * @param foreign    messages of an earlier load that reached this one's sessions (not counted)
   */
  public record Report(List<SessionReport> sessions, List<Lost> lost, long duplicated, long sent, long received,
      long unconfirmed, long told, long foreign, Map<String, Long> errors) {

    /** Sessions whose session ended (not by the test), by condition, with their owners. */
    public Map<String, Map<String, Long>> endedByCondition() {
      Map<String, Map<String, Long>> out = new TreeMap<>();
      for (SessionReport s : sessions) {
        if (!s.survived()) {
          out.computeIfAbsent(s.endCondition(), k -> new TreeMap<>()).merge(s.owner(), 1L, Long::sum);
        }
      }
      return out;
    }

    /** Sessions owned by one of {@code pods}. */
    public List<SessionReport> ownedBy(Collection<String> pods) {
      return sessions.stream().filter(s -> pods.contains(s.owner())).toList();
    }

    /** Lost messages between two sessions that both survived. */
    public List<Lost> lostBetweenSurvivors() {
      return lost.stream().filter(l -> l.fromEnd() == null && l.toEnd() == null).toList();
    }

    /** Duplicates received by sessions that survived. */
    public long duplicatedAmongSurvivors() {
      return sessions.stream().filter(SessionReport::survived).mapToLong(SessionReport::duplicated).sum();
    }

    /** Longest time from {@code faultAtNanos} until a session of these pods learned it had ended; -1 if one never did. */
    public long maxDetectionMs(Collection<String> pods, long faultAtNanos) {
      long max = 0;
      for (SessionReport s : ownedBy(pods)) {
        if (s.survived()) {
          return -1;
        }
        max = Math.max(max, (s.endedAtNanos() - faultAtNanos) / 1_000_000);
      }
      return max;
    }

    public String summary() {
      long survivors = sessions.stream().filter(SessionReport::survived).count();
      return String.format("sessions=%d survived=%d ended=%s sent=%d received=%d lost=%d (between survivors %d) "
              + "duplicated=%d (among survivors %d) unconfirmed=%d told=%d foreign=%d retries=%d errors=%s",
          sessions.size(), survivors, endedByCondition(), sent, received, lost.size(), lostBetweenSurvivors().size(),
          duplicated, duplicatedAmongSurvivors(), unconfirmed, told, foreign, sessions.stream().mapToLong(SessionReport::retries).sum(),
          errors);
    }

    /** The summary and the first lost messages and ended sessions, named: for failure messages. */
    public String describe() {
      StringBuilder b = new StringBuilder(summary());
      if (!lost.isEmpty()) {
        b.append("\n  lost (first 20): ").append(lost.subList(0, Math.min(20, lost.size())));
      }
      List<String> ended = sessions.stream().filter(s -> !s.survived())
          .map(s -> s.user() + "@" + s.owner() + "=" + s.endCondition()).toList();
      if (!ended.isEmpty()) {
        b.append("\n  ended (first 30): ").append(ended.subList(0, Math.min(30, ended.size())));
      }
      List<String> dups = sessions.stream().filter(s -> s.duplicated() > 0)
          .map(s -> s.user() + "(" + s.owner() + ") got " + s.duplicated() + " twice " + s.duplicates()).toList();
      if (!dups.isEmpty()) {
        b.append("\n  duplicates received: ").append(dups);
      }
      return b.toString();
    }
  }

  /** The report; a message counts as lost when its recipient lived {@code graceMs} past its acceptance. */
  public Report report(long graceMs) {
    return onLoop(() -> {
      List<SessionReport> sessions = new ArrayList<>();
      List<Lost> lost = new ArrayList<>();
      long dup = 0;
      long sent = 0;
      long received = 0;
      long unconfirmed = 0;
      long told = 0;
      for (Client c : clients) {
        sessions.add(new SessionReport(c.index, c.user, c.sid, c.owner, c.endCondition, c.endedAt, c.seq,
            c.got.cardinality(), c.duplicated, List.copyOf(c.duplicates), c.retries));
        dup += c.duplicated;
        received += c.got.cardinality();
        Client to = clients.get(c.index ^ 1);
        for (int s = 0; s < c.seq; s++) {
          sent++;
          if (to.got.get(s)) {
            continue;
          }
          long at = c.acceptedAt(s);
          if (at == 0) {
            unconfirmed++;
          } else if (c.told.get(s)) {
            told++;
          } else if (to.endedAt == 0 || to.endedAt - at > graceMs * 1_000_000L) {
            lost.add(new Lost(c.user, to.user, s, at, c.owner, to.owner, endOf(c), endOf(to)));
          }
        }
      }
      return new Report(sessions, lost, dup, sent, received, unconfirmed, told, foreign, Map.copyOf(errors));
    });
  }

  private static String endOf(Client c) {
    return c.endCondition == null || CLOSED_BY_CLIENT.equals(c.endCondition) ? null : c.endCondition;
  }

  /** Milliseconds since the load was created: for logs. */
  public long elapsedMs() {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }

  // ---- one client

  private record Reply(int status, String body) {
  }

  private final class Client {
    final int index;
    final String user;
    final BitSet got = new BitSet();
    /** Own messages a final body reported undelivered. */
    final BitSet told = new BitSet();
    final ArrayDeque<Integer> pending = new ArrayDeque<>();
    /** Acceptance time of each message sent, by sequence number; 0 while not accepted. */
    long[] accepted = new long[64];
    String sid;
    String owner = "?";
    String loginError;
    String endCondition;
    long endedAt;
    long rid = ThreadLocalRandom.current().nextLong(1_000_000, 1_000_000_000L);
    int outstanding;
    int seq;
    long duplicated;
    /** The first duplicates received, as {@code #seq@ms} (ms since the load started). */
    final List<String> duplicates = new ArrayList<>();
    long retries;
    boolean ready;

    Client(int index) {
      this.index = index;
      this.user = options.userPrefix() + index;
    }

    boolean live() {
      return ready && endCondition == null;
    }

    long acceptedAt(int s) {
      return s < accepted.length ? accepted[s] : 0;
    }

    String jid() {
      return user + "@" + options.domain() + "/f" + token;
    }

    Future<Reply> postOnce(String body) {
      return http.request(new RequestOptions().setMethod(HttpMethod.POST).setAbsoluteURI(options.url().toString())
              .setIdleTimeout((options.waitSeconds() + 20) * 1000L)
              .putHeader("Content-Type", "text/xml; charset=utf-8"))
          .compose(req -> req.send(Buffer.buffer(body)))
          .compose(res -> res.body().map(b -> new Reply(res.statusCode(), b.toString(StandardCharsets.UTF_8))));
    }

    /**
     * Sends a body until it gets a final answer: 200 without a recoverable error, a terminate, or a
     * 4xx other than a recoverable one. Failures are resent with the same rid after a pause.
     */
    Future<Reply> post(String body) {
      Promise<Reply> p = Promise.promise();
      attempt(body, System.nanoTime(), p, null);
      return p.future();
    }

    private void attempt(String body, long firstNanos, Promise<Reply> p, String lastError) {
      if (closed) {
        p.tryFail("closed");
        return;
      }
      if (lastError != null && System.nanoTime() - firstNanos > options.retryForMs() * 1_000_000L) {
        p.tryComplete(new Reply(-1, "gave up after " + options.retryForMs() + " ms: " + lastError));
        return;
      }
      postOnce(body).onComplete(ar -> {
        String why;
        if (ar.succeeded()) {
          Reply r = ar.result();
          boolean terminate = isTerminate(r.body());
          boolean recoverable = !terminate && (r.body().contains("type=\"error\"") || r.body().contains("type='error'"));
          if (terminate || (r.status() == 200 && !recoverable) || (r.status() >= 400 && r.status() < 500 && !recoverable)) {
            p.tryComplete(r);
            return;
          }
          why = "HTTP " + r.status() + (recoverable ? " recoverable error" : "");
        } else {
          why = String.valueOf(ar.cause().getClass().getSimpleName() + ": " + ar.cause().getMessage());
        }
        retries++;
        error(why.length() > 80 ? why.substring(0, 80) : why);
        vertx.setTimer(200, t -> attempt(body, firstNanos, p, why));
      });
    }

    String body(String attrs, String payload) {
      return "<body " + NS + " sid='" + sid + "' rid='" + (++rid) + "'" + attrs + ">" + payload + "</body>";
    }

    Future<Reply> step(String body) {
      return post(body).map(r -> {
        if (r.status() != 200 || isTerminate(r.body())) {
          throw new IllegalStateException("HTTP " + r.status() + ": " + r.body());
        }
        return r;
      });
    }

    Future<Void> login() {
      String create = "<body " + NS + " xmlns:xmpp='urn:xmpp:xbosh' rid='" + rid + "' to='" + options.domain()
          + "' xml:lang='en' wait='" + options.waitSeconds() + "' hold='1' ver='1.11' xmpp:version='1.0'/>";
      String auth = Base64.getEncoder().encodeToString(("\0" + user + "\0" + options.password()).getBytes(StandardCharsets.UTF_8));
      return step(create)
          .compose(r -> {
            sid = attr(r.body(), "sid");
            if (sid == null) {
              throw new IllegalStateException("no sid in " + r.body());
            }
            return until(r, "mechanism");
          })
          .compose(r -> step(body("", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>")))
          .compose(r -> until(r, "success"))
          .compose(r -> step(body(" xmlns:xmpp='urn:xmpp:xbosh' to='" + options.domain() + "' xmpp:restart='true'", "")))
          .compose(r -> until(r, "bind"))
          .compose(r -> step(body("", "<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
              + "<resource>f" + token + "</resource></bind></iq>")))
          .compose(r -> until(r, "<jid>"))
          .compose(r -> step(body("", "<presence xmlns='jabber:client'/>")))
          .map(r -> {
            onPayload(r.body());
            ready = true;
            pump();
            return null;
          });
    }

    Future<Reply> until(Reply response, String marker) {
      if (response.body().contains(marker)) {
        return Future.succeededFuture(response);
      }
      return step(body("", "")).compose(r -> until(r, marker));
    }

    void send(Client to) {
      int s = seq++;
      if (s >= accepted.length) {
        accepted = java.util.Arrays.copyOf(accepted, accepted.length * 2);
      }
      pending.add(s);
      pump();
    }

    String messages(List<Integer> seqs) {
      StringBuilder b = new StringBuilder();
      Client to = clients.get(index ^ 1);
      for (int s : seqs) {
        b.append("<message xmlns='jabber:client' to='").append(to.jid()).append("' type='chat'><body>m|").append(token).append('|').append(index)
            .append('|').append(s).append("</body></message>");
      }
      return b.toString();
    }

    void pump() {
      if (!live() || closed || closing) {
        return;
      }
      while (outstanding < 2 && (outstanding == 0 || !pending.isEmpty())) {
        List<Integer> seqs = new ArrayList<>(pending);
        pending.clear();
        outstanding++;
        post(body("", messages(seqs))).onComplete(ar -> {
          outstanding--;
          if (ar.succeeded()) {
            Reply r = ar.result();
            onPayload(r.body());
            if (isTerminate(r.body())) {
              ended(condition(r.body()));
            } else if (r.status() != 200) {
              ended(r.status() < 0 ? "client-gave-up" : "http-" + r.status());
            } else {
              long now = System.nanoTime();
              for (int s : seqs) {
                accepted[s] = now;
              }
            }
          }
          pump();
        });
      }
    }

    void ended(String condition) {
      if (endCondition == null) {
        endCondition = closing ? CLOSED_BY_CLIENT : condition;
        endedAt = System.nanoTime();
      }
    }

    Future<Void> terminate() {
      return post(body(" type='terminate'", "<presence xmlns='jabber:client' type='unavailable'/>")).map(r -> {
        onPayload(r.body());
        ended(CLOSED_BY_CLIENT);
        return (Void) null;
      }).otherwise(e -> {
        ended(CLOSED_BY_CLIENT);
        return null;
      });
    }

    void onPayload(String response) {
      for (int s : undelivered(response, token, index)) {
        told.set(s);
      }
      for (int s : partnerMessages(response, token, index ^ 1)) {
        if (s < 0) {
          foreign++;
        } else if (got.get(s)) {
          duplicated++;
          if (duplicates.size() < 10) {
            duplicates.add("#" + s + "@" + elapsedMs() + "ms");
          }
        } else {
          got.set(s);
        }
      }
    }
  }

  /**
   * The sequence numbers of the partner's messages in a response, in order; -1 for a message of
   * another load. The client's own payloads that a final body reports undelivered
   * ({@code <undelivered>}, which carries the same {@code m|token|index|seq} bodies) are skipped:
   * counting them made the sender "receive" its own message, seen as a duplicate.
   */
  static List<Integer> partnerMessages(String response, String token, int partner) {
    List<Integer> seqs = new ArrayList<>();
    Matcher m = MESSAGE.matcher(UNDELIVERED.matcher(response).replaceAll(""));
    while (m.find()) {
      if (!token.equals(m.group(1))) {
        seqs.add(-1);
      } else if (Integer.parseInt(m.group(2)) == partner) {
        seqs.add(Integer.parseInt(m.group(3)));
      }
    }
    return seqs;
  }

  /** The sequence numbers of the client's own messages a final body reports undelivered. */
  static List<Integer> undelivered(String response, String token, int self) {
    List<Integer> seqs = new ArrayList<>();
    Matcher u = UNDELIVERED.matcher(response);
    while (u.find()) {
      Matcher m = MESSAGE.matcher(u.group());
      while (m.find()) {
        if (token.equals(m.group(1)) && Integer.parseInt(m.group(2)) == self) {
          seqs.add(Integer.parseInt(m.group(3)));
        }
      }
    }
    return seqs;
  }

  static boolean isTerminate(String body) {
    return body.contains("type=\"terminate\"") || body.contains("type='terminate'");
  }

  static String condition(String body) {
    Matcher m = CONDITION.matcher(body);
    return m.find() ? m.group(1) : "none";
  }

  static String attr(String xml, String name) {
    Matcher m = Pattern.compile("\\s" + Pattern.quote(name) + "=[\"']([^\"']*)[\"']").matcher(xml);
    return m.find() ? m.group(1) : null;
  }
}
