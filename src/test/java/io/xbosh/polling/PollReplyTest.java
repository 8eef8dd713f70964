package io.xbosh.polling;

import static org.assertj.core.api.Assertions.assertThat;

import io.xbosh.protocol.BodyWriter;
import io.xbosh.protocol.TerminateCondition;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The store's BOSH bodies as XEP-0025 returns them: the stream content, raw. */
class PollReplyTest {

  @Test
  void p02_p07_stanzasComeOutOfTheirWrapper() {
    String body = BodyWriter.response(null, List.of("<message xmlns=\"jabber:client\" from=\"a@x\"><body>hi</body></message>",
        "<presence xmlns=\"jabber:client\"/>"));
    assertThat(PollReply.raw(body)).isEqualTo("<message xmlns=\"jabber:client\" from=\"a@x\"><body>hi</body></message>"
        + "<presence xmlns=\"jabber:client\"/>");
  }

  @Test
  void p02_p07_anEmptyBodyIsAnEmptyAnswer() {
    assertThat(PollReply.raw(BodyWriter.response(null, List.of()))).isEmpty();
  }

  @Test
  void p08_terminateEndsTheStreamAfterItsChildren() {
    String error = "<stream:error><conflict xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/></stream:error>";
    assertThat(PollReply.raw(BodyWriter.terminate(TerminateCondition.REMOTE_STREAM_ERROR, List.of(error))))
        .isEqualTo(error + "</stream:stream>");
    assertThat(PollReply.raw(BodyWriter.terminated())).isEqualTo("</stream:stream>");
  }

  @Test
  void p06_aRecoverableErrorIsNoContent() {
    assertThat(PollReply.raw(BodyWriter.recoverableError())).isNull();
  }

  @Test
  void p03_serverHeaderAnswersTheClientsHeader() {
    assertThat(PollHandler.serverHeader("abc", "example.org")).isEqualTo("<stream:stream xmlns:stream='http://etherx.jabber.org/streams'"
        + " xmlns='jabber:client' id='abc' from='example.org' version='1.0'>");
  }

  @Test
  void p02_identifiersAreInTheXepsAlphabetAndNeverLookLikeErrors() {
    for (int i = 0; i < 100; i++) {
      assertThat(PollHandler.newIdentifier()).matches("[0-9a-f]{36}");
    }
  }
}
