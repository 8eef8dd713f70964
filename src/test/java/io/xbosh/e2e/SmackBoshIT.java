package io.xbosh.e2e;

import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.RedisProcess;
import io.xbosh.testing.SmackClients;
import java.util.Map;
import org.jivesoftware.smack.bosh.XMPPBOSHConnection;
import org.jivesoftware.smack.tcp.XMPPTCPConnection;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Real Smack BOSH clients talk through xbosh (Redis store) to a real Prosody. See {@link SmackClients} on order. */
class SmackBoshIT {

  private static final int MESSAGES = 200;

  private static ProsodyProcess prosody;
  private static RedisProcess redis;
  private static InProcessXbosh xbosh;

  @BeforeAll
  static void start() throws Exception {
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw", "bob", "bobpw", "carol", "carolpw"));
    redis = RedisProcess.start();
    xbosh = InProcessXbosh.start(Map.of(
        "XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(),
        "XBOSH_REDIS_URL", redis.url(),
        "XBOSH_NODE_ID", "smack-pod"));
  }

  @AfterAll
  static void stop() throws Exception {
    if (xbosh != null) {
      xbosh.close();
    }
    if (redis != null) {
      redis.close();
    }
    if (prosody != null) {
      prosody.close();
    }
  }

  @Test
  void b21_b25_twoSmackClientsExchange200MessagesEachWayNoneLostNoneDuplicated() throws Exception {
    XMPPBOSHConnection alice = SmackClients.bosh(xbosh.port(), "alice", "smack");
    XMPPBOSHConnection bob = SmackClients.bosh(xbosh.port(), "bob", "smack");
    try {
      SmackClients.exchange(alice, bob, MESSAGES);
    } finally {
      alice.disconnect();
      bob.disconnect();
    }
  }

  /** B-21, B-25: 200 messages Smack sends over BOSH reach the XMPP server in the order sent. */
  @Test
  void b21_b25_smackBoshSends200MessagesThroughXboshInOrder() throws Exception {
    XMPPBOSHConnection alice = SmackClients.bosh(xbosh.port(), "alice", "smack");
    XMPPTCPConnection carol = SmackClients.tcp(prosody.c2sPort(), "carol", "tcp");
    try {
      SmackClients.sendInOrder(alice, carol, MESSAGES);
    } finally {
      alice.disconnect();
      carol.disconnect();
    }
  }
}
