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

/**
 * The invariants the Kubernetes manifests and the load-balancer sample must keep. The base is
 * rendered as kustomize would (its resources, its ConfigMap and Secret generators, its labels) and
 * every object is validated against the Kubernetes object models (fabric8): unknown field names
 * fail, not only wrong types.
 */
class DeploymentManifestsTest {

  private static final Path K8S = Path.of("k8s");
  private static final List<Map<String, Object>> docs = new ArrayList<>();
  private static Map<String, Object> kustomization;

  @BeforeAll
  @SuppressWarnings("unchecked")
  static void load() throws IOException {
    kustomization = new Yaml().load(Files.readString(K8S.resolve("kustomization.yaml")));
    docs.addAll(renderBase());
  }

  /** The objects of the base, rendered as kustomize would (resources, generators), each a fresh tree. */
  @SuppressWarnings("unchecked")
  static List<Map<String, Object>> renderBase() throws IOException {
    Map<String, Object> kustomization = new Yaml().load(Files.readString(K8S.resolve("kustomization.yaml")));
    List<Map<String, Object>> docs = new ArrayList<>();
    for (String resource : (List<String>) kustomization.get("resources")) {
      try (Reader r = Files.newBufferedReader(K8S.resolve(resource))) {
        for (Object doc : new Yaml().loadAll(r)) {
          if (doc != null) {
            docs.add((Map<String, Object>) doc);
          }
        }
      }
    }
    // configMapGenerator: KEY=value lines of the env file, # comments ignored (as kustomize reads them)
    Map<String, Object> generator = ((List<Map<String, Object>>) kustomization.get("configMapGenerator")).get(0);
    Map<String, String> generatedConfig = new java.util.LinkedHashMap<>();
    for (String env : (List<String>) generator.get("envs")) {
      for (String line : Files.readAllLines(K8S.resolve(env))) {
        if (!line.isBlank() && !line.startsWith("#")) {
          int eq = line.indexOf('=');
          generatedConfig.put(line.substring(0, eq), line.substring(eq + 1));
        }
      }
    }
    docs.add(Map.of("apiVersion", "v1", "kind", "ConfigMap", "metadata", Map.of("name", generator.get("name")),
        "data", generatedConfig));
    for (Map<String, Object> secret : (List<Map<String, Object>>) kustomization.get("secretGenerator")) {
      Map<String, String> data = new java.util.LinkedHashMap<>();
      for (String file : (List<String>) secret.get("files")) {
        String[] keyAndPath = file.split("=", 2);
        data.put(keyAndPath[0], java.util.Base64.getEncoder().encodeToString(Files.readAllBytes(K8S.resolve(keyAndPath[1]))));
      }
      docs.add(Map.of("apiVersion", "v1", "kind", "Secret", "metadata", Map.of("name", secret.get("name")), "data", data));
    }
    return docs;
  }

  private static Map<String, Object> one(String kind, String name) {
    return docs.stream().filter(d -> kind.equals(d.get("kind")) && name.equals(get(d, "metadata", "name"))).findFirst()
        .orElseThrow(() -> new AssertionError("no " + kind + " " + name + " in k8s/"));
  }

