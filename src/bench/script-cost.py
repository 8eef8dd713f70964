#!/usr/bin/env python3
"""redis-server CPU per session script, each shape of the chat benchmark on its own.

Starts a throwaway redis-server on a free port, creates SESSIONS sessions the way a chat login
leaves them (hold=1, requests=2, wait=60, the pod as owner), then runs
ROUNDS rounds of six phases, each one call per session, pipelined:

  accept_msg     a new request carrying a chat message while one is held (the held one is answered empty)
  deliver_held   one stanza for the session, into its held request
  accept_poll    the client's next empty request, held
  release        the held request's wait ends: answered empty by release
  deliver_list   one stanza, none held: it goes to the outbound list
  accept_list    the next empty request takes the waiting stanza at once

Each round leaves every session as it began (one request held). Per phase: calls, redis-server
CPU (utime + stime from /proc/<pid>/stat) per call, and Redis' own accounting of the script
command (INFO commandstats usec_per_call; reset before each phase), plus the time of the
commands the scripts called (the sum of the other commands' usec over the script calls).

The scripts come from a build's jar: --jar xbosh.jar. A jar whose store runs Redis functions
(io/xbosh/session/ScriptLibrary) is called with FCALL after FUNCTION LOAD of the library it prints;
any other with EVALSHA of the prelude and the script, assembled here as LuaScript does.

  src/bench/script-cost.py --jar target/xbosh.jar [--sessions 2000] [--rounds 5] [--pipeline 32]
      [--rate CALLS_PER_S] [--mode auto|eval|function] [--lua-dir DIR] [--valgrind] [--stream-names] [--label L]
      [--out results.tsv]

With --stream-names every session has a first stream's name, as every session has while
XBOSH_MAX_STREAMS > 1 (the default); without, none (XBOSH_MAX_STREAMS=1).

With --rate and --pipeline 1 each call is its own round trip, spaced as under live traffic (the
chat benchmark runs about 600 scripts/s): redis-server then waits between calls and runs each one
with colder caches, closer to what the chat benchmark measures than the pipelined default.

With --valgrind redis-server runs under callgrind and each phase reports the instructions it
executed per call (callgrind_control zeroes the counters before the phase and dumps them after):
the same on a busy machine as on a quiet one, unlike CPU time (cache misses are not counted, so
it ranks changes, it does not predict microseconds). 200 sessions and 3 rounds are enough.
"""
import argparse
import glob
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile

OPEN = '<body xmlns="http://jabber.org/protocol/httpbind" xmlns:stream="http://etherx.jabber.org/streams"'
CONSTANTS = {
    '__OPEN__': None,  # quoted below
    '__RECOVERABLE__': None,
    '__TOMBSTONE_MS__': '120000',
    '__MAX_OUT__': '1000',
    '__MAX_OUT_BYTES__': str(4 << 20),
    '__MAX_BODY_BYTES__': str(1 << 20),
    '__KEPT_FORWARDS__': '8',
    '__UNDELIVERED_NS__': 'urn:xmpp:xbosh:undelivered',
    '__REPORT_GRACE_MS__': '1000',
    '__MAX_STREAMS__': '4',
    '__RESEND_MARGIN_MS__': '10000',
    '__EXPIRY_MARGIN_MS__': '1000',
}
PHASES = ['accept_msg', 'deliver_held', 'accept_poll', 'release', 'deliver_list', 'accept_list']
POD = 'bench-pod'


def quote(s):
    return "'" + s.replace('\\', '\\\\').replace("'", "\\'").replace('\n', '\\n') + "'"


CONSTANTS['__OPEN__'] = quote(OPEN)
CONSTANTS['__RECOVERABLE__'] = quote(OPEN + ' type="error"/>')


