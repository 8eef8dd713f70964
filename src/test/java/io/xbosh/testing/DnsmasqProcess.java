package io.xbosh.testing;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** A throwaway dnsmasq answering only the records it is given, on a free loopback UDP port. */
public final class DnsmasqProcess extends ExternalProcess {

  private final int port;

  private DnsmasqProcess(List<String> command, int port) throws IOException {
    super("dnsmasq", command, line -> line.contains("started"), 15_000);
    this.port = port;
  }

  /** @param srvHosts dnsmasq {@code --srv-host} values: {@code _service._proto.domain[,target[,port[,priority[,weight]]]]} */
  public static DnsmasqProcess start(List<String> srvHosts) throws IOException {
    int port = freePort();
    List<String> cmd = new ArrayList<>(List.of("dnsmasq", "--no-daemon", "--port=" + port, "--listen-address=127.0.0.1",
        "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-poll", "--conf-file=/dev/null", "--pid-file=",
        "--user=" + System.getProperty("user.name")));
    srvHosts.forEach(h -> cmd.add("--srv-host=" + h));
    return new DnsmasqProcess(cmd, port);
  }

  public int port() {
    return port;
  }
}