  @SuppressWarnings("unchecked")
  static <T> T get(Object node, Object... path) {
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

  /** A size such as 512Mi or 1Gi, in MiB. */
  static long mebibytes(String quantity) {
    if (quantity.endsWith("Gi")) {
      return Long.parseLong(quantity.substring(0, quantity.length() - 2)) * 1024;
    }
    assertThat(quantity).endsWith("Mi");
    return Long.parseLong(quantity.substring(0, quantity.length() - 2));
  }

  private static int maxWait() {
    return Integer.parseInt(config().getOrDefault("XBOSH_MAX_WAIT", "60"));
  }

  @Test
  void kustomizationListsEveryManifest() throws IOException {
    List<String> resources = get(kustomization, "resources");
    try (Stream<Path> files = Files.list(K8S)) {
      Set<String> present = files.map(p -> p.getFileName().toString())
          .filter(n -> n.endsWith(".yaml") && !n.equals("kustomization.yaml")).collect(Collectors.toSet());
      assertThat(resources).containsExactlyInAnyOrderElementsOf(present);
    }
  }

  @Test
  void deploymentRollsWithoutLosingCapacity() {
    Map<String, Object> d = one("Deployment", "xbosh");
    // the HPA owns the replica count; a fixed one would reset it on every apply
    assertThat((Object) get(d, "spec", "replicas")).isNull();
    assertThat((Integer) get(one("HorizontalPodAutoscaler", "xbosh"), "spec", "minReplicas")).isGreaterThanOrEqualTo(2);
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
    List<Map<String, Object>> ports = get(c, "ports");
    Map<String, Integer> byName = new java.util.HashMap<>();
    ports.forEach(p -> byName.put((String) p.get("name"), (Integer) p.get("containerPort")));
    String configured = ((List<Map<String, Object>>) get(c, "env")).stream()
        .filter(e -> "XBOSH_HTTP_PORT".equals(e.get("name"))).map(e -> (String) e.get("value")).findFirst().orElse("5280");
    assertThat(byName.get("http")).isEqualTo(Integer.parseInt(configured));
    // probes and metrics on the management port, off the public one
    int management = Integer.parseInt(config().get("XBOSH_MANAGEMENT_PORT"));
    assertThat(byName.get("management")).isEqualTo(management);
    for (String probe : List.of("readinessProbe", "livenessProbe", "startupProbe")) {
      assertThat((String) get(c, probe, "httpGet", "port")).as(probe).isEqualTo("management");
    }
    Map<String, Object> pod = get(one("Deployment", "xbosh"), "spec", "template", "metadata", "annotations");
    assertThat(pod).containsEntry("prometheus.io/path", HttpVerticle.METRICS_PATH)
        .containsEntry("prometheus.io/port", Integer.toString(management));
    // the Service exposes BOSH only
    List<Map<String, Object>> servicePorts = get(one("Service", "xbosh"), "spec", "ports");
    assertThat(servicePorts).extracting(p -> p.get("targetPort")).containsExactly("http");
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
    // the mounted Secret, here the generator's own file
    all.put("XBOSH_REDIS_PASSWORD_FILE", K8S.resolve("secrets/redis-password").toString());
    all.put("XBOSH_ADMIN_TOKEN_FILE", K8S.resolve("secrets/admin-token").toString());
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

  /** Every object against its Kubernetes model: kind known, field names and types right. */
  @Test
  void everyObjectIsValidKubernetes() {
    assertThat(docs).hasSizeGreaterThan(8);
    assertValidKubernetes(docs);
  }

  static void assertValidKubernetes(List<Map<String, Object>> docs) {
    io.fabric8.kubernetes.client.utils.KubernetesSerialization k8s = new io.fabric8.kubernetes.client.utils.KubernetesSerialization();
    for (Map<String, Object> doc : docs) {
      String what = doc.get("kind") + " " + get(doc, "metadata", "name");
      Object parsed = k8s.unmarshal(k8s.asJson(doc), io.fabric8.kubernetes.api.model.KubernetesResource.class);
      assertThat(parsed).as(what).isNotInstanceOf(io.fabric8.kubernetes.api.model.GenericKubernetesResource.class);
      List<String> unknown = new ArrayList<>();
      unknownFields(parsed, what, unknown);
      assertThat(unknown).as("fields the Kubernetes API does not have").isEmpty();
    }
  }

  /** Fields that did not map to the model end up in additionalProperties: collect their paths. */
  private static void unknownFields(Object node, String path, List<String> out) {
    if (node == null) {
      return;
    }
    if (node instanceof List<?> list) {
      for (int i = 0; i < list.size(); i++) {
        unknownFields(list.get(i), path + "[" + i + "]", out);
      }
      return;
    }
    if (node instanceof Map<?, ?> map) {
      map.forEach((k, v) -> unknownFields(v, path + "." + k, out));
      return;
    }
    if (!node.getClass().getName().startsWith("io.fabric8.kubernetes.api.model")) {
      return;
    }
    for (java.lang.reflect.Method m : node.getClass().getMethods()) {
      if (m.getParameterCount() != 0 || !m.getName().startsWith("get") || m.getDeclaringClass() == Object.class) {
        continue;
      }
      Object value;
      try {
        value = m.invoke(node);
      } catch (ReflectiveOperationException e) {
        throw new AssertionError(e);
      }
      if (m.getName().equals("getAdditionalProperties")) {
        ((Map<?, ?>) value).keySet().forEach(k -> out.add(path + "." + k));
      } else if (!m.getName().equals("getClass")) {
        unknownFields(value, path + "." + m.getName().substring(3), out);
      }
    }
  }

  @Test
  void configChangesRollAndSecretsStayOutOfTheConfigMap() {
    // generated ConfigMap and Secret: kustomize names them by content hash, so a change rolls the pods
    assertThat(K8S.resolve("configmap.yaml")).doesNotExist();
    assertThat(docs).noneMatch(d -> "ConfigMap".equals(d.get("kind")) && d != one("ConfigMap", "xbosh-config"));
    assertThat(config().keySet()).noneMatch(k -> (k.contains("PASSWORD") || k.contains("TOKEN")) && !k.endsWith("_FILE"));
    assertThat(config().get("XBOSH_REDIS_URL")).doesNotContainPattern("://[^@/]*:[^@/]*@");
    // the password file the config names is where the Secret is mounted
    Map<String, Object> pod = get(one("Deployment", "xbosh"), "spec", "template", "spec");
    List<Map<String, Object>> volumes = get(pod, "volumes");
    Map<String, Object> secretVolume = volumes.stream().filter(v -> v.containsKey("secret")).findFirst().orElseThrow();
    assertThat((String) get(secretVolume, "secret", "secretName")).isEqualTo("xbosh-redis");
    one("Secret", "xbosh-redis");
    List<Map<String, Object>> mounts = get(xboshContainer(), "volumeMounts");
    String mountPath = mounts.stream().filter(m -> secretVolume.get("name").equals(m.get("name"))).map(m -> (String) m.get("mountPath"))
        .findFirst().orElseThrow();
    assertThat(config().get("XBOSH_REDIS_PASSWORD_FILE")).isEqualTo(mountPath + "/password");
  }

  @Test
  void podsSpreadAcrossNodesAndZonesAndTalkOnlyWhereNeeded() {
    Map<String, Object> pod = get(one("Deployment", "xbosh"), "spec", "template", "spec");
    List<Map<String, Object>> spread = get(pod, "topologySpreadConstraints");
    assertThat(spread).extracting(c -> c.get("topologyKey")).contains("kubernetes.io/hostname", "topology.kubernetes.io/zone");
    assertThat(pod).containsEntry("automountServiceAccountToken", false).containsEntry("serviceAccountName", "xbosh");
    Map<String, Object> policy = one("NetworkPolicy", "xbosh");
    assertThat((List<String>) get(policy, "spec", "policyTypes")).containsExactlyInAnyOrder("Ingress", "Egress");
    List<Map<String, Object>> egress = get(policy, "spec", "egress");
    List<Object> ports = egress.stream().flatMap(e -> ((List<Map<String, Object>>) e.get("ports")).stream()).map(p -> p.get("port")).toList();
    assertThat(ports).containsExactlyInAnyOrder(53, 53, 6379, 5222, 5223);
    one("NetworkPolicy", "xbosh-redis");
  }

  @Test
  void readinessToleratesAShortRedisBlipAndTheIngressHasTls() {
    Map<String, Object> readiness = get(xboshContainer(), "readinessProbe");
    int tolerated = (Integer) readiness.get("periodSeconds") * (Integer) readiness.get("failureThreshold");
    assertThat(tolerated).as("seconds of failing /ready before a pod leaves the Service").isBetween(5, 30);
    List<Map<String, Object>> tls = get(one("Ingress", "xbosh"), "spec", "tls");
    assertThat(tls).isNotEmpty();
    assertThat((List<String>) tls.get(0).get("hosts")).containsAll(((List<Map<String, Object>>) get(one("Ingress", "xbosh"), "spec", "rules"))
        .stream().map(r -> (String) r.get("host")).toList());
  }

  /**
   * README "Sizing": heap = 55% of the memory limit (Dockerfile), about 16 KiB of heap per session
   * (8 KiB measured live per idle session over HTTP/1.1 in BENCHMARKS.md, doubled for the
   * collector's room).
   */
  @Test
  void maxSessionsFitsTheMemoryLimit() throws IOException {
    assertSessionsFitTheMemoryLimit(xboshContainer(), config());
  }

  static void assertSessionsFitTheMemoryLimit(Map<String, Object> container, Map<String, String> config) throws IOException {
    long limitMiB = mebibytes(get(container, "resources", "limits", "memory"));
    assertThat((String) get(container, "resources", "requests", "memory")).isEqualTo(get(container, "resources", "limits", "memory"));
    int sessions = Integer.parseInt(config.getOrDefault("XBOSH_MAX_SESSIONS", "10000"));
    String dockerfile = Files.readString(Path.of("Dockerfile"));
    Matcher heap = Pattern.compile("MaxRAMPercentage=(\\d+)").matcher(dockerfile);
    assertThat(heap.find()).isTrue();
    double heapMiB = limitMiB * Integer.parseInt(heap.group(1)) / 100.0;
    assertThat(sessions * 16.0 / 1024).as("heap for XBOSH_MAX_SESSIONS (MiB)").isLessThanOrEqualTo(heapMiB);
    Matcher direct = Pattern.compile("MaxDirectMemorySize=(\\d+)m").matcher(dockerfile);
    assertThat(direct.find()).isTrue();
    // heap + direct buffers + ~120 MiB of metaspace, code cache and thread stacks stay under the limit
    assertThat(heapMiB + Integer.parseInt(direct.group(1)) + 120).isLessThanOrEqualTo((double) limitMiB);
  }
}
