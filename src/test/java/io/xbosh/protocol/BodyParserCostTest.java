package io.xbosh.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * X-01, rule 1 of "Limits and abuse" (docs/ARCHITECTURE.md): parsing cost is bounded per request
 * and does not accumulate.
 * Bodies full of names never seen before, as an attacker sends them, cost the same the thousandth
 * time as the first: nothing shared between parses grows with what clients send.
 */
class BodyParserCostTest {

  /** A body of up to 64 KB whose elements carry attribute names (and namespaces) no earlier body used. */
  static byte[] adversarialBody(int request, int maxBytes) {
    StringBuilder b = new StringBuilder(maxBytes + 512);
    b.append("<body xmlns='http://jabber.org/protocol/httpbind' rid='").append(1000 + request).append("' sid='s'>");
    int element = 0;
    // as many new names as one body may carry (BodyParser.MAX_NAMES_PER_BODY), or as fit
    int names = 2;
    while (b.length() < maxBytes - 1024 && names + 43 < BodyParser.MAX_NAMES_PER_BODY) {
      names += 43;
      b.append("<x xmlns='urn:n").append(request).append('.').append(element).append('\'');
      for (int a = 0; a < 40; a++) {
        b.append(" a").append(request).append('_').append(element).append('_').append(a).append("='v'");
      }
      b.append("/>");
      element++;
    }
    return b.append("</body>").toString().getBytes(StandardCharsets.UTF_8);
  }

  @Test
  @org.junit.jupiter.api.Timeout(120) // with a shared symbol table this stream takes many minutes
  void x01_laterAdversarialBodiesCostAboutTheSameAsEarlyOnes() {
    BodyParser parser = new BodyParser(32, 64, 65536);
    int rounds = 200;
    long[] nanos = new long[rounds];
    for (int i = 0; i < rounds; i++) {
      byte[] body = adversarialBody(i, 65536);
      long start = System.nanoTime();
      parser.parse(body);
      nanos[i] = System.nanoTime() - start;
    }
    // medians of the first and last 100 after warm-up: robust against a loaded machine's pauses
    long early = median(nanos, 30, 80);
    long late = median(nanos, rounds - 100, rounds);
    System.out.printf("adversarial 64 KB body: median parse %.2f ms at requests 30-80, %.2f ms at %d-%d%n",
        early / 1e6, late / 1e6, rounds - 100, rounds);
    // a shared, merged symbol table makes the late bodies tens to hundreds of times slower; a
    // loaded machine (and garbage collection) makes them up to about three times slower
    assertThat(late).isLessThan(early * 6);
  }

  private static long median(long[] values, int from, int to) {
    long[] copy = java.util.Arrays.copyOfRange(values, from, to);
    java.util.Arrays.sort(copy);
    return copy[copy.length / 2];
  }

  @Test
  void x01_namesPerElementAreBounded() {
    BodyParser parser = new BodyParser(32, 64, 65536);
    String longName = "a".repeat(BodyParser.MAX_NAME_CHARS_PER_ELEMENT);
    byte[] body = ("<body xmlns='http://jabber.org/protocol/httpbind' rid='1'><x " + longName + "='v'/></body>")
        .getBytes(StandardCharsets.UTF_8);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> parser.parse(body))
        .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.getMessage()).contains("names too long"));
    StringBuilder many = new StringBuilder("<body xmlns='http://jabber.org/protocol/httpbind' rid='1'><x");
    for (int i = 0; i < 40; i++) {
      many.append(" xmlns:p").append(i).append("='urn:").append(i).append('\'');
    }
    for (int i = 0; i < 40; i++) {
      many.append(" a").append(i).append("='v'");
    }
    byte[] crowded = many.append("/></body>").toString().getBytes(StandardCharsets.UTF_8);
    // namespace declarations count like attributes
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> parser.parse(crowded))
        .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.getMessage()).contains("too many attributes"));
  }

  @Test
  void x01_namesAreCountedBeforeTheParserSeesThem() {
    BodyParser parser = new BodyParser(32, 64, 16 * 1024 * 1024);
    // one tag with 100,000 attributes, 1.5 MB: refused by the first pass, not after Aalto read them all
    StringBuilder huge = new StringBuilder("<body xmlns='http://jabber.org/protocol/httpbind' rid='1'><x");
    for (int i = 0; i < 100_000; i++) {
      huge.append(" a").append(i).append("=''");
    }
    byte[] tag = huge.append("/></body>").toString().getBytes(StandardCharsets.UTF_8);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> parser.parse(tag))
        .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.getMessage()).contains("too many attributes"));
    // many small elements: refused beyond the names one body may carry
    StringBuilder many = new StringBuilder("<body xmlns='http://jabber.org/protocol/httpbind' rid='1'>");
    for (int i = 0; i < BodyParser.MAX_NAMES_PER_BODY; i++) {
      many.append("<e").append(i).append("/>");
    }
    byte[] elements = many.append("</body>").toString().getBytes(StandardCharsets.UTF_8);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> parser.parse(elements))
        .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.getMessage()).contains("too many names"));
    // '=' in text, in quoted values and in CDATA are not names
    String text = "a=b ".repeat(5000);
    BoshBody ok = parser.parse(("<body xmlns='http://jabber.org/protocol/httpbind' rid='1'><message to='x=y' id=\"a'=b\">"
        + "<body>" + text + "<![CDATA[<x a=1 b=2>]]></body></message></body>").getBytes(StandardCharsets.UTF_8));
    assertThat(ok.payloads()).hasSize(1);
  }
}