class Redis:
    """A minimal RESP2 client that pipelines."""

    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b''

    @staticmethod
    def encode(args):
        out = [b'*%d\r\n' % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b'$%d\r\n%s\r\n' % (len(b), b))
        return b''.join(out)

    def _line(self):
        while b'\r\n' not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise IOError('connection closed')
        self.buf += chunk

    def _reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b'+':
            return rest.decode()
        if t == b'-':
            return RuntimeError(rest.decode())
        if t == b':':
            return int(rest)
        if t == b'$':
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v.decode('utf-8', 'replace')
        if t == b'*':
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise IOError('bad reply ' + repr(line))

    def pipeline(self, commands, depth, rate=0):
        replies = []
        start = time.monotonic()
        for i in range(0, len(commands), depth):
            if rate:
                # paced: each batch at its time, so redis-server waits in between as under live traffic
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            part = commands[i:i + depth]
            self.sock.sendall(b''.join(self.encode(c) for c in part))
            replies.extend(self._reply() for _ in part)
        for r in replies:
            if isinstance(r, RuntimeError):
                raise r
        return replies

    def call(self, *args):
        return self.pipeline([list(args)], 1)[0]


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def commandstats(r):
    stats = {}
    for line in r.call('INFO', 'commandstats').splitlines():
        if line.startswith('cmdstat_'):
            name, rest = line[len('cmdstat_'):].split(':', 1)
            kv = dict(p.split('=') for p in rest.split(','))
            stats[name] = (int(kv['calls']), int(kv['usec']))
    return stats


class EvalScripts:
    """prelude + script, as LuaScript assembles them (Redis 7 shebang, constants replaced)."""

    def __init__(self, jar, lua_dir=None):
        def read(name):
            if lua_dir:
                with open(os.path.join(lua_dir, name)) as f:
                    return f.read()
            with zipfile.ZipFile(jar) as z:
                return z.read('io/xbosh/session/' + name).decode()
        prelude = read('prelude.lua')
        self.src = {}
        for name in ['create', 'accept', 'deliver', 'release']:
            if True:
                # a prelude with begin (keys, pod and clock bound per call) needs it called first
                begin = '\nbegin(KEYS, ARGV)\n' if 'local function begin(' in prelude else '\n'
                src = prelude + begin + read(name + '.lua')
                for k, v in CONSTANTS.items():
                    src = src.replace(k, v)
                src = '#!lua\n' + src
                self.src[name] = (src, hashlib.sha1(src.encode()).hexdigest())
        self.command = 'evalsha'

    def load(self, r):
        for src, _ in self.src.values():
            r.call('SCRIPT', 'LOAD', src)

    def call(self, name, keys, args):
        return ['EVALSHA', self.src[name][1], len(keys)] + keys + args


class FunctionScripts:
    """The library the build's store loads, printed by the build itself."""

    def __init__(self, jar):
        out = subprocess.run(['java', '-cp', jar, 'io.xbosh.session.ScriptLibrary'], check=True,
                             capture_output=True, text=True).stdout
        lib = json.loads(out)
        self.library, self.names = lib['library'], lib['functions']
        self.command = 'fcall'

    def load(self, r):
        r.call('FUNCTION', 'LOAD', 'REPLACE', self.library)

    def call(self, name, keys, args):
        return ['FCALL', self.names[name], len(keys)] + keys + args


def has_library(jar):
    with zipfile.ZipFile(jar) as z:
        return 'io/xbosh/session/ScriptLibrary.class' in z.namelist()


MESSAGE = ("<message xmlns='jabber:client' to='u{peer}@bench.example' type='chat' id='m{n}'><body>"
           "message {n} of the bench, a line of chat of about the usual length</body></message>")


class Session:
    def __init__(self, i):
        self.sid = 'bench%06d' % i
        self.keys = ['xb:{%s}' % self.sid, 'xb:{%s}:o' % self.sid, 'xb:{%s}:i' % self.sid]
        self.rid = 1000
        self.taken = 0
        self.token = 0
        self.peer = i + 1

    def holder(self, rid):
        return '%s#%s-%d' % (POD, self.sid, rid)


STREAM_NAMES = False


