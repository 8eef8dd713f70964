package io.xbosh.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.SocketAddress;
import io.xbosh.config.XboshConfig.ProxyProtocol;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** The PROXY protocol header, byte for byte against HAProxy's proxy-protocol.txt (§2.1 text, §2.2 binary). */
class ProxyHeaderTest {

  /** §2.2: "\x0D \x0A \x0D \x0A \x00 \x0D \x0A \x51 \x55 \x49 \x54 \x0A" */
  static final String SIGNATURE = "0d0a0d0a000d0a515549540a";

  static String hex(Buffer b) {
    return HexFormat.of().formatHex(b.getBytes());
  }

  static SocketAddress local(String host, int port) {
    return SocketAddress.inetSocketAddress(port, host);
  }

  @Test
  void v2Ipv4CarriesTheClientAsSourceAndThePodsEndAsDestination() {
    Buffer h = ProxyHeader.of(ProxyProtocol.V2, "192.0.2.7", local("10.1.2.3", 40000));
    // version 2 + PROXY (0x21), TCP over IPv4 (0x11), 12 bytes of addresses: src, dst, src port 0, dst port 40000
    assertThat(hex(h)).isEqualTo(SIGNATURE + "21" + "11" + "000c" + "c0000207" + "0a010203" + "0000" + "9c40");
    assertThat(h.length()).isEqualTo(16 + 12);
  }

  @Test
  void v2Ipv6() {
    Buffer h = ProxyHeader.of(ProxyProtocol.V2, "2001:db8::1", local("2001:db8::2", 5222));
    // TCP over IPv6 (0x21), 36 bytes: two 16-byte addresses, two ports
    assertThat(hex(h)).isEqualTo(SIGNATURE + "21" + "21" + "0024"
        + "20010db8000000000000000000000001" + "20010db8000000000000000000000002" + "0000" + "1466");
    assertThat(h.length()).isEqualTo(16 + 36);
  }

  @Test
  void v2AnIpv4ClientOverAnIpv6ConnectionIsSentIpv4Mapped() {
    Buffer h = ProxyHeader.of(ProxyProtocol.V2, "127.0.0.2", local("::1", 5222));
    assertThat(hex(h)).isEqualTo(SIGNATURE + "2121" + "0024"
        + "00000000000000000000ffff7f000002" + "00000000000000000000000000000001" + "0000" + "1466");
    // and an IPv6 client over an IPv4 connection: the pod's end is mapped
    assertThat(hex(ProxyHeader.of(ProxyProtocol.V2, "[::1]", local("127.0.0.1", 5222)))).isEqualTo(SIGNATURE + "2121" + "0024"
        + "00000000000000000000000000000001" + "00000000000000000000ffff7f000001" + "0000" + "1466");
  }

  @Test
  void v2AnIpv4MappedClientIsIpv4() {
    assertThat(hex(ProxyHeader.of(ProxyProtocol.V2, "::ffff:192.0.2.7", local("10.1.2.3", 40000))))
        .isEqualTo(SIGNATURE + "2111000c" + "c0000207" + "0a010203" + "0000" + "9c40");
  }

  @Test
  void v2WithoutAKnownClientIsTheLocalCommand() {
    // version 2 + LOCAL (0x20), AF_UNSPEC (0x00), no address block: the server uses the real endpoints
    String local = SIGNATURE + "20" + "00" + "0000";
    SocketAddress pod = local("10.1.2.3", 40000);
    assertThat(hex(ProxyHeader.of(ProxyProtocol.V2, null, pod))).isEqualTo(local);
    assertThat(hex(ProxyHeader.of(ProxyProtocol.V2, "-", pod))).isEqualTo(local);
    // a forwarded value that only looks like hex digits is no address, and is never looked up
    assertThat(hex(ProxyHeader.of(ProxyProtocol.V2, "beef", pod))).isEqualTo(local);
    assertThat(hex(ProxyHeader.of(ProxyProtocol.V2, "192.0.2.7", null))).isEqualTo(local);
  }

  @Test
  void v1Lines() {
    assertThat(text(ProxyHeader.of(ProxyProtocol.V1, "192.0.2.7", local("10.1.2.3", 40000))))
        .isEqualTo("PROXY TCP4 192.0.2.7 10.1.2.3 0 40000\r\n");
    assertThat(text(ProxyHeader.of(ProxyProtocol.V1, "2001:db8::1", local("2001:db8::2", 5222))))
        .isEqualTo("PROXY TCP6 2001:db8::1 2001:db8::2 0 5222\r\n");
    assertThat(text(ProxyHeader.of(ProxyProtocol.V1, "127.0.0.2", local("::1", 5222))))
        .isEqualTo("PROXY TCP6 ::ffff:127.0.0.2 ::1 0 5222\r\n");
    assertThat(text(ProxyHeader.of(ProxyProtocol.V1, "-", local("10.1.2.3", 40000)))).isEqualTo("PROXY UNKNOWN\r\n");
  }

  @Test
  void offSendsNothing() {
    assertThat(ProxyHeader.of(ProxyProtocol.OFF, "192.0.2.7", local("10.1.2.3", 40000))).isNull();
  }

  static String text(Buffer b) {
    return new String(b.getBytes(), StandardCharsets.US_ASCII);
  }
}
