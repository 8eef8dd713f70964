package io.xbosh.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The payload of a request opening another stream, one field a line; the client's address is an optional sixth. */
class StreamRequestTest {

  @Test
  void withoutTheClientsAddressTheEncodingIsTheFiveLinesPodsExchangedBefore() {
    StreamRequest r = new StreamRequest(" from=\"example.org\"", "example.org", "en", "xmpp:h:5222", "a@example.org");
    assertThat(r.encode()).isEqualTo(" from=\"example.org\"\nexample.org\nen\nxmpp:h:5222\na@example.org");
    assertThat(StreamRequest.decode(r.encode())).isEqualTo(r);
    assertThat(StreamRequest.decode(" from=\"x\"\nx\nen\n\n").client()).isNull();
  }

  @Test
  void theClientsAddressIsASixthLine() {
    StreamRequest r = new StreamRequest(" from=\"example.org\"", "example.org", "en", null, null, "2001:db8::7");
    assertThat(r.encode()).isEqualTo(" from=\"example.org\"\nexample.org\nen\n\n\n2001:db8::7");
    assertThat(StreamRequest.decode(r.encode())).isEqualTo(r);
  }

  @Test
  void otherShapesAreRefused() {
    assertThatThrownBy(() -> StreamRequest.decode("a\nb\nc\nd")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> StreamRequest.decode("a\nb\nc\nd\ne\nf\ng")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new StreamRequest("a", "b", "c", null, null, "1.2.3.4\r")).isInstanceOf(IllegalArgumentException.class);
  }
}
