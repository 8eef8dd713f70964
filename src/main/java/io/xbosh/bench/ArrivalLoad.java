package io.xbosh.bench;

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
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Users arriving at a set rate, each doing what a browser client does right after opening the
 * page: create a session, log in (SASL PLAIN, restart, bind, session, presence), ten roster round
 * trips, a few chat messages to users already in while keeping a long poll held (hold=1), then
 * log out. One wave is {@code users} such users; on one Vert.x event loop.
 *
 * <p>Measured per wave: login time (from sending {@code <auth/>} to the answer of the session
 * request: auth, restart, bind, session, as a BOSH client does it), per-request latency (every
 * HTTP request of the login and roster steps, which a client sends one at a time and which are
 * answered with what the client waits for, or polled again), and message delivery latency.
 */
final class ArrivalLoad {

  /** Who arrives where, how fast, and what each does. */
  record Options(List<URI> urls, String domain, String userPrefix, String password, int users, double rate, int roundTrips,
      int messages, long messageGapMs) {
  }

  /** What one or more waves measured. Latencies in microseconds. */
  static final class Result {
    final LatencyRecorder login = new LatencyRecorder();
    final LatencyRecorder request = new LatencyRecorder();
    final LatencyRecorder message = new LatencyRecorder();
    final Map<String, Long> errors = new TreeMap<>();
    int users;
    int failed;
    long sent;
    long received;
    long millis;

    void add(Result o) {
      login.addAll(o.login);
      request.addAll(o.request);
      message.addAll(o.message);
      o.errors.forEach((k, v) -> errors.merge(k, v, Long::sum));
      users += o.users;
      failed += o.failed;
      sent += o.sent;
      received += o.received;
      millis += o.millis;
    }
  }

  /** Longest a wave waits for its users before counting the rest as stuck. */
  static final long MAX_WAVE_MS = 120_000;
  private static final String BOSH_NS = "xmlns='http://jabber.org/protocol/httpbind'";
  private static final Pattern MESSAGE_BODY = Pattern.compile("<body>c\\|(\\d+)\\|(\\d+)</body>");

  private final Vertx vertx;
  private final Options options;
  private final HttpClientAgent http;
  private int requests;

