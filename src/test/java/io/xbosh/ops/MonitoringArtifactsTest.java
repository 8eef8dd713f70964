package io.xbosh.ops;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.xbosh.metrics.XboshMetrics;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/** The dashboard and the alerts query series that exist; every alert has a runbook section. */
class MonitoringArtifactsTest {

  private static final Pattern SERIES = Pattern.compile("\\b((?:xbosh|jvm|process)_[a-z_]+)");
  /** Created at the first garbage collection, so absent from a fresh registry. */
  private static final Set<String> LAZY = Set.of("jvm_gc_pause_seconds");

  private static Set<String> realSeries() {
    Set<String> names = new TreeSet<>();
    try (XboshMetrics m = new XboshMetrics("p")) {
      m.bindPod(() -> 0, () -> 0);
      m.request("processed");
      m.requestDuration("POST", 200, 1);
      m.terminated("client");
      m.upstreamConnectFailed("host-unknown");
      XboshMetrics.redisScript(m.registry(), "accept", "ok");
      XboshMetrics.redisPool(m.registry(), 32, () -> 0);
      XboshMetrics.redisPoolBusy(m.registry());
      Matcher l = Pattern.compile("(?m)^([a-z_]+)[{ ]").matcher(m.scrape());
      while (l.find()) {
        names.add(l.group(1));
      }
    }
    return names;
  }

  private static void assertSeriesExist(String where, String expr, Set<String> real) {
    Matcher m = SERIES.matcher(expr);
    while (m.find()) {
      String s = m.group(1);
      String base = s.replaceAll("_(bucket|count|sum)$", "");
      assertThat(real.contains(s) || LAZY.contains(base) || real.contains(base + "_count"))
          .as(where + " queries " + s + ", which xbosh does not export").isTrue();
    }
  }

  @Test
  @SuppressWarnings("unchecked")
  void alertsQueryRealSeriesAndHaveARunbookSection() throws IOException {
    Set<String> real = realSeries();
    Map<String, Object> rule = new Yaml().load(Files.readString(Path.of("k8s/monitoring/prometheusrule.yaml")));
    assertThat(rule).containsEntry("kind", "PrometheusRule");
    String runbook = Files.readString(Path.of("docs/ops/RUNBOOK.md"));
    List<String> alerts = new ArrayList<>();
    for (Map<String, Object> group : (List<Map<String, Object>>) ((Map<String, Object>) rule.get("spec")).get("groups")) {
      for (Map<String, Object> r : (List<Map<String, Object>>) group.get("rules")) {
        String alert = (String) r.get("alert");
        alerts.add(alert);
        assertSeriesExist(alert, (String) r.get("expr"), real);
        String link = ((Map<String, String>) r.get("annotations")).get("runbook");
        assertThat(link).as(alert).startsWith("docs/ops/RUNBOOK.md#");
        assertThat(runbook).as(alert + "'s runbook section").contains("\n## " + link.substring(link.indexOf('#') + 1) + "\n");
      }
    }
    assertThat(alerts).contains("XboshHttpErrors", "XboshAbnormalTerminations", "XboshRedisSlow", "XboshPodsNotReady");
    Map<String, Object> k = new Yaml().load(Files.readString(Path.of("k8s/monitoring/kustomization.yaml")));
    assertThat((List<String>) k.get("resources")).containsExactlyInAnyOrder("podmonitor.yaml", "prometheusrule.yaml");
  }

  @Test
  void dashboardQueriesRealSeries() throws IOException {
    Set<String> real = realSeries();
    JsonObject dashboard = new JsonObject(Files.readString(Path.of("docs/ops/grafana-dashboard.json")));
    JsonArray panels = dashboard.getJsonArray("panels");
    assertThat(panels.size()).isGreaterThan(8);
    Set<String> queried = new TreeSet<>();
    for (int i = 0; i < panels.size(); i++) {
      JsonObject p = panels.getJsonObject(i);
      JsonArray targets = p.getJsonArray("targets");
      assertThat(targets.size()).as(p.getString("title")).isPositive();
      for (int t = 0; t < targets.size(); t++) {
        String expr = targets.getJsonObject(t).getString("expr");
        assertSeriesExist(p.getString("title"), expr, real);
        Matcher m = SERIES.matcher(expr);
        while (m.find()) {
          queried.add(m.group(1));
        }
      }
    }
    assertThat(queried).contains("xbosh_sessions_owned", "xbosh_redis_command_seconds_bucket", "xbosh_http_request_seconds_bucket",
        "xbosh_hold_seconds_bucket", "xbosh_upstream_connect_seconds_bucket",
        "xbosh_redis_pool_busy_total");
  }
}
