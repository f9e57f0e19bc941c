"""Metrics and the status page (metrics_listen): the queue process serves
/metrics in the Prometheus text format (OpenMetrics on request), checked
with promtool and the prometheus_client parser, scraped by a real
Prometheus started here on loopback; and a status page whose numbers
match the queue."""

import json
import os
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import BIN, free_port
from test_remote import Handler, Sink, mx, remote_mta, wait_for

ALICE = "alice@example.test"
BOB = "bob@example.test"


def get(port, path, headers=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def samples(text):
    """{(name, frozenset(labels)): value} of a /metrics body."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text, name, **labels):
    return samples(text).get((name, frozenset(labels.items())))


def metrics_mta(mta_factory, **kw):
    port = free_port()
    m = mta_factory(extra="metrics_listen = 127.0.0.1:%d\n%s"
                    % (port, kw.pop("extra", "")), **kw)
    m.metrics_port = port
    return m


def smtp(m, sender, rcpts, expect=250):
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as c:
        c.ehlo("client.test")
        c.mail(sender)
        ok = [r for r in rcpts if c.rcpt(r)[0] == 250]
        if ok:
            assert c.data(b"Subject: m\r\n\r\nhi\r\n")[0] == 250
        return ok


def test_metrics_count_what_happened(mta_factory):
    # not in relay_networks: the sender checks run (DMARC none, no DNS)
    m = metrics_mta(mta_factory, relay_networks="").start()
    smtp(m, BOB, [ALICE, "nobody@example.test"])
    smtp(m, BOB, [ALICE])
    m.wait_messages(ALICE, 2)
    assert wait_for(lambda: m.log().count("status=sent") >= 2)
    status, ctype, text = get(m.metrics_port, "/metrics")
    assert status == 200
    assert ctype.startswith("text/plain; version=0.0.4")
    assert value(text, "postbote_messages_received_total",
                 source="smtp") == 2
    assert value(text, "postbote_deliveries_total", status="sent") == 2
    assert value(text, "postbote_messages_rejected_total",
                 reason="unknown_user") == 1
    assert value(text, "postbote_connections_total", direction="in") >= 2
    assert value(text, "postbote_delivery_delay_seconds_count") == 2
    assert value(text, "postbote_delivery_delay_seconds_bucket",
                 le="+Inf") == 2
    assert value(text, "postbote_queue_messages") == 0
    assert value(text, "postbote_auth_results_total", method="dmarc",
                 result="none") == 2
    # each process's memory (the parent reads it every few seconds)
    assert wait_for(lambda: all(value(
        get(m.metrics_port, "/metrics")[2],
        "postbote_process_resident_memory_bytes", process=p)
        for p in ("parent", "smtpd", "queue", "lookup", "deliver")))
    # promtool, the Prometheus project's own checker
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr


def test_openmetrics_on_request(mta_factory):
    m = metrics_mta(mta_factory).start()
    status, ctype, text = get(m.metrics_port, "/metrics", {
        "Accept": "application/openmetrics-text; version=1.0.0"})
    assert ctype.startswith("application/openmetrics-text")
    assert text.endswith("# EOF\n")
    assert "# TYPE postbote_deliveries counter" in text
    from prometheus_client.openmetrics.parser import \
        text_string_to_metric_families as om_families
    names = {f.name for f in om_families(text)}
    assert "postbote_deliveries" in names


def test_only_get_of_known_paths(mta_factory):
    m = metrics_mta(mta_factory).start()
    with pytest.raises(urllib.error.HTTPError) as e:
        get(m.metrics_port, "/etc/passwd")
    assert e.value.code == 404
    req = urllib.request.Request("http://127.0.0.1:%d/metrics"
                                 % m.metrics_port, data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code in (405, 413, 501)
    # junk on the socket does not take the listener down
    with socket.create_connection(("127.0.0.1", m.metrics_port)) as s:
        s.sendall(b"\x00\xff garbage\r\n\r\n")
        s.recv(100)
    assert get(m.metrics_port, "/metrics")[0] == 200


@pytest.mark.parametrize("value", ["127.0.0.1", "localhost:9465",
                                   "127.0.0.1:99999"])
def test_metrics_listen_is_checked(mta_factory, value):
    m = mta_factory(extra="metrics_listen = %s" % value)
    for verb in ("check", "serve"):
        r = subprocess.run([BIN, verb, "-c", m.conf], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 2, r.stderr
        assert re.search(r"postbote\.conf:\d+:\d+: metrics_listen", r.stderr)


def test_metrics_listen_in_use_fails_the_start(mta_factory):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        m = mta_factory(extra="metrics_listen = 127.0.0.1:%d"
                        % busy.getsockname()[1])
        r = subprocess.run([BIN, "serve", "-c", m.conf],
                           capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "metrics" in r.stderr + m.log()


class Page(HTMLParser):
    """Text of elements by id, the chart's bars, scripts and links."""

    def __init__(self):
        super().__init__()
        self.ids, self.stack, self.bars = {}, [], []
        self.scripts = 0
        self.links = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if "src" in a or (tag == "link" and "href" in a):
            self.links.append(a.get("src") or a.get("href"))
        if tag == "g" and a.get("class") == "hour":
            self.bars.append(a)
        self.stack.append(a.get("id"))

    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        for i in self.stack:
            if i:
                self.ids[i] = self.ids.get(i, "") + data


def page(m):
    status, ctype, body = get(m.metrics_port, "/")
    assert status == 200 and ctype.startswith("text/html")
    p = Page()
    p.feed(body)
    return p, body


def test_status_page_matches_the_queue(mta_factory, dns):
    mx(dns, "remote.test", (10, "mx.remote.test", "127.0.0.1"))
    mx(dns, "other.test", (10, "mx.other.test", "127.0.0.1"))
    handler = Handler(answers={"later": "451 4.3.0 mailbox busy",
                               "later2": "451 4.3.0 mailbox busy",
                               "gone": "550 5.1.1 no such user here"})
    with Sink(handler) as sink:
        port = free_port()
        m = remote_mta(mta_factory, sink.port,
                       "metrics_listen = 127.0.0.1:%d\nretry = 1h" % port)
        m.metrics_port = port
        smtp(m, ALICE, ["later@remote.test", "later2@remote.test"])
        smtp(m, ALICE, ["later@other.test", "gone@other.test"])
        smtp(m, ALICE, [ALICE, "nobody@example.test"])
        m.wait_messages(ALICE, 2)      # the one sent, and the bounce
        assert wait_for(lambda: m.log().count("status=deferred") >= 3)
        # the Maildir file shows before queue has the delivery's result:
        # wait until queue counts the two messages left
        assert wait_for(lambda: page(m)[0].ids["queue-messages"] == "2")
        p, body = page(m)
    # the same numbers as `postbote queue list --json`
    r = subprocess.run([BIN, "queue", "-c", m.conf, "list", "--json"],
                       capture_output=True, text=True, timeout=30)
    listed = json.loads(r.stdout)
    pending = [rc["address"] for e in listed for rc in e["recipients"]
               if rc["state"] in ("pending", "deferred")]
    assert int(p.ids["queue-messages"]) == len(listed) == 2
    assert int(p.ids["queue-recipients"]) == len(pending) == 3
    rows = {d: (int(a), int(b)) for d, a, b in re.findall(
        r'<td class="domain">([^<]*)</td><td class="messages">(\d+)</td>'
        r'<td class="recipients">(\d+)</td>', body)}
    assert rows == {"remote.test": (1, 2), "other.test": (1, 1)}, body
    hour = re.search(r'<ol id="deferral-hour">(.*?)</ol>', body, re.S)
    counts = re.findall(r'<span class="count">(\d+)</span>[^<]*mailbox busy',
                        hour.group(1))
    assert sum(int(n) for n in counts) == 3, body
    assert "no such user here" in p.ids["bounce-day"]
    assert "nobody@example.test" in p.ids["rejects"]
    assert "unknown_user" in p.ids["rejects"]
    assert int(p.ids["received"]) == 3      # a bounce is not received
    assert int(p.ids["rejected"]) == 1
    # the chart: 24 bars, this hour's with what was received
    assert len(p.bars) == 24
    assert int(p.bars[-1]["data-received"]) == 3
    assert int(p.bars[-1]["data-delivered"]) >= 1
    assert "<svg" in body and p.scripts == 0 and p.links == []


@pytest.mark.skipif(not shutil.which("prometheus"),
                    reason="prometheus missing (scripts/deps.sh)")
def test_prometheus_scrapes_the_counters(mta_factory, workdir):
    """A real Prometheus (Debian's), private config and storage in the
    test's directory, on loopback, stopped by pid: it scrapes postbote and
    its query API answers with postbote's counter."""
    m = metrics_mta(mta_factory).start()
    smtp(m, BOB, [ALICE, "nobody@example.test"])
    m.wait_messages(ALICE, 1)
    d = tempfile.mkdtemp(dir=workdir)
    pport = free_port()
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: postbote\n"
                "    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % m.metrics_port)
    log = open(os.path.join(d, "prometheus.log"), "wb")
    prom = subprocess.Popen([
        "prometheus", "--config.file=" + os.path.join(d, "prometheus.yml"),
        "--storage.tsdb.path=" + os.path.join(d, "data"),
        "--web.listen-address=127.0.0.1:%d" % pport],
        cwd=d, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        def query(q):
            url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (
                pport, urllib.parse.quote(q))
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    res = json.load(r)["data"]["result"]
            except (OSError, ValueError, KeyError):
                return None
            return res[0]["value"][1] if res else None

        got = wait_for(lambda: query(
            'postbote_messages_received_total{source="smtp"}'), 90)
        assert got == "1", open(os.path.join(d, "prometheus.log")).read()
        assert wait_for(lambda: query(
            'postbote_messages_rejected_total{reason="unknown_user"}'),
            30) == "1"
        assert query('up{job="postbote"}') == "1"
        # the histogram is usable as one
        assert wait_for(lambda: query(
            "histogram_quantile(0.5, postbote_delivery_delay_seconds_bucket)"
        ), 30) is not None
    finally:
        prom.terminate()
        try:
            prom.wait(20)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()
        log.close()


@pytest.mark.skipif(not shutil.which("chromium"),
                    reason="chromium missing (scripts/deps.sh)")
def test_status_page_in_a_headless_browser(mta_factory, dns, workdir):
    """Debian's chromium, headless, with a private profile, loads the page
    (nothing from elsewhere: no network here) and its DOM shows what
    `postbote queue list` shows."""
    dns.set_rcode("slow.test", "MX", "SERVFAIL")     # deferred, 4.4.3
    port = free_port()
    m = remote_mta(mta_factory, free_port(),
                   "metrics_listen = 127.0.0.1:%d\nretry = 1h" % port)
    m.metrics_port = port
    smtp(m, BOB, ["a@slow.test", "b@slow.test"])
    smtp(m, BOB, ["c@slow.test"])
    assert wait_for(lambda: m.log().count("status=deferred") >= 3)
    profile = tempfile.mkdtemp(dir=workdir)
    r = subprocess.run([
        "chromium", "--headless", "--no-sandbox", "--disable-gpu",
        "--no-first-run", "--user-data-dir=" + profile,
        "--dump-dom", "http://127.0.0.1:%d/" % m.metrics_port],
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, HOME=profile))
    assert r.returncode == 0, r.stderr[-2000:]
    p = Page()
    p.feed(r.stdout)
    listed = json.loads(subprocess.run(
        [BIN, "queue", "-c", m.conf, "list", "--json"], capture_output=True,
        text=True, timeout=30).stdout)
    assert int(p.ids["queue-messages"]) == len(listed) == 2, r.stdout
    assert int(p.ids["queue-recipients"]) == 3
    assert re.search(r'<td class="domain">slow\.test</td>'
                     r'<td class="messages">2</td>'
                     r'<td class="recipients">3</td>', r.stdout), r.stdout
    assert "<svg" in r.stdout and len(p.bars) == 24
    assert int(p.bars[-1]["data-received"]) == 2
