package io.xbosh.ops;

import static io.xbosh.ops.DeploymentManifestsTest.get;
import static org.assertj.core.api.Assertions.assertThat;

import io.xbosh.config.XboshConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * k8s/overlays/production rendered on the base as kustomize would, for the forms it uses (merged
 * ConfigMap literals, JSON 6902 patches, {@code $patch: delete}, image names); any other form fails
 * here rather than being skipped. The result is validated like the base: Kubernetes models, sizing,
 * and what production changes.
 */
class ProductionOverlayTest {

  private static final Path OVERLAY = Path.of("k8s", "overlays", "production");
  private static List<Map<String, Object>> docs;
  private static Map<String, Object> kustomization;

  @BeforeAll
  @SuppressWarnings("unchecked")
  static void render() throws IOException {
    kustomization = new Yaml().load(Files.readString(OVERLAY.resolve("kustomization.yaml")));
    assertThat((List<String>) kustomization.get("resources")).as("the overlay's resources: the base").containsExactly("../..");
    assertThat(OVERLAY.resolve("../..").normalize()).isEqualTo(Path.of("k8s"));
    docs = new ArrayList<>();
    for (Map<String, Object> doc : DeploymentManifestsTest.renderBase()) {
      docs.add((Map<String, Object>) copy(doc));
    }
    assertThat(kustomization.keySet()).as("forms this renderer knows")
        .isSubsetOf("apiVersion", "kind", "resources", "images", "configMapGenerator", "patches");
    for (Map<String, Object> generator : (List<Map<String, Object>>) kustomization.getOrDefault("configMapGenerator", List.of())) {
      assertThat(generator).containsEntry("behavior", "merge").containsOnlyKeys("name", "behavior", "literals");
      Map<String, Object> data = get(one("ConfigMap", (String) generator.get("name")), "data");
      for (String literal : (List<String>) generator.get("literals")) {
        int eq = literal.indexOf('=');
        data.put(literal.substring(0, eq), literal.substring(eq + 1));
      }
    }
    for (Map<String, Object> patch : (List<Map<String, Object>>) kustomization.getOrDefault("patches", List.of())) {
      String body = (String) patch.get("patch");
      if (patch.containsKey("target")) {
        Map<String, Object> target = (Map<String, Object>) patch.get("target");
        Map<String, Object> doc = one((String) target.get("kind"), (String) target.get("name"));
        for (Map<String, Object> op : (List<Map<String, Object>>) new Yaml().load(body)) {
          applyJsonPatch(doc, op);
        }
      } else {
        Map<String, Object> strategic = new Yaml().load(body);
        assertThat(strategic).as("strategic-merge patches: only $patch: delete").containsEntry("$patch", "delete");
        Map<String, Object> doomed = one((String) strategic.get("kind"), get(strategic, "metadata", "name"));
        assertThat(doomed.get("apiVersion")).isEqualTo(strategic.get("apiVersion"));
        docs.remove(doomed);
      }
    }
    for (Map<String, Object> image : (List<Map<String, Object>>) kustomization.getOrDefault("images", List.of())) {
      for (Map<String, Object> doc : docs) {
        List<Map<String, Object>> containers = get(doc, "spec", "template", "spec", "containers");
        for (Map<String, Object> c : containers == null ? List.<Map<String, Object>>of() : containers) {
          if (String.valueOf(c.get("image")).split(":")[0].equals(image.get("name"))) {
            c.put("image", image.get("newName") + ":" + image.get("newTag"));
          }
        }
      }
    }
  }

  /** RFC 6902 {@code replace} and {@code add} on a JSON pointer (what the overlay uses). */
  @SuppressWarnings("unchecked")
  private static void applyJsonPatch(Map<String, Object> doc, Map<String, Object> op) {
    String kind = (String) op.get("op");
    assertThat(kind).as("JSON patch operation").isIn("replace", "add");
    String[] steps = ((String) op.get("path")).substring(1).split("/");
    Object parent = doc;
    for (int i = 0; i < steps.length - 1; i++) {
      parent = parent instanceof List<?> l ? l.get(Integer.parseInt(steps[i])) : ((Map<String, Object>) parent).get(steps[i]);
      assertThat(parent).as("patch path " + op.get("path")).isNotNull();
    }
    String last = steps[steps.length - 1];
    Object value = copy(op.get("value"));
    if (parent instanceof List<?> l) {
      List<Object> list = (List<Object>) l;
      if (kind.equals("add")) {
        list.add(last.equals("-") ? list.size() : Integer.parseInt(last), value);
      } else {
        list.set(Integer.parseInt(last), value);
      }
    } else {
      Map<String, Object> map = (Map<String, Object>) parent;
      assertThat(kind.equals("add") || map.containsKey(last)).as("replace needs an existing " + op.get("path")).isTrue();
      map.put(last, value);
    }
  }

