package io.xbosh.upstream;

import io.netty.util.NetUtil;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.SocketAddress;
import io.xbosh.config.XboshConfig.ProxyProtocol;
import java.nio.charset.StandardCharsets;

/**
 * The PROXY protocol header xbosh can put first on a c2s connection, so that the XMPP server sees
 * the BOSH client's address instead of the pod's (ejabberd {@code use_proxy_protocol}, Prosody
 * {@code mod_net_proxy}, HAProxy {@code accept-proxy}). Spec: HAProxy's proxy-protocol.txt
 * (version 2.9 of the document).
 *
 * <p>Source: the client's address as the per-address limits see it, port 0 (a BOSH session spans
 * many HTTP connections, and behind a proxy the client's port is not known). Destination: the
 * pod's end of the c2s connection. An IPv4 address beside an IPv6 one is sent as its IPv4-mapped
 * IPv6 form (§2.1, §2.2: both addresses are of one family). No known client address: the LOCAL
 * command (v2) or {@code UNKNOWN} (v1), so the server uses the connection's own endpoints.
 */
public final class ProxyHeader {

  /** §2.2: the twelve bytes every version 2 header starts with. */
  static final byte[] V2_SIGNATURE = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  /** §2.2: version 2 in the high nibble; command LOCAL (0x0) or PROXY (0x1) in the low one. */
  static final int V2_LOCAL = 0x20;
  static final int V2_PROXY = 0x21;
  /** §2.2: address family in the high nibble (UNSPEC, INET, INET6), transport (STREAM) in the low one. */
  static final int UNSPEC = 0x00;
  static final int TCP_OVER_IPV4 = 0x11;
  static final int TCP_OVER_IPV6 = 0x21;

  private ProxyHeader() {
  }

  /**
   * The header for a connection made for the client at {@code client}, or null when {@code mode}
   * is {@link ProxyProtocol#OFF}.
   *
   * @param client the client's address as text (IPv4, IPv6, possibly in brackets); null, {@code -}
   *               or anything that is not an address literal means unknown
   * @param local  the pod's end of the c2s connection; null when unknown
   */
  public static Buffer of(ProxyProtocol mode, String client, SocketAddress local) {
    if (mode == ProxyProtocol.OFF) {
      return null;
    }
    byte[] src = literal(client);
    byte[] dst = local == null ? null : literal(local.hostAddress());
    boolean known = src != null && dst != null;
    int srcPort = 0;
    int dstPort = known ? local.port() : 0;
    if (known && src.length != dst.length) {
      src = mapped(src);
      dst = mapped(dst);
    }
    return mode == ProxyProtocol.V1 ? v1(known ? src : null, dst, srcPort, dstPort) : v2(known ? src : null, dst, srcPort, dstPort);
  }

  /** §2.1: {@code PROXY TCP4|TCP6 <src> <dst> <srcport> <dstport>\r\n}, or {@code PROXY UNKNOWN\r\n}. */
  private static Buffer v1(byte[] src, byte[] dst, int srcPort, int dstPort) {
    String line = src == null ? "PROXY UNKNOWN\r\n"
        : "PROXY " + (src.length == 4 ? "TCP4 " : "TCP6 ") + text(src) + " " + text(dst) + " " + srcPort + " " + dstPort + "\r\n";
    return Buffer.buffer(line.getBytes(StandardCharsets.US_ASCII));
  }

  /** An address as text; an IPv4-mapped one in the mixed notation of RFC 5952 §5 ({@code ::ffff:192.0.2.7}). */
  private static String text(byte[] address) {
    if (address.length == 16 && isMappedV4(address)) {
      return "::ffff:" + (address[12] & 0xff) + "." + (address[13] & 0xff) + "." + (address[14] & 0xff) + "." + (address[15] & 0xff);
    }
    return NetUtil.bytesToIpAddress(address);
  }

  /** §2.2: signature, version and command, family and transport, length, then the addresses and ports. */
  private static Buffer v2(byte[] src, byte[] dst, int srcPort, int dstPort) {
    Buffer b = Buffer.buffer(16 + 36).appendBytes(V2_SIGNATURE);
    if (src == null) {
      // LOCAL: the receiver uses the connection's real endpoints and skips the (empty) address block
      return b.appendUnsignedByte((short) V2_LOCAL).appendUnsignedByte((short) UNSPEC).appendUnsignedShort(0);
    }
    b.appendUnsignedByte((short) V2_PROXY)
        .appendUnsignedByte((short) (src.length == 4 ? TCP_OVER_IPV4 : TCP_OVER_IPV6))
        .appendUnsignedShort(2 * src.length + 4);
    return b.appendBytes(src).appendBytes(dst).appendUnsignedShort(srcPort).appendUnsignedShort(dstPort);
  }

  /**
   * The address's bytes (4 or 16; an IPv4-mapped IPv6 address as its 4), or null when the text is
   * not an IP literal. Never a name lookup.
   */
  static byte[] literal(String address) {
    if (address == null || address.isEmpty() || address.length() > 64) {
      return null;
    }
    String a = address;
    if (a.startsWith("[") && a.endsWith("]")) {
      a = a.substring(1, a.length() - 1);
    }
    int scope = a.indexOf('%');
    if (scope >= 0) {
      a = a.substring(0, scope);
    }
    byte[] bytes = NetUtil.createByteArrayFromIpAddressString(a);
    if (bytes == null || (bytes.length != 4 && bytes.length != 16)) {
      return null;
    }
    if (bytes.length == 16 && isMappedV4(bytes)) {
      byte[] v4 = new byte[4];
      System.arraycopy(bytes, 12, v4, 0, 4);
      return v4;
    }
    return bytes;
  }

  private static boolean isMappedV4(byte[] b) {
    for (int i = 0; i < 10; i++) {
      if (b[i] != 0) {
        return false;
      }
    }
    return (b[10] & 0xff) == 0xff && (b[11] & 0xff) == 0xff;
  }

  /** An IPv4 address as IPv4-mapped IPv6 ({@code ::ffff:a.b.c.d}); IPv6 as it is. */
  private static byte[] mapped(byte[] address) {
    if (address.length == 16) {
      return address;
    }
    byte[] b = new byte[16];
    b[10] = (byte) 0xff;
    b[11] = (byte) 0xff;
    System.arraycopy(address, 0, b, 12, 4);
    return b;
  }
}
