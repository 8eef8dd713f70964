package io.xbosh.http;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The counting behind the per-address limits: caps, the reserve, the creation rate, release. */
class ClientLimitsTest {

  private static ClientLimits limits(int maxConnections, int perAddress) {
    return new ClientLimits(new ClientLimits.Settings(maxConnections, perAddress, 4, 20, 10, 3, 2, 100));
  }

  @Test
  void perAddressCapAndPodReserve() {
    ClientLimits l = limits(20, 100);
    // one address takes at most the pod's cap less its reserve (a tenth)
    int taken = 0;
    while (l.connectionOpened("10.0.0.1")) {
      taken++;
    }
    assertThat(taken).isEqualTo(18);
    // the reserve goes to addresses with nothing open, one each
    assertThat(l.connectionOpened("10.0.0.2")).isTrue();
    assertThat(l.connectionOpened("10.0.0.2")).isFalse();
    assertThat(l.connectionOpened("10.0.0.3")).isTrue();
    assertThat(l.connectionOpened("10.0.0.4")).isFalse();
    // releases come back, and an address releases only what it holds
    l.connectionClosed("10.0.0.9");
    assertThat(l.connections()).isEqualTo(20);
    l.connectionClosed("10.0.0.2");
    l.connectionClosed("10.0.0.3");
    for (int i = 0; i < 18; i++) {
      l.connectionClosed("10.0.0.1");
    }
    assertThat(l.connections()).isZero();
    ClientLimits small = limits(100, 3);
    assertThat(small.connectionOpened("a") && small.connectionOpened("a") && small.connectionOpened("a")).isTrue();
    assertThat(small.connectionOpened("a")).isFalse();
    assertThat(small.connectionOpened("b")).isTrue();
  }

  @Test
  void creationRateAndPreauthCaps() {
    ClientLimits l = limits(100, 100);
    long t = 1_000_000_000L;
    // bursts of twice the rate (2/s): four, then the rate
    assertThat(l.creationStarted("a", t)).isNull();
    assertThat(l.creationStarted("a", t)).isNull();
    assertThat(l.creationStarted("a", t)).isNull();
    // three not yet authenticated is this address's cap
    assertThat(l.creationStarted("a", t)).isEqualTo(ClientLimits.Refusal.ADDRESS_PREAUTH);
    l.preauthEnded("a");
    assertThat(l.creationStarted("a", t)).isEqualTo(ClientLimits.Refusal.RATE);
    assertThat(l.creationStarted("a", t + 500_000_000L)).isNull();
    assertThat(l.preauthSessions()).isEqualTo(3);
    // the pod's cap of ten, less its reserve for addresses with none
    for (String a : new String[] {"b", "b", "b", "c", "c", "c"}) {
      assertThat(l.creationStarted(a, t)).isNull();
    }
    assertThat(l.creationStarted("d", t)).isNull();
    assertThat(l.creationStarted("d", t)).isEqualTo(ClientLimits.Refusal.POD_PREAUTH);
    assertThat(l.creationStarted("e", t)).isEqualTo(ClientLimits.Refusal.POD_PREAUTH);
  }

  @Test
  void theWarmUpsCreationsAreNotCountedAgainstTheRateButStillAgainstTheCaps() {
    ClientLimits l = limits(100, 100);
    long t = 1_000_000_000L;
    // the rate allows a burst of four from one address; the warm-up's own are not counted
    for (int i = 0; i < 3; i++) {
      assertThat(l.creationStarted("127.0.0.1", t, true)).isNull();
      l.preauthEnded("127.0.0.1");
    }
    for (int i = 0; i < 3; i++) {
      assertThat(l.creationStarted("127.0.0.1", t, true)).isNull();
      l.preauthEnded("127.0.0.1");
    }
    // the address's cap of three sessions not yet authenticated holds for them too
    for (int i = 0; i < 3; i++) {
      assertThat(l.creationStarted("127.0.0.1", t, true)).isNull();
    }
    assertThat(l.creationStarted("127.0.0.1", t, true)).isEqualTo(ClientLimits.Refusal.ADDRESS_PREAUTH);
    // and a client's creation from that address still has its whole rate
    l.preauthEnded("127.0.0.1");
    assertThat(l.creationStarted("127.0.0.1", t)).isNull();
  }
}
