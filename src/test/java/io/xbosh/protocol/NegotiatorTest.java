package io.xbosh.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class NegotiatorTest {

  private static final String B = "xmlns='http://jabber.org/protocol/httpbind'";
  private final Negotiator negotiator = new Negotiator(new Negotiator.Limits(60, 2, 60, 120, 2));
  private final BodyParser parser = new BodyParser(32, 64, 65536);

  private SessionParams negotiate(String attrs) {
    return negotiator.negotiate(parser.parse(("<body " + B + " rid='1' " + attrs + "/>").getBytes(StandardCharsets.UTF_8)));
  }

  @Test
  void b12_waitClampedToMaximum() {
    assertThat(negotiate("to='d' wait='5'").waitSeconds()).isEqualTo(5);
    assertThat(negotiate("to='d' wait='65535'").waitSeconds()).isEqualTo(60);
    assertThat(negotiate("to='d' wait='99999999999999999999999'").waitSeconds()).isEqualTo(60);
    assertThat(negotiate("to='d'").waitSeconds()).isEqualTo(60);
  }

  @Test
  void b13_holdClampedAndRequestsIsHoldPlusOne() {
    SessionParams p = negotiate("to='d' hold='1'");
    assertThat(p.hold()).isEqualTo(1);
    assertThat(p.requests()).isEqualTo(2);
    assertThat(negotiate("to='d' hold='3'").hold()).isEqualTo(2);
    assertThat(negotiate("to='d' hold='0'").requests()).isEqualTo(1);
  }

  @Test
  void b44_pollingSessionsGetLongerInactivity() {
    assertThat(negotiate("to='d' hold='0'").inactivity()).isEqualTo(120);
    assertThat(negotiate("to='d' wait='0'").inactivity()).isEqualTo(120);
    assertThat(negotiate("to='d' hold='1'").inactivity()).isEqualTo(60);
  }

  @Test
  void b13_versionIsTheLowerComparedAsIntegers() {
    assertThat(negotiate("to='d' ver='1.6'").ver()).isEqualTo("1.6");
    assertThat(negotiate("to='d' ver='1.99'").ver()).isEqualTo("1.11");
    assertThat(negotiate("to='d' ver='1.10'").ver()).isEqualTo("1.10");
    assertThat(negotiate("to='d' ver='2.0'").ver()).isEqualTo("1.11");
    assertThat(negotiate("to='d'").legacy()).isTrue();
  }

  @Test
  void b16_contentTypeKeptWhenSane() {
    assertThat(negotiate("to='d'").content()).isEqualTo("text/xml; charset=utf-8");
    assertThat(negotiate("to='d' content='text/html; charset=utf-8'").content()).isEqualTo("text/html; charset=utf-8");
    assertThatThrownBy(() -> negotiate("to='d' content='text/xml&#13;&#10;X-Evil: 1'")).isInstanceOf(BoshException.class);
  }

  @Test
  void b15_missingToIsImproperAddressing() {
    assertThatThrownBy(() -> negotiate("wait='5'"))
        .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.condition()).isEqualTo(TerminateCondition.IMPROPER_ADDRESSING));
    assertThatThrownBy(() -> negotiate("to='a b'"))
        .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.condition()).isEqualTo(TerminateCondition.HOST_UNKNOWN));
  }

  @Test
  void b13_hostileNumbersAreBadRequest() {
    for (String attrs : new String[] {"to='d' wait='-1'", "to='d' hold='x'", "to='d' wait=''", "to='d' ver='one'"}) {
      assertThatThrownBy(() -> negotiate(attrs)).as(attrs)
          .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.condition()).isEqualTo(TerminateCondition.BAD_REQUEST));
    }
  }

  @Test
  void b30_ackRequestedWithOne() {
    assertThat(negotiate("to='d' ack='1'").ack()).isTrue();
    assertThat(negotiate("to='d'").ack()).isFalse();
  }
}
