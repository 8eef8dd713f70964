package io.xbosh.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.xbosh.session.SessionStore;
import org.junit.jupiter.api.Test;

class FaultLoadTest {

  private static String message(String token, int from, int seq) {
    return "<message xmlns=\"jabber:client\" to=\"u61@localhost/f" + token + "\" type=\"chat\"><body>m|" + token + "|" + from + "|" + seq
        + "</body></message>";
  }

  @Test
  void theClientsOwnPayloadsReportedUndeliveredAreNotReceivedMessages() {
    // a system-shutdown final body of u61: u60's #11 arrived, u61's own #11 never reached the server
    String body = "<body xmlns=\"http://jabber.org/protocol/httpbind\" type=\"terminate\" condition=\"system-shutdown\">"
        + message("t1", 60, 11) + "<undelivered xmlns=\"" + SessionStore.UNDELIVERED_NS + "\">" + message("t1", 61, 11)
        + message("t1", 61, 12) + "</undelivered></body>";
    assertThat(FaultLoad.partnerMessages(body, "t1", 60)).containsExactly(11);
    // the sender was told: not lost
    assertThat(FaultLoad.undelivered(body, "t1", 61)).containsExactly(11, 12);
    assertThat(FaultLoad.undelivered(body, "t1", 60)).isEmpty();
  }

  @Test
  void messagesOfAnotherLoadAreForeignAndTheClientsOwnAreIgnored() {
    String body = "<body xmlns=\"http://jabber.org/protocol/httpbind\">" + message("t0", 60, 3) + message("t1", 61, 4)
        + message("t1", 60, 5) + "</body>";
    assertThat(FaultLoad.partnerMessages(body, "t1", 60)).containsExactly(-1, 5);
  }
}