  ArrivalLoad(Vertx vertx, Options options) {
    this.vertx = vertx;
    this.options = options;
    this.http = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true),
        new PoolOptions().setHttp1MaxSize(options.users() * 2 + 16).setMaxWaitQueueSize(-1));
  }

  Future<Void> close() {
    return http.close();
  }

  /** One wave; {@code wave} names the resource, so a wave's sessions never collide with the last one's. */
  Future<Result> wave(int wave) {
    Promise<Result> done = Promise.promise();
    vertx.runOnContext(v -> new Wave(wave, done).start());
    return done.future();
  }

  private final class Wave {
    final int wave;
    final Promise<Result> done;
    final Result result = new Result();
    final List<User> users = new ArrayList<>();
    final List<User> ready = new ArrayList<>();
    final long start = System.nanoTime();
    int finished;

    Wave(int wave, Promise<Result> done) {
      this.wave = wave;
      this.done = done;
    }

    void start() {
      // a user stuck in a step (an answer that never comes) is counted, not waited for forever
      vertx.setTimer(MAX_WAVE_MS, t -> users.stream().filter(u -> !u.done).toList().forEach(u -> {
        result.failed++;
        error("stuck: " + u.step);
        u.finish();
      }));
      result.users = options.users();
      for (int i = 0; i < options.users(); i++) {
        users.add(new User(this, i));
      }
      long gapNanos = (long) (1e9 / options.rate());
      int[] arrived = {0};
      vertx.setPeriodic(5, t -> {
        long due = (System.nanoTime() - start) / gapNanos + 1;
        while (arrived[0] < users.size() && arrived[0] < due) {
          users.get(arrived[0]++).arrive();
        }
        if (arrived[0] == users.size()) {
          vertx.cancelTimer(t);
        }
      });
    }

    void error(String kind) {
      result.errors.merge(kind.length() > 120 ? kind.substring(0, 120) : kind, 1L, Long::sum);
    }

    /** A user is done chatting (or failed): once all are, wait for the last messages, then everyone logs out. */
    void finished() {
      if (++finished < users.size()) {
        return;
      }
      long deadline = System.nanoTime() + 10_000_000_000L;
      vertx.setPeriodic(20, t -> {
        if (result.received >= result.sent || System.nanoTime() > deadline) {
          vertx.cancelTimer(t);
          List<Future<Void>> out = new ArrayList<>();
          users.forEach(u -> out.add(u.logout()));
          Future.join(out).onComplete(ar -> {
            result.millis = (System.nanoTime() - start) / 1_000_000;
            done.complete(result);
          });
        }
      });
    }
  }

  private final class User {
    final Wave wave;
    final int index;
    final String user;
    String sid;
    String jid;
    long rid = ThreadLocalRandom.current().nextLong(1_000_000, 1_000_000_000L);
    boolean polling;
    int outstanding;
    final java.util.ArrayDeque<String> pending = new java.util.ArrayDeque<>();
    boolean loggedOut;
    boolean done;
    String step = "arriving";
    int seq;

    User(Wave wave, int index) {
      this.wave = wave;
      this.index = index;
      this.user = options.userPrefix() + index;
    }

    /** Done with the wave's work (chatted, or failed): counted once. */
    void finish() {
      if (!done) {
        done = true;
        wave.finished();
      }
    }

    void arrive() {
      String create = "<body " + BOSH_NS + " xmlns:xmpp='urn:xmpp:xbosh' rid='" + rid + "' to='" + options.domain()
          + "' xml:lang='en' wait='30' hold='1' ver='1.11' xmpp:version='1.0'/>";
      String auth = Base64.getEncoder().encodeToString(("\0" + user + "\0" + options.password()).getBytes(StandardCharsets.UTF_8));
      long[] loginStart = {0};
      Future<String> f = timed(create).compose(r -> {
        sid = LoadGenerator.attr(r, "sid");
        return sid == null ? Future.failedFuture("no sid") : until(r, "mechanism");
      }).compose(r -> {
        loginStart[0] = System.nanoTime();
        return exchange("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>", "success");
      }).compose(r -> timed(body(" xmlns:xmpp='urn:xmpp:xbosh' to='" + options.domain() + "' xmpp:restart='true'", "")))
          .compose(r -> until(r, "bind"))
          .compose(r -> exchange("<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
              + "<resource>w" + wave.wave + "</resource></bind></iq>", "<jid>"))
          .compose(r -> {
            Matcher m = Pattern.compile("<jid>([^<]+)</jid>").matcher(r);
            jid = m.find() ? m.group(1) : user + "@" + options.domain() + "/w" + wave.wave;
            return exchange("<iq xmlns='jabber:client' type='set' id='sess'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>",
                "id='sess'");
          }).map(r -> {
            wave.result.login.record((System.nanoTime() - loginStart[0]) / 1000);
            return r;
          }).compose(r -> timed(body("", "<presence xmlns='jabber:client'/>")));
      for (int i = 0; i < options.roundTrips(); i++) {
        String id = "roster" + i;
        f = f.compose(r -> exchange("<iq xmlns='jabber:client' type='get' id='" + id + "'><query xmlns='jabber:iq:roster'/></iq>",
            "id='" + id + "'"));
      }
      f.onComplete(ar -> {
        if (done) {
          return;
        }
        if (ar.failed()) {
          wave.result.failed++;
          wave.error(step + ": " + ar.cause().getMessage());
          finish();
          return;
        }
        step = "chat";
        onPayload(ar.result());
        wave.ready.add(this);
        polling = true;
        pump();
        chat(0);
      });
    }

    /** Messages to users already in, {@code messageGapMs} apart, sent beside the held poll. */
    void chat(int sent) {
      if (sent >= options.messages() || wave.ready.size() < 2 || done) {
        finish();
        return;
      }
      vertx.setTimer(options.messageGapMs(), t -> {
        User to = wave.ready.get(ThreadLocalRandom.current().nextInt(wave.ready.size()));
        if (to == this) {
          to = wave.ready.get((wave.ready.indexOf(this) + 1) % wave.ready.size());
        }
        wave.result.sent++;
        pending.add("<message xmlns='jabber:client' to='" + to.jid + "' type='chat'><body>c|" + (seq++) + "|"
            + System.nanoTime() + "</body></message>");
        pump();
        chat(sent + 1);
      });
    }

    /**
     * hold=1, requests=2: one request always held by the server, a second one only to send what
     * is pending (all of it); never more than two, or the rid would leave the server's window.
     */
    void pump() {
      while (polling && (outstanding == 0 || (outstanding < 2 && !pending.isEmpty()))) {
        StringBuilder payload = new StringBuilder();
        while (!pending.isEmpty()) {
          payload.append(pending.poll());
        }
        outstanding++;
        post(body("", payload.toString()), false).onComplete(ar -> {
          outstanding--;
          if (ar.succeeded()) {
            onPayload(ar.result());
          } else if (polling) {
            polling = false;
            wave.error("poll: " + ar.cause().getMessage());
          }
          pump();
        });
      }
    }

    Future<Void> logout() {
      polling = false;
      loggedOut = true;
      if (sid == null) {
        return Future.succeededFuture();
      }
      return post(body(" type='terminate'", "<presence xmlns='jabber:client' type='unavailable'/>"), true).otherwiseEmpty().mapEmpty();
    }

    void onPayload(String response) {
      Matcher m = MESSAGE_BODY.matcher(response);
      long now = System.nanoTime();
      while (m.find()) {
        wave.result.received++;
        wave.result.message.record((now - Long.parseLong(m.group(2))) / 1000);
      }
    }

    Future<String> exchange(String payload, String marker) {
      step = marker;
      return timed(body("", payload)).compose(r -> until(r, marker));
    }

    /** Polls until a response holds {@code marker} (quotes normalised): a server may answer in a later response. */
    Future<String> until(String response, String marker) {
      if (response.replace('"', '\'').contains(marker)) {
        return Future.succeededFuture(response);
      }
      return timed(body("", "")).compose(r -> until(r, marker));
    }

    /** A request of the login and roster steps: its latency is recorded. */
    Future<String> timed(String body) {
      long t0 = System.nanoTime();
      return post(body, false).map(r -> {
        wave.result.request.record((System.nanoTime() - t0) / 1000);
        return r;
      });
    }

    String body(String attrs, String payload) {
      return "<body " + BOSH_NS + " sid='" + sid + "' rid='" + (++rid) + "'" + attrs + ">" + payload + "</body>";
    }

    Future<String> post(String body, boolean ending) {
      URI to = options.urls().get(requests++ % options.urls().size());
      // wait=30: an answer later than 45 s is lost, not slow
      return http.request(new RequestOptions().setMethod(HttpMethod.POST).setAbsoluteURI(to.toString()).setIdleTimeout(45_000)
              .putHeader("Content-Type", "text/xml; charset=utf-8"))
          .compose(req -> req.send(Buffer.buffer(body)))
          .compose(res -> res.body().compose(b -> res.statusCode() == 200
              ? Future.succeededFuture(b.toString(StandardCharsets.UTF_8))
              : Future.failedFuture("HTTP " + res.statusCode())))
          .compose(text -> !ending && (text.contains("type='terminate'") || text.contains("type=\"terminate\""))
              ? Future.failedFuture("terminated: " + LoadGenerator.attr(text, "condition"))
              : Future.succeededFuture(text));
    }
  }
}
