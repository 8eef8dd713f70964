package io.xbosh.ops;

import static org.assertj.core.api.Assertions.assertThat;

import io.xbosh.config.XboshConfig;
import io.xbosh.http.HttpVerticle;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/** The invariants the Kubernetes manifests and the load-balancer sample must keep. */
class DeploymentManifestsTest {

  private static final Path K8S = Path.of("k8s");
  private static final List<Map<String, Object>> docs = new ArrayList<>();

  @BeforeAll
  @SuppressWarnings("unchecked")
  static void load() throws IOException {
    try (Stream<Path> files = Files.list(K8S)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
        try (Reader r = Files.newBufferedReader(f)) {
          for (Object doc : new Yaml().loadAll(r)) {
            if (doc != null) {
              docs.add((Map<String, Object>) doc);
            }
          }
        }
      }
    }
  }

  private static Map<String, Object> one(String kind, String name) {
    return docs.stream().filter(d -> kind.equals(d.get("kind")) && name.equals(get(d, "metadata", "name"))).findFirst()
        .orElseThrow(() -> new AssertionError("no " + kind + " " + name + " in k8s/"));
  }

  @SuppressWarnings("unchecked")
  private static <T> T get(Object node, Object... path) {
    Object cur = node;
    for (Object step : path) {
      cur = step instanceof Integer i ? ((List<Object>) cur).get(i) : ((Map<String, Object>) cur).get(step);
      if (cur == null) {
        return null;
      }
    }
    return (T) cur;
  }

  private static Map<String, Object> xboshContainer() {
    return get(one("Deployment", "xbosh"), "spec", "template", "spec", "containers", 0);
  }

  private static Map<String, String> config() {
    return get(one("ConfigMap", "xbosh-config"), "data");
  }

  private static int maxWait() {
    return Integer.parseInt(config().getOrDefault("XBOSH_MAX_WAIT", "60"));
  }

  @Test
  void kustomizationListsEveryManifest() throws IOException {
    Map<String, Object> k = new Yaml().load(Files.readString(K8S.resolve("kustomization.yaml")));
    List<String> resources = get(k, "resources");
    try (Stream<Path> files = Files.list(K8S)) {
      Set<String> present = files.map(p -> p.getFileName().toString())
          .filter(n -> n.endsWith(".yaml") && !n.equals("kustomization.yaml")).collect(Collectors.toSet());
      assertThat(resources).containsExactlyInAnyOrderElementsOf(present);
    }
  }

  @Test
  void deploymentRollsWithoutLosingCapacity() {
    Map<String, Object> d = one("Deployment", "xbosh");
    assertThat((Integer) get(d, "spec", "replicas")).isEqualTo(3);
    assertThat((Object) get(d, "spec", "strategy", "rollingUpdate", "maxUnavailable")).isEqualTo(0);
    assertThat((String) get(one("HorizontalPodAutoscaler", "xbosh"), "apiVersion")).isEqualTo("autoscaling/v2");
    assertThat((Object) get(one("PodDisruptionBudget", "xbosh"), "spec", "maxUnavailable")).isEqualTo(1);
  }

  @Test
  void probesPointAtTheEndpointsXboshServes() {
    Map<String, Object> c = xboshContainer();
    assertThat((String) get(c, "readinessProbe", "httpGet", "path")).isEqualTo(HttpVerticle.READY_PATH);
    assertThat((String) get(c, "livenessProbe", "httpGet", "path")).isEqualTo(HttpVerticle.HEALTH_PATH);
    assertThat((String) get(c, "startupProbe", "httpGet", "path")).isEqualTo(HttpVerticle.HEALTH_PATH);
    int port = get(c, "ports", 0, "containerPort");
    String configured = ((List<Map<String, Object>>) get(c, "env")).stream()
        .filter(e -> "XBOSH_HTTP_PORT".equals(e.get("name"))).map(e -> (String) e.get("value")).findFirst().orElse("5280");
    assertThat(port).isEqualTo(Integer.parseInt(configured));
    Map<String, Object> pod = get(one("Deployment", "xbosh"), "spec", "template", "metadata", "annotations");
    assertThat(pod).containsEntry("prometheus.io/path", HttpVerticle.METRICS_PATH);
  }

  @Test
  void everyVariableTheManifestsSetExists() {
    Set<String> known = XboshConfig.VARIABLES.stream().map(XboshConfig.Variable::name).collect(Collectors.toSet());
    assertThat(known).containsAll(config().keySet());
    List<Map<String, Object>> env = get(xboshContainer(), "env");
    assertThat(known).containsAll(env.stream().map(e -> (String) e.get("name")).toList());
    // and what the ConfigMap says is valid configuration
    Map<String, String> all = new java.util.HashMap<>(config());
    all.put("XBOSH_NODE_ID", "xbosh-7d9f-abcde");
    assertThat(XboshConfig.from(all).maxWait()).isEqualTo(maxWait());
  }

  @Test
  void gracePeriodCoversPreStopDrainAndTheLongestWait() {
    Map<String, Object> spec = get(one("Deployment", "xbosh"), "spec", "template", "spec");
    int grace = (Integer) spec.get("terminationGracePeriodSeconds");
    List<String> preStop = get(xboshContainer(), "lifecycle", "preStop", "exec", "command");
    int sleep = Integer.parseInt(preStop.get(preStop.size() - 1));
    int drain = Integer.parseInt(config().get("XBOSH_DRAIN_SECONDS"));
    assertThat(grace).isGreaterThan(sleep + drain + maxWait());
  }

  @Test
  void containerIsHardened() {
    Map<String, Object> podSecurity = get(one("Deployment", "xbosh"), "spec", "template", "spec", "securityContext");
    assertThat(podSecurity).containsEntry("runAsNonRoot", true);
    Map<String, Object> c = xboshContainer();
    assertThat((Boolean) get(c, "securityContext", "allowPrivilegeEscalation")).isFalse();
    assertThat((Boolean) get(c, "securityContext", "readOnlyRootFilesystem")).isTrue();
    assertThat((List<String>) get(c, "securityContext", "capabilities", "drop")).containsExactly("ALL");
    assertThat((String) get(c, "resources", "limits", "memory")).isNotBlank();
    assertThat((String) get(c, "resources", "requests", "cpu")).isNotBlank();
  }

  @Test
  void proxiesWaitLongerThanXboshHoldsAndNeverStick() throws IOException {
    Map<String, Object> ingress = get(one("Ingress", "xbosh"), "metadata", "annotations");
    assertThat(Integer.parseInt((String) ingress.get("nginx.ingress.kubernetes.io/proxy-read-timeout"))).isGreaterThan(maxWait());
    assertThat(Integer.parseInt((String) ingress.get("nginx.ingress.kubernetes.io/proxy-send-timeout"))).isGreaterThan(maxWait());
    assertThat(ingress.keySet()).noneMatch(k -> k.contains("affinity") || k.contains("session-cookie"));
    assertThat((String) get(one("Service", "xbosh"), "spec", "sessionAffinity")).isEqualTo("None");
    // the HAProxy sample too
    String haproxy = Files.readString(Path.of("docs/load-balancer/haproxy.cfg"));
    for (String timeout : List.of("client", "server")) {
      Matcher m = Pattern.compile("timeout " + timeout + " (\\d+)s").matcher(haproxy);
      assertThat(m.find()).as("timeout " + timeout).isTrue();
      assertThat(Integer.parseInt(m.group(1))).isGreaterThan(maxWait());
    }
    String directives = haproxy.lines().map(String::strip).filter(l -> !l.startsWith("#")).collect(Collectors.joining("\n"));
    assertThat(directives).contains("balance roundrobin").doesNotContain("stick").doesNotContain("cookie");
  }
}
