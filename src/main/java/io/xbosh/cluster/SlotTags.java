package io.xbosh.cluster;

import java.nio.charset.StandardCharsets;

/**
 * For every Redis Cluster slot, a short alphanumeric hash tag that hashes to it: a channel named
 * {@code ...{tag}} lives in that slot, so a script on a session can publish to it (a script may
 * only touch its own slot) and a pod can subscribe to one channel per slot, not per session.
 */
public final class SlotTags {

  public static final int SLOTS = 16384;
  private static final String[] TAGS = new String[SLOTS];

  static {
    int found = 0;
    for (int n = 0; found < SLOTS; n++) {
      String tag = Integer.toString(n, 36);
      int slot = crc16(tag.getBytes(StandardCharsets.US_ASCII)) & (SLOTS - 1);
      if (TAGS[slot] == null) {
        TAGS[slot] = tag;
        found++;
      }
    }
  }

  private SlotTags() {
  }

  /** The tag whose hash is {@code slot}. */
  public static String tag(int slot) {
    return TAGS[slot];
  }

  /** The slot of a key or channel name, Redis Cluster's rule (the hash tag between the first '{' and the next '}', when not empty). */
  public static int slot(String key) {
    byte[] b = key.getBytes(StandardCharsets.UTF_8);
    int open = -1;
    for (int i = 0; i < b.length; i++) {
      if (b[i] == '{') {
        open = i;
        break;
      }
    }
    if (open >= 0) {
      for (int j = open + 1; j < b.length; j++) {
        if (b[j] == '}') {
          if (j > open + 1) {
            byte[] t = new byte[j - open - 1];
            System.arraycopy(b, open + 1, t, 0, t.length);
            return crc16(t) & (SLOTS - 1);
          }
          break;
        }
      }
    }
    return crc16(b) & (SLOTS - 1);
  }

  /** CRC16-XMODEM (polynomial 0x1021, initial 0), as Redis Cluster hashes keys. */
  static int crc16(byte[] bytes) {
    int crc = 0;
    for (byte x : bytes) {
      crc ^= (x & 0xff) << 8;
      for (int i = 0; i < 8; i++) {
        crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1;
      }
      crc &= 0xffff;
    }
    return crc;
  }
}
