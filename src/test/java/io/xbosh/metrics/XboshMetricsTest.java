package io.xbosh.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class XboshMetricsTest {

  /** Every meter once, so that every series exists. */
  private static String scrapeAfterEverything() {
    try (XboshMetrics m = new XboshMetrics("pod-1")) {
      m.bindPod(() -> 3, () -> 2);
      m.bindTransports(() -> 3, () -> 1);
      m.webSocketStarted();
      m.webSocketError("not-well-formed");
      m.request("bad_request");
      m.request("item-not-found");
      m.requestDuration("POST", 200, 5_000_000);
      m.held(1_500_000_000L);
      m.sessionCreated();
      m.stanzasIn(2);
      m.stanzasOut(1);
      m.terminated("owner_lost");
      m.heldExpired("local");
      m.upstreamConnect().record(java.time.Duration.ofMillis(30));
      m.upstreamConnectFailed("remote-connection-failed");
      XboshMetrics.redisScript(m.registry(), "accept", "ok").record(java.time.Duration.ofNanos(400_000));
      XboshMetrics.redisPool(m.registry(), 32, () -> 5);
      XboshMetrics.redisPoolBusy(m.registry()).increment();
      return m.scrape();
    }
  }

  private static Set<String> names(String scrape) {
    Set<String> names = new TreeSet<>();
    Matcher m = Pattern.compile("(?m)^([a-z_]+)[{ ]").matcher(scrape);
    while (m.find()) {
      names.add(m.group(1));
    }
    return names;
  }

  @Test
  void everySeriesHasHelpAndNoLabelCollidesWithKubernetes() {
    String scrape = scrapeAfterEverything();
    assertThat(scrape).doesNotContainPattern("(?m)^# HELP \\S+\\s*$");
    assertThat(scrape).doesNotContain("pod=\"").doesNotContain("instance=\"").doesNotContain("namespace=\"");
    assertThat(scrape).contains("xbosh_build_info{").contains("xbosh_node=\"pod-1\"");
  }

  @Test
  void labelValuesAreWrittenOneWay() {
    String scrape = scrapeAfterEverything();
    assertThat(scrape).contains("outcome=\"bad-request\"").contains("outcome=\"item-not-found\"").contains("condition=\"owner-lost\"");
    Matcher m = Pattern.compile("(?:outcome|condition|direction|status|method|answer)=\"([^\"]*)\"").matcher(scrape);
    while (m.find()) {
      assertThat(m.group(1)).matches("[a-z0-9-]+|[1-5]xx|[A-Z]+");
    }
  }

  @Test
  void latenciesAreHistogramsAndJvmAndProcessMetricsAreThere() {
    String scrape = scrapeAfterEverything();
    for (String h : new String[] {"xbosh_redis_command_seconds", "xbosh_http_request_seconds", "xbosh_hold_seconds", "xbosh_upstream_connect_seconds"}) {
      assertThat(scrape).contains("# TYPE " + h + " histogram").contains(h + "_bucket{");
    }
    assertThat(scrape).contains("jvm_memory_used_bytes", "jvm_gc_memory_allocated_bytes_total", "process_files_open_files", "process_cpu_usage",
        "jvm_threads_live_threads", "process_uptime_seconds");
  }

  /** README names the series as they come out of /metrics. */
  @Test
  void readmeNamesRealSeries() throws IOException {
    String readme = Files.readString(Path.of("README.md"));
    int from = readme.indexOf("`GET /metrics`");
    assertThat(from).isPositive();
    String part = readme.substring(from, readme.indexOf("\n## ", from));
    Set<String> named = new TreeSet<>();
    Matcher m = Pattern.compile("`(xbosh_[a-z_]+)").matcher(part);
    while (m.find()) {
      named.add(m.group(1));
    }
    assertThat(named).hasSizeGreaterThan(8);
    Set<String> real = names(scrapeAfterEverything());
    for (String n : named) {
      assertThat(real).as(n).anyMatch(r -> r.equals(n) || r.equals(n + "_bucket") || r.equals(n + "_count"));
    }
  }
}