def create(s, scripts):
    # (since f119eea create takes no creation response: the rid, then the parameters)
    args = [POD, s.rid, 'hold', '1', 'req', '2', 'wait', '60', 'inact', '60', 'ack', '0',
            'ct', 'text/xml; charset=utf-8', 'leg', '0', 'own', POD, 'k', '', 'pol', '2']
    if STREAM_NAMES:
        # XBOSH_MAX_STREAMS > 1 (the default): every session has its first stream's name
        args += ['sf', 'st%013d' % int(s.sid[5:])]
    return scripts.call('create', s.keys, args)


def accept(s, scripts, payload):
    s.rid += 1
    return scripts.call('accept', s.keys, [POD, s.rid, s.holder(s.rid), '', payload, s.taken])


def deliver(s, scripts, n):
    s.token += 1
    return scripts.call('deliver', s.keys, [POD, '', 'link-%s:%d' % (s.sid, s.token), MESSAGE.format(peer=s.peer, n=n)])


def release(s, scripts):
    return scripts.call('release', s.keys, [POD, s.rid, s.holder(s.rid), ''])


def phase_commands(name, sessions, scripts, n):
    out = []
    for s in sessions:
        if name == 'accept_msg':
            out.append(accept(s, scripts, MESSAGE.format(peer=s.peer, n=n)))
            # the owner's link takes each forward at once
            s.taken += 1
        elif name in ('deliver_held', 'deliver_list'):
            out.append(deliver(s, scripts, n))
        elif name in ('accept_poll', 'accept_list'):
            out.append(accept(s, scripts, ''))
        elif name == 'release':
            out.append(release(s, scripts))
    return out


