package io.xbosh.ops;

import static org.assertj.core.api.Assertions.assertThat;

import io.xbosh.http.HttpVerticle;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The Dockerfile, checked against what {@code mvn package} produced (no container engine needed):
 * it builds the same jar and copies that file, runs it as a non-root user with java as PID 1.
 */
class ContainerImageIT {

  private static final String DOCKERFILE;

  static {
    try {
      DOCKERFILE = Files.readString(Path.of("Dockerfile"));
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String match(String regex) {
    Matcher m = Pattern.compile(regex, Pattern.MULTILINE).matcher(DOCKERFILE);
    assertThat(m.find()).as("Dockerfile has " + regex).isTrue();
    return m.group(1);
  }

  @Test
  void copiesTheJarMavenPackageBuilds() throws IOException {
    String workdir = match("^FROM \\S+ AS build\\s*\\nWORKDIR (\\S+)");
    String copied = match("^COPY --from=build (\\S+) ");
    Path built = Path.of("target", "xbosh.jar");
    assertThat(copied).isEqualTo(workdir + "/" + built.toString().replace('\\', '/'));
    assertThat(built).isRegularFile();
    try (JarFile jar = new JarFile(built.toFile())) {
      assertThat(jar.getManifest().getMainAttributes().getValue("Main-Class")).isEqualTo("io.xbosh.Main");
      assertThat(jar.getEntry("io/xbosh/session/accept.lua")).isNotNull();
      assertThat(jar.getEntry("logback.xml")).isNotNull();
    }
    // the build stage gets the inputs of that build and runs the same goal, the source stage offline
    // (the dependency layer before it fetched the plugins too, by packaging the empty project)
    assertThat(DOCKERFILE).contains("COPY pom.xml ./").contains("COPY src ./src").contains("mvn -B -q -o package -DskipTests");
    assertThat(DOCKERFILE.indexOf("mvn -B -q package -DskipTests")).isPositive().isLessThan(DOCKERFILE.indexOf("COPY src ./src"));
  }

  @Test
  void runsAsANumericNonRootUserWithJavaAsPidOne() {
    String user = match("^USER (\\S+)");
    assertThat(user).matches("[1-9][0-9]*:[0-9]+");
    String entry = match("^ENTRYPOINT (.+)$");
    assertThat(entry).contains("exec java");
    // explicit collector and caps sized for the container; JAVA_OPTS comes after them, so it wins
    assertThat(match("ENV JAVA_DEFAULT_OPTS=\"([^\"]*)\"")).contains("-XX:MaxRAMPercentage=").contains("-XX:+UseG1GC")
        .contains("-XX:MaxDirectMemorySize=").contains("-XX:+ExitOnOutOfMemoryError");
    assertThat(entry).contains("exec java $JAVA_DEFAULT_OPTS $JAVA_OPTS -jar");
    assertThat(match("^EXPOSE (\\d+)")).isEqualTo("5280");
    assertThat(match("^HEALTHCHECK (.+)")).isNotBlank();
    assertThat(DOCKERFILE).contains(HttpVerticle.HEALTH_PATH);
    assertThat(List.of(DOCKERFILE.split("\n")).stream().filter(l -> l.startsWith("FROM "))).hasSize(2);
  }

  /** Base images named in full with a pinned version (podman and buildah have no default registry). */
  @Test
  void baseImagesAreFullyQualifiedAndPinnedAndTheImageIsLabelled() throws IOException {
    List<String> froms = List.of(DOCKERFILE.split("\n")).stream().filter(l -> l.startsWith("FROM ")).map(l -> l.split("\\s+")[1]).toList();
    for (String image : froms) {
      assertThat(image).matches("[a-z0-9.-]+\\.[a-z]+/[a-z0-9._/-]+(:[0-9][A-Za-z0-9._-]*|@sha256:[0-9a-f]{64})");
      assertThat(image).doesNotEndWith(":latest");
    }
    assertThat(DOCKERFILE).contains("org.opencontainers.image.title=").contains("org.opencontainers.image.version=");
    // the build context is pom.xml and src/ only
    List<String> ignore = Files.readAllLines(Path.of(".dockerignore")).stream().filter(l -> !l.isBlank() && !l.startsWith("#")).toList();
    assertThat(ignore).containsExactly("*", "!pom.xml", "!src/");
  }
}
