package io.xbosh.bench;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.ProsodyProcess;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The load generator's own correctness on a small run: counts add up, latencies are plausible. */
class LoadGeneratorIT {

  private static ProsodyProcess prosody;
  private static InProcessXbosh xbosh;
  private static Vertx vertx;

  @BeforeAll
  static void start() throws Exception {
    Map<String, String> users = new HashMap<>();
    for (int i = 0; i < 6; i++) {
      users.put("u" + i, "pw");
    }
    prosody = ProsodyProcess.start(users);
    xbosh = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(), "XBOSH_NODE_ID", "bench-pod"));
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void stop() throws Exception {
    if (vertx != null) {
      await(vertx.close());
    }
    if (xbosh != null) {
      xbosh.close();
    }
    if (prosody != null) {
      prosody.close();
    }
  }

  private static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }

  private static LoadGenerator.Result run(URI url) throws Exception {
    LoadGenerator gen = new LoadGenerator(vertx, new LoadGenerator.Options(List.of(url), ProsodyProcess.DOMAIN, 6, "u", "pw", 10, 6));
    try {
      await(gen.login());
      return await(gen.phase(40, 2000, 10_000));
    } finally {
      await(gen.close());
    }
  }

  private static ArrivalLoad.Result wave(URI url) throws Exception {
    ArrivalLoad load = new ArrivalLoad(vertx, new ArrivalLoad.Options(List.of(url), ProsodyProcess.DOMAIN, "u", "pw", 6, 50, 10, 3, 50));
    try {
      return await(load.wave(1));
    } finally {
      await(load.close());
    }
  }

  /** The cold scenario's wave: every user logs in, makes its ten roster round trips and chats; every message is counted once. */
  @Test
  void anArrivalWaveTimesEveryLoginAndRequestThroughXboshAndModBosh() throws Exception {
    for (URI url : List.of(xbosh.endpoint(), URI.create(prosody.boshUrl()))) {
      ArrivalLoad.Result r = wave(url);
      assertThat(r.failed).as(url.toString()).isZero();
      assertThat(r.errors).as(url.toString()).isEmpty();
      assertThat(r.login.count()).isEqualTo(6);
      // at least create, auth, restart, bind, session, presence and ten roster requests per user
      assertThat(r.request.count()).isGreaterThanOrEqualTo(6 * 16);
      assertThat(r.login.mean()).isPositive().isLessThanOrEqualTo(r.login.max());
      // the first user finds no one to write to; the others send three messages each
      assertThat(r.sent).isGreaterThanOrEqualTo(15);
      assertThat(r.received).isEqualTo(r.sent);
    }
  }

  @Test
  void countsEveryMessageOnceThroughXbosh() throws Exception {
    LoadGenerator.Result r = run(xbosh.endpoint());
    assertThat(r.failedLogins()).isZero();
    // 40 a second for 2 s: about 80. The generator catches up to rate x elapsed on every tick, so
    // timers running late on a loaded machine only add messages; the bound is one-sided for that
    assertThat(r.sent()).isGreaterThanOrEqualTo(60L);
    assertThat(r.received()).isEqualTo(r.sent());
    assertThat(r.lost()).isZero();
    assertThat(r.duplicated()).isZero();
    assertThat(r.p50()).isPositive().isLessThanOrEqualTo(r.p99());
    assertThat(r.p99()).isLessThanOrEqualTo(r.max()).isLessThan(10_000_000);
    assertThat(r.errors()).isEmpty();
  }

  @Test
  void countsEveryMessageOnceOverWebSocketThroughXbosh() throws Exception {
    LoadGenerator.Result r = run(URI.create("ws://127.0.0.1:" + xbosh.port() + "/xmpp-websocket"));
    assertThat(r.failedLogins()).isZero();
    assertThat(r.sent()).isGreaterThanOrEqualTo(60L);
    assertThat(r.received()).isEqualTo(r.sent());
    assertThat(r.lost()).isZero();
    assertThat(r.duplicated()).isZero();
    assertThat(r.p50()).isPositive().isLessThanOrEqualTo(r.p99());
    assertThat(r.errors()).isEmpty();
    // no polling over a WebSocket
    assertThat(r.httpRequests()).isZero();
  }

  @Test
  void runsAgainstProsodysOwnBoshTooAndPlotsTheResults() throws Exception {
    LoadGenerator.Result r = run(URI.create(prosody.boshUrl()));
    assertThat(r.failedLogins()).isZero();
    assertThat(r.received()).isEqualTo(r.sent()).isPositive();
    // a results file as Bench writes it, and its plot
    Path dir = Files.createTempDirectory("xbosh-bench");
    Path tsv = dir.resolve("r.tsv");
    Files.writeString(tsv, Bench.HEADER + "\n"
        + "a\tchat\t6\t40.00\t80\t80\t0\t0\t1.00\t2.00\t3.00\t4.00\t40.00\t100\t0.10\t100\t-1\t-1\t-1\t-1\t-\n"
        + "a\tburst\t6\t80.00\t160\t160\t0\t0\t1.50\t2.50\t5.00\t6.00\t80.00\t200\t0.20\t100\t-1\t-1\t-1\t-1\t-\n");
    Path png = dir.resolve("p.png");
    LatencyPlot.write(tsv, png);
    assertThat(ImageIO.read(png.toFile()).getWidth()).isEqualTo(900);
    assertThat(LatencyPlot.read(tsv).get("a")).hasSize(2);
  }
}