def check(name, replies):
    want = {'accept_msg': 'ok', 'deliver_held': 'ok', 'accept_poll': 'ok', 'release': 'ok',
            'deliver_list': 'ok', 'accept_list': 'ok'}[name]
    for r in replies:
        if not isinstance(r, list) or r[0] != want:
            raise SystemExit('%s: unexpected reply %r' % (name, r))
    if name == 'deliver_held' and any(r[1] != 1 for r in replies):
        raise SystemExit('deliver_held answered no held request')
    if name == 'accept_list' and any(r[7 + 3 * r[6]] != 1 for r in replies):
        raise SystemExit('accept_list answered nothing')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--jar', required=True)
    ap.add_argument('--sessions', type=int, default=2000)
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--pipeline', type=int, default=32)
    ap.add_argument('--mode', default='auto', choices=['auto', 'eval', 'function'])
    ap.add_argument('--lua-dir', help='eval mode: the scripts from this directory instead of the jar (trying changes)')
    ap.add_argument('--rate', type=float, default=0, help='calls per second in the measured phases (0: as fast as they go)')
    ap.add_argument('--valgrind', action='store_true',
                    help='redis-server under valgrind (callgrind): instructions per call, the same on a busy machine')
    ap.add_argument('--stream-names', action='store_true',
                    help='sessions with a first stream name, as every session has while XBOSH_MAX_STREAMS > 1 (the default)')
    ap.add_argument('--label', default='')
    ap.add_argument('--out')
    a = ap.parse_args()
    global STREAM_NAMES
    STREAM_NAMES = a.stream_names
    mode = a.mode if a.mode != 'auto' else ('function' if has_library(a.jar) else 'eval')
    scripts = FunctionScripts(a.jar) if mode == 'function' else EvalScripts(a.jar, a.lua_dir)
    label = a.label or os.path.basename(a.jar) + ':' + mode

    port = free_port()
    work = tempfile.mkdtemp(prefix='script-cost-')
    grind = os.path.join(work, 'callgrind.out')
    prefix = ['valgrind', '--tool=callgrind', '--callgrind-out-file=' + grind] if a.valgrind else []
    server = subprocess.Popen(prefix + ['redis-server', '--port', str(port), '--bind', '127.0.0.1', '--save', '',
                                        '--appendonly', 'no', '--dir', work], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL if a.valgrind else None)

    def grind_control(flag):
        subprocess.run(['callgrind_control', flag, str(server.pid)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def instructions():
        # the dump just written: its total of instructions executed since the last zeroing
        newest = max(glob.glob(grind + '.*'), key=os.path.getmtime)
        with open(newest) as f:
            for line in f:
                if line.startswith(('summary:', 'totals:')):
                    return int(line.split()[1])
        raise SystemExit('no totals in ' + newest)
    try:
        deadline = time.time() + (60 if a.valgrind else 10)
        while True:
            try:
                r = Redis(port)
                r.call('PING')
                break
            except (OSError, RuntimeError):
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        scripts.load(r)
        sessions = [Session(i) for i in range(a.sessions)]
        r.pipeline([create(s, scripts) for s in sessions], a.pipeline)
        # the login's first poll, held: every round starts and ends with one request held
        r.pipeline([accept(s, scripts, '') for s in sessions], a.pipeline)
        # one round unmeasured, so every session carries the cached responses and fields of a chat
        for name in PHASES:
            check(name, r.pipeline(phase_commands(name, sessions, scripts, 0), a.pipeline))
        totals = {p: [0, 0.0, 0, 0, 0] for p in PHASES}  # calls, cpu, script usec, inner usec, instructions
        for n in range(1, a.rounds + 1):
            for name in PHASES:
                cmds = phase_commands(name, sessions, scripts, n)
                r.call('CONFIG', 'RESETSTAT')
                if a.valgrind:
                    grind_control('-z')
                cpu0 = cpu_seconds(server.pid)
                replies = r.pipeline(cmds, a.pipeline, a.rate)
                cpu1 = cpu_seconds(server.pid)
                if a.valgrind:
                    grind_control('-d')
                    totals[name][4] += instructions()
                stats = commandstats(r)
                check(name, replies)
                t = totals[name]
                t[0] += len(cmds)
                t[1] += cpu1 - cpu0
                t[2] += stats[scripts.command][1]
                t[3] += sum(u for c, (_, u) in stats.items() if c not in (scripts.command, 'config|resetstat', 'config'))
        load = open('/proc/loadavg').read().split()[0]
        rows = []
        print('# %s, %d sessions, %d rounds, pipeline %d, rate %s, load %s' % (label, a.sessions, a.rounds, a.pipeline, a.rate or 'max', load))
        print('%-14s %8s %12s %14s %14s %14s' % ('phase', 'calls', 'cpu_us/call', 'usec_per_call', 'inner_us/call',
                                                 'kinstr/call'))
        for name in PHASES:
            calls, cpu, usec, inner, instr = totals[name]
            row = (name, calls, 1e6 * cpu / calls, usec / calls, inner / calls, instr / calls / 1000)
            rows.append(row)
            print('%-14s %8d %12.1f %14.1f %14.1f %14.1f' % row)
        calls = sum(t[0] for t in totals.values())
        print('%-14s %8d %12.1f %14.1f %14.1f %14.1f' % ('all', calls, 1e6 * sum(t[1] for t in totals.values()) / calls,
                                                         sum(t[2] for t in totals.values()) / calls,
                                                         sum(t[3] for t in totals.values()) / calls,
                                                         sum(t[4] for t in totals.values()) / calls / 1000))
        if a.out:
            fresh = not os.path.exists(a.out)
            with open(a.out, 'a') as f:
                if fresh:
                    f.write('label\tmode\tsessions\trounds\tpipeline\tload\tphase\tcalls\tcpu_us_per_call\tusec_per_call\t'
                            'inner_usec_per_call\tkinstr_per_call\n')
                for row in rows:
                    f.write('%s\t%s\t%d\t%d\t%d\t%s\t%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\n' % ((label, mode, a.sessions, a.rounds, a.pipeline, load) + row))
    finally:
        server.terminate()
        server.wait()


if __name__ == '__main__':
    main()
