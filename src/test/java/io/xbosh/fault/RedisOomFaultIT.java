package io.xbosh.fault;

import static io.xbosh.fault.FaultAssertions.assertLivePodsSessionsSurvive;
import static io.xbosh.fault.FaultAssertions.assertNothingLeftBehind;
import static io.xbosh.fault.FaultAssertions.record;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertAll;

import io.xbosh.testing.BoshSession;
import io.xbosh.testing.FaultCluster;
import io.xbosh.testing.FaultLoad;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code maxmemory} reached ({@code noeviction}) for 5 s, then raised again: writes are refused,
 * so clients get retriable answers (HTTP 503, recoverable body), never a terminal one; no script
 * applies half; every session survives (issue 12, row 4).
 */
class RedisOomFaultIT {

  @Test
  void maxmemoryReachedGivesRetriableAnswersEndsNoSessionAndLosesNothing() throws Exception {
    FaultAssertions.inDeployment(FaultCluster.Store.PERSISTENT, c -> {
      FaultLoad load = c.loginLoad();
      load.startMessages(FaultCluster.RATE);
      c.traffic(FaultCluster.PHASE_MS);
      Matcher used = Pattern.compile("used_memory:(\\d+)").matcher(c.cli("INFO", "memory"));
      assertThat(used.find()).isTrue();
      long limit = Long.parseLong(used.group(1)) / 2;
      c.cli("CONFIG", "SET", "maxmemory-policy", "noeviction");
      c.cli("CONFIG", "SET", "maxmemory", Long.toString(limit));
      long oomAt = System.nanoTime();
      c.log("maxmemory " + limit + " (half of what is used): writes refused");
      // creations during the episode: retriable, never terminal
      HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      List<String> creations = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        HttpResponse<String> created = BoshSession.post(http, c.lbEndpoint(), "<body " + BoshSession.B + " " + BoshSession.X
            + " rid='" + (1000 + i) + "' to='" + FaultCluster.DOMAIN + "' xml:lang='en' wait='5' hold='1' ver='1.11' xmpp:version='1.0'/>");
        creations.add(created.statusCode() + " " + created.body());
      }
      FaultCluster.faultLastsFor(Duration.ofMillis(Math.max(0, 5000 - (System.nanoTime() - oomAt) / 1_000_000)));
      c.cli("CONFIG", "SET", "maxmemory", "0");
      long oomMs = (System.nanoTime() - oomAt) / 1_000_000;
      c.log("maxmemory lifted after " + oomMs + " ms");
      c.traffic(FaultCluster.PHASE_MS + FaultCluster.detectionBoundMs());
      FaultLoad.Report r = c.settle(Duration.ofSeconds(20));
      List<String> terminal = creations.stream().filter(s -> s.contains("type=\"terminate\"") || s.contains("type='terminate'")).toList();
      List<String> notRetriable = creations.stream().filter(s -> !s.startsWith("200 ") && !s.startsWith("503 ")).toList();
      record("maxmemory reached for " + oomMs + " ms", r, "creationsDuringOom=" + creations.stream()
          .map(s -> s.substring(0, 3) + (s.contains("type=\"terminate\"") ? " terminate " + s.replaceAll("(?s).*condition=\"([^\"]*)\".*", "$1") : ""))
          .toList());
      assertAll(
          () -> assertThat(terminal).as("session creations during the OOM episode answered with a terminal body (not retriable)")
              .isEmpty(),
          () -> assertThat(notRetriable).as("session creations during the OOM episode answered neither 200 nor 503").isEmpty(),
          () -> assertLivePodsSessionsSurvive("maxmemory reached", r, Set.of()));
      assertNothingLeftBehind(c);
    });
  }
}
