package io.xbosh.polling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** How a poll's raw XML maps onto session creation, restart, content and terminate. */
class ClientStreamTest {

  private static final String HEADER = "<stream:stream to=\"example.org\" xmlns=\"jabber:client\" "
      + "xmlns:stream=\"http://etherx.jabber.org/streams\" xml:lang=\"de\" version=\"1.0\">";

  private static void assertBad(String xml) {
    assertThatThrownBy(() -> ClientStream.of(xml)).isInstanceOf(PollException.class)
        .extracting(e -> ((PollException) e).error()).isEqualTo(PollError.BAD_REQUEST);
  }

  @Test
  void p03_streamHeaderWithItsAttributes() {
    ClientStream s = ClientStream.of("<?xml version='1.0'?>\n" + HEADER + "\n");
    assertThat(s.header()).isEqualTo(new ClientStream.Header("example.org", "de", "1.0"));
    assertThat(s.content()).isEmpty();
    assertThat(s.close()).isFalse();
  }

  @Test
  void p03_headerOfAClientFromBeforeXmpp10() {
    ClientStream s = ClientStream.of("<stream:stream to='jabber.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
    assertThat(s.header()).isEqualTo(new ClientStream.Header("jabber.com", null, null));
  }

  @Test
  void p07_contentIsPassedOnRawEvenAPieceOfAnElement() {
    ClientStream s = ClientStream.of("<message to='b@x'><body>hel");
    assertThat(s.header()).isNull();
    assertThat(s.content()).isEqualTo("<message to='b@x'><body>hel");
    assertThat(s.close()).isFalse();
  }

  @Test
  void p07_whitespaceOnlyIsNoContent() {
    assertThat(ClientStream.of(" \n ").content()).isEmpty();
    assertThat(ClientStream.of("").content()).isEmpty();
  }

  @Test
  void p08_closeTagEndsTheStreamAfterTheContentBeforeIt() {
    ClientStream s = ClientStream.of("<presence type='unavailable'/></stream:stream>\n");
    assertThat(s.close()).isTrue();
    assertThat(s.content()).isEqualTo("<presence type='unavailable'/>");
    assertThat(ClientStream.of("</stream:stream>").content()).isEmpty();
  }

  @Test
  void p06_headersAndCloseTagsElsewhereAreBadRequests() {
    assertBad(HEADER + "<iq type='set'/>"); // content after a header
    assertBad("<iq type='set'/>" + HEADER); // a header after content
    assertBad("<stream:stream to='example.org'"); // a header cut in two
    assertBad("</stream:stream><presence/>"); // content after the close tag
    assertBad("<?xml version='1.0'"); // declaration not closed
    assertBad("<stream:stream to='example.org' xmlns:stream='urn:other'>"); // wrong namespace
    assertBad("<stream:stream to='example.org'>"); // prefix not declared
  }

  @Test
  void p06_aHeaderDoesNotTakeADtd() {
    assertBad("<stream:stream to='&x;' xmlns:stream='http://etherx.jabber.org/streams'>");
  }
}