  /** A mutable deep copy of a YAML tree. */
  private static Object copy(Object node) {
    if (node instanceof Map<?, ?> m) {
      Map<String, Object> out = new LinkedHashMap<>();
      m.forEach((k, v) -> out.put((String) k, copy(v)));
      return out;
    }
    if (node instanceof List<?> l) {
      List<Object> out = new ArrayList<>();
      l.forEach(v -> out.add(copy(v)));
      return out;
    }
    return node;
  }

  private static Map<String, Object> one(String kind, String name) {
    return docs.stream().filter(d -> kind.equals(d.get("kind")) && name.equals(get(d, "metadata", "name"))).findFirst()
        .orElseThrow(() -> new AssertionError("no " + kind + " " + name + " in the production overlay"));
  }

  private static boolean has(String kind, String name) {
    return docs.stream().anyMatch(d -> kind.equals(d.get("kind")) && name.equals(get(d, "metadata", "name")));
  }

  private static Map<String, Object> xboshContainer() {
    return get(one("Deployment", "xbosh"), "spec", "template", "spec", "containers", 0);
  }

  private static Map<String, String> config() {
    return get(one("ConfigMap", "xbosh-config"), "data");
  }

  @Test
  void everyObjectIsValidKubernetes() {
    assertThat(docs).hasSizeGreaterThan(6);
    DeploymentManifestsTest.assertValidKubernetes(docs);
  }

  @Test
  void podsAreSizedForTheirSessions() throws IOException {
    assertThat(DeploymentManifestsTest.mebibytes(get(xboshContainer(), "resources", "limits", "memory"))).isGreaterThanOrEqualTo(2048);
    assertThat((Object) get(xboshContainer(), "resources", "limits", "cpu")).as("no CPU limit: throttling stalls event loops").isNull();
    assertThat((Object) get(xboshContainer(), "resources", "requests", "cpu")).isNotNull();
    DeploymentManifestsTest.assertSessionsFitTheMemoryLimit(xboshContainer(), config());
    assertThat(Integer.parseInt(config().get("XBOSH_MAX_SESSIONS"))).isGreaterThan(10_000);
  }

  @Test
  void theAutoscalerKeepsAPodPerZoneAndASpareAndDisruptionsGoOneAtATime() {
    Map<String, Object> hpa = one("HorizontalPodAutoscaler", "xbosh");
    int min = get(hpa, "spec", "minReplicas");
    int max = get(hpa, "spec", "maxReplicas");
    assertThat(min).isGreaterThanOrEqualTo(4);
    assertThat(max).isGreaterThanOrEqualTo(2 * min);
    Map<String, Object> d = one("Deployment", "xbosh");
    assertThat((Object) get(d, "spec", "replicas")).as("the HPA owns the replica count").isNull();
    assertThat((Object) get(d, "spec", "strategy", "rollingUpdate", "maxUnavailable")).isEqualTo(0);
    assertThat((Object) get(one("PodDisruptionBudget", "xbosh"), "spec", "maxUnavailable")).isEqualTo(1);
  }

  @Test
  @SuppressWarnings("unchecked")
  void theTrialRedisIsGoneAndXboshReachesTheManagedOneByAddress() {
    assertThat(has("Deployment", "xbosh-redis")).isFalse();
    assertThat(has("Service", "xbosh-redis")).isFalse();
    assertThat(has("NetworkPolicy", "xbosh-redis")).isFalse();
    assertThat(config().get("XBOSH_REDIS_URL")).doesNotContain("xbosh-redis");
    List<Map<String, Object>> egress = get(one("NetworkPolicy", "xbosh"), "spec", "egress");
    Map<String, Object> redis = egress.stream()
        .filter(e -> ((List<Map<String, Object>>) e.get("ports")).stream().anyMatch(p -> Integer.valueOf(6379).equals(p.get("port"))))
        .findFirst().orElseThrow();
    assertThat((List<Map<String, Object>>) redis.get("to")).allMatch(t -> t.containsKey("ipBlock"));
    // and the configuration as a whole still starts xbosh
    Map<String, String> all = new HashMap<>(config());
    all.put("XBOSH_NODE_ID", "xbosh-7d9f-abcde");
    all.put("XBOSH_REDIS_PASSWORD_FILE", "k8s/secrets/redis-password");
    all.put("XBOSH_ADMIN_TOKEN_FILE", "k8s/secrets/admin-token");
    assertThat(XboshConfig.from(all).maxSessions()).isEqualTo(Integer.parseInt(config().get("XBOSH_MAX_SESSIONS")));
  }

  @Test
  void theImageComesFromARegistry() {
    assertThat((String) xboshContainer().get("image")).matches("[a-z0-9.-]+\\.[a-z]+/[a-z0-9._/-]+:[0-9][A-Za-z0-9._-]*");
  }
}
