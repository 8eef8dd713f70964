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
    // the build stage gets the inputs of that build and runs the same goal
    assertThat(DOCKERFILE).contains("COPY pom.xml ./").contains("COPY src ./src").contains("mvn -B -q package");
  }

  @Test
  void runsAsANumericNonRootUserWithJavaAsPidOne() {
    String user = match("^USER (\\S+)");
    assertThat(user).matches("[1-9][0-9]*:[0-9]+");
    String entry = match("^ENTRYPOINT (.+)$");
    assertThat(entry).contains("exec java");
    assertThat(match("ENV JAVA_OPTS=\"([^\"]*)\"")).contains("-XX:MaxRAMPercentage=");
    assertThat(match("^EXPOSE (\\d+)")).isEqualTo("5280");
    assertThat(match("^HEALTHCHECK (.+)")).isNotBlank();
    assertThat(DOCKERFILE).contains(HttpVerticle.HEALTH_PATH);
    assertThat(List.of(DOCKERFILE.split("\n")).stream().filter(l -> l.startsWith("FROM "))).hasSize(2);
  }
}
