package io.xbosh.polling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The XEP-0025 §3 request format, {@code identifier ; key [ ; new_key ] , [xml_body]}, with the XEP's own examples. */
class PollRequestTest {

  private static PollRequest parse(String body) {
    return PollRequest.parse(body.getBytes(StandardCharsets.UTF_8));
  }

  private static void assertBad(String body) {
    assertThatThrownBy(() -> parse(body)).isInstanceOf(PollException.class)
        .extracting(e -> ((PollException) e).error()).isEqualTo(PollError.BAD_REQUEST);
  }

  @Test
  void p01_p03_initialRequestWithKeyOpensASession() {
    PollRequest r = parse("0;VvxEk07IFy6hUmG/PPBlTLE2fiA=,<stream:stream to=\"jabber.com\"\n  xmlns=\"jabber:client\"\n"
        + "  xmlns:stream=\"http://etherx.jabber.org/streams\">");
    assertThat(r.opensSession()).isTrue();
    assertThat(r.key()).isEqualTo("VvxEk07IFy6hUmG/PPBlTLE2fiA=");
    assertThat(r.newKey()).isNull();
    assertThat(r.xml()).startsWith("<stream:stream to=\"jabber.com\"");
  }

  @Test
  void p01_initialRequestWithoutKeys() {
    PollRequest r = parse("0,<stream:stream to='jabber.com'>");
    assertThat(r.opensSession()).isTrue();
    assertThat(r.key()).isNull();
  }

  @Test
  void p01_laterRequestCarriesIdentifierKeyAndXml() {
    PollRequest r = parse("7776:2054;moPFsvHytDGiJQOjp186AMXAeP0=,<iq type=\"get\" id=\"WEBCLIENT3\"/>");
    assertThat(r.opensSession()).isFalse();
    assertThat(r.identifier()).isEqualTo("7776:2054");
    assertThat(r.key()).isEqualTo("moPFsvHytDGiJQOjp186AMXAeP0=");
    assertThat(r.xml()).isEqualTo("<iq type=\"get\" id=\"WEBCLIENT3\"/>");
  }

  @Test
  void p01_p07_emptyPollIsIdentifierKeyAndComma() {
    PollRequest r = parse("abc;k,");
    assertThat(r.xml()).isEmpty();
  }

  @Test
  void p01_commasAndSemicolonsInTheXmlBelongToTheXml() {
    PollRequest r = parse("abc;k,<message><body>a, b; c</body></message>");
    assertThat(r.xml()).isEqualTo("<message><body>a, b; c</body></message>");
  }

  @Test
  void p01_p05_rekeyCarriesTheLastOldKeyAndTheNewOne() {
    PollRequest r = parse("7776:2054;C+7Hteo/D9vJXQ3UfzxbwnXaijM=;Tr697Eff02+32FZp38Xaq2+3Bv4=,<presence/>");
    assertThat(r.key()).isEqualTo("C+7Hteo/D9vJXQ3UfzxbwnXaijM=");
    assertThat(r.newKey()).isEqualTo("Tr697Eff02+32FZp38Xaq2+3Bv4=");
    assertThat(r.xml()).isEqualTo("<presence/>");
  }

  @Test
  void p01_p05_aNewKeyOnTheFirstRequestIsIgnored() {
    assertThat(parse("0;a;b,<stream:stream>").newKey()).isNull();
  }

  @Test
  void p01_p06_malformedBodiesAreBadRequests() {
    assertBad("");
    assertBad("no comma at all");
    assertBad(",<presence/>"); // no identifier
    assertBad("ab_c;k,"); // '_' is outside [A-Za-z0-9:-]
    assertBad("abc;,"); // empty key
    assertBad("abc;k;,"); // empty new key
    assertBad("abc;k;n;x,"); // a fourth part
    assertBad("abc;k y,"); // space in a key
    assertBad("a".repeat(65) + ";k,");
    assertBad("abc;" + "k".repeat(257) + ",");
  }

  @Test
  void p01_p06_bodyThatIsNotUtf8IsABadRequest() {
    assertThatThrownBy(() -> PollRequest.parse(new byte[] {'a', ';', 'k', ',', (byte) 0xff, (byte) 0xfe}))
        .isInstanceOf(PollException.class);
  }
}
