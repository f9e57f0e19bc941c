"""test_tlsrpt.py - SMTP TLS Reporting (RFC 8460): real deliveries from
build/asan/postbote to aiosmtpd receivers on loopback, one with STARTTLS
and one without, counted per policy domain and UTC day; the counts
survive a restart and a crash of the queue process; once the day has
ended (and never before) each domain's report goes to the mailto:
address of its `_smtp._tls` TXT record (served by the test's DNS), through
postbote's own queue into a local Maildir, by itself one second after
00:00 UTC or at once with `postbote queue tlsrpt-send`.  The report is
decoded as a mail reader would (MIME, base64, gzip), its JSON is validated
against a JSON Schema written here from RFC 8460 section 4, its date-range
must be the whole UTC day, its counts are checked, and its DKIM signature
verifies (python3-dkim).

The server counts on another day than today through the test build's
hook POSTBOTE_TEST_TLSRPT_SHIFT (seconds added to the clock of the TLS-RPT
days, src/queue/queue_tlsrpt.c), or the test writes a day's file as an
earlier run would have left it (the format is in docs/smtp.md)."""

import email
import email.policy
import gzip
import json
import os
import re
import signal
import subprocess
import time

import dkim
import jsonschema
from aiosmtpd.controller import Controller

from conftest import BIN, wait_for
from test_remote import Handler, Sink, make_ca, mx, remote_mta, send, \
    tls_context

# RFC 8460 4.3 (negotiation and policy failures) and 4.4 (policy types)
RESULT_TYPES = [
    "starttls-not-supported", "certificate-host-mismatch",
    "certificate-expired", "certificate-not-trusted", "validation-failure",
    "tlsa-invalid", "dnssec-invalid", "dane-required",
    "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
]
RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"

# The report's fields, from RFC 8460 section 4.4 (the JSON report schema)
SCHEMA = {
    "type": "object",
    "required": ["organization-name", "date-range", "contact-info",
                 "report-id", "policies"],
    "properties": {
        "organization-name": {"type": "string", "minLength": 1},
        "date-range": {
            "type": "object",
            "required": ["start-datetime", "end-datetime"],
            "properties": {
                "start-datetime": {"type": "string", "pattern": RFC3339},
                "end-datetime": {"type": "string", "pattern": RFC3339},
            },
        },
        "contact-info": {"type": "string", "minLength": 1},
        "report-id": {"type": "string", "minLength": 1},
        "policies": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["policy", "summary"],
                "properties": {
                    "policy": {
                        "type": "object",
                        "required": ["policy-type", "policy-domain"],
                        "properties": {
                            "policy-type": {"enum": [
                                "tlsa", "sts", "no-policy-found"]},
                            "policy-string": {"type": "array",
                                              "items": {"type": "string"}},
                            "policy-domain": {"type": "string",
                                              "minLength": 1},
                            "mx-host": {"type": "array",
                                        "items": {"type": "string"}},
                        },
                    },
                    "summary": {
                        "type": "object",
                        "required": ["total-successful-session-count",
                                     "total-failure-session-count"],
                        "properties": {
                            "total-successful-session-count": {
                                "type": "integer", "minimum": 0},
                            "total-failure-session-count": {
                                "type": "integer", "minimum": 0},
                        },
                    },
                    "failure-details": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["result-type",
                                         "failed-session-count"],
                            "properties": {
                                "result-type": {"enum": RESULT_TYPES},
                                "sending-mta-ip": {"type": "string"},
                                "receiving-mx-hostname": {"type": "string"},
                                "receiving-mx-helo": {"type": "string"},
                                "receiving-ip": {"type": "string"},
                                "failed-session-count": {
                                    "type": "integer", "minimum": 1},
                                "additional-information": {
                                    "type": "string"},
                                "failure-reason-code": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
}


DAY = 86400


def day_of(t):
    """00:00:00Z of t's UTC day."""
    return int(t) // DAY * DAY


def shift_to(t):
    """The environment that sets the server's TLS-RPT clock to t, now."""
    return {"POSTBOTE_TEST_TLSRPT_SHIFT": str(int(t - time.time()))}


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def date_range(day):
    """RFC 8460 4: the whole UTC day, 00:00:00Z to the next 00:00:00Z."""
    return {"start-datetime": iso(day), "end-datetime": iso(day + DAY)}


def report_id(day, domain):
    return "%s_%s@mx.example.test" % (time.strftime("%Y-%m-%d",
                                                   time.gmtime(day)),
                                     domain)


def day_file(m, name, lines):
    """A day file as an earlier run left it: the stopped server's
    tlsrpt/NAME, owned as the folder is."""
    d = os.path.join(m.state, "tlsrpt")
    path = os.path.join(d, str(name))
    with open(path, "w") as f:
        f.write("".join(lines))
    st = os.stat(d)
    os.chown(path, st.st_uid, st.st_gid)
    return path


def outcome(when, domain, result="", sending="", mx_name="", receiving=""):
    """One line of a day file (docs/smtp.md)."""
    return "1\t%d\tno-policy-found\t%s\t\t\t%s\t%s\t%s\t%s\t\n" % (
        when, domain, result, sending, mx_name, receiving)


def restart_queue(m):
    """kill -9 the queue process; the parent starts another one."""
    before = m.log().count("event=queue-loaded")
    os.kill(m.child_pids()["queue"], signal.SIGKILL)
    assert wait_for(lambda: m.log().count("event=queue-loaded") > before,
                    20), m.log()


def sent_nothing(out):
    return "reports of 0 policy domains of 0 ended days" in out


class HostSink(Sink):
    """A sink on another loopback address (smtp_port is one port for all
    MX hosts: the two receivers differ by address)."""

    def __init__(self, host, port, **kw):
        self.handler = Handler()
        self.port = port
        self.controller = Controller(self.handler, hostname=host, port=port,
                                     **kw)


def ctl(m, *args):
    r = subprocess.run([BIN, "queue", "-c", m.conf] + list(args),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr + m.log()
    assert "AddressSanitizer" not in r.stderr, r.stderr
    return r.stdout


def show(m):
    return json.loads(ctl(m, "tlsrpt-show"))


def counts(m):
    """{domain: (successes, {result: count})} over every period."""
    out = {}
    for period in show(m)["periods"]:
        for p in period["policies"]:
            d = p["policy"]["policy-domain"]
            ok, fails = out.get(d, (0, {}))
            ok += p["summary"]["total-successful-session-count"]
            for f in p.get("failure-details", []):
                fails[f["result-type"]] = fails.get(f["result-type"], 0) + \
                    f["failed-session-count"]
            out[d] = (ok, fails)
    return out


def wait_counts(m, want, timeout=20.0):
    end = time.time() + timeout
    got = None
    while time.time() < end:
        got = counts(m)
        if got == want:
            return got
        time.sleep(0.1)
    return got


def keygen(workdir, domain, selector):
    conf = os.path.join(workdir, "keygen.conf")
    with open(conf, "w") as f:
        f.write("state_dir = %s\n" % os.path.join(workdir, "keys"))
    p = subprocess.run([BIN, "dkim", "-c", conf, "keygen", domain, "-s",
                        selector], capture_output=True, text=True,
                       timeout=60, check=True)
    strings = re.findall(r'"([^"]*)"', p.stdout)
    return (os.path.join(workdir, "keys", "dkim", "%s.%s.key"
                         % (domain, selector)), "".join(strings))


def report_of(raw):
    """The decoded report: message, JSON object, attachment file name."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "tlsrpt"
    parts = list(msg.iter_parts())
    assert parts[0].get_content_type() == "text/plain"
    att = [p for p in parts if p.get_content_type() ==
           "application/tlsrpt+gzip"]
    assert len(att) == 1
    body = gzip.decompress(att[0].get_content())
    return msg, json.loads(body), att[0].get_filename()


def test_a_day_is_counted_kept_and_reported_after_it_ends(mta_factory, dns,
                                                          workdir):
    """The server counts on yesterday (the clock hook): a restart and a
    crash of the queue process lose nothing of the day, and tlsrpt-send
    sends nothing while the day goes on.  Started on today's clock, the
    day has ended: tlsrpt-send sends one report per policy domain, which
    covers the whole day, once."""
    ca, cert, key = make_ca(workdir, "mx.tls.test")
    mx(dns, "tls.test", (10, "mx.tls.test", "127.0.0.1"))
    mx(dns, "plain.test", (10, "mx.plain.test", "127.0.0.2"))
    dns.add("_smtp._tls.tls.test", "TXT",
            "v=TLSRPTv1; rua=mailto:alice@example.test")
    dns.add("_smtp._tls.plain.test", "TXT",
            "v=TLSRPTv1;rua=mailto:carol@example.org,"
            "https://reports.plain.test/v1")
    keyfile, rec = keygen(workdir, "example.test", "tr")
    day = day_of(time.time()) - DAY
    yesterday = shift_to(day + DAY // 2)
    with Sink(tls_context=tls_context(cert, key)) as tls_sink, \
            HostSink("127.0.0.2", tls_sink.port) as plain_sink:
        m = remote_mta(mta_factory, tls_sink.port, (
            "smtp_idle_time = 0s\ntlsrpt = yes\n"
            "tlsrpt_organization = Example-Sender\n"
            "tlsrpt_contact = postmaster@example.test\n"
            "tlsrpt_from = tlsrpt-noreply@example.test\n"
            "[dkim example.test]\nselector = tr\nkey = %s") % keyfile,
            env=yesterday)
        for i in range(3):
            send(m, ["bob@tls.test"], subject="tls %d" % i)
            assert len(tls_sink.wait(i + 1)) == i + 1, m.log()
        for i in range(2):
            send(m, ["bob@plain.test"], subject="plain %d" % i)
            assert len(plain_sink.wait(i + 1)) == i + 1, m.log()
        assert all(x["tls"] for x in tls_sink.messages)
        assert not any(x["tls"] for x in plain_sink.messages)
        want = {"tls.test": (3, {}),
                "plain.test": (0, {"starttls-not-supported": 2})}
        assert wait_counts(m, want) == want, m.log()
        assert [p["date-range"] for p in show(m)["periods"]] == \
            [date_range(day)]

        # a restart and a crash lose nothing of the day; while it goes
        # on, nothing of it is sent
        m.stop()
        m.start(env=yesterday)
        assert counts(m) == want, m.log()
        restart_queue(m)
        assert counts(m) == want, m.log()
        assert sent_nothing(ctl(m, "tlsrpt-send"))
        assert os.listdir(os.path.join(m.state, "tlsrpt")) == [str(day)]

        # today: the day has ended
        m.stop()
        m.start()
        out = ctl(m, "tlsrpt-send")
        assert "reports of 2 policy domains of 1 ended day " in out, out

        raw = m.wait_subject("alice@example.test",
                             "Report Domain: tls.test")
        msg, rep, fname = report_of(raw)
        jsonschema.validate(rep, SCHEMA)
        assert rep["date-range"] == date_range(day)
        assert rep["report-id"] == report_id(day, "tls.test")
        assert msg["TLS-Report-Domain"] == "tls.test"
        assert msg["TLS-Report-Submitter"] == "mx.example.test"
        assert msg["Message-ID"] == "<%s>" % rep["report-id"]
        subject = " ".join(msg["Subject"].split())
        assert subject == ("Report Domain: tls.test Submitter: "
                           "mx.example.test Report-ID: <%s>"
                           % rep["report-id"]), subject
        assert fname == "mx.example.test!tls.test!%d!%d.json.gz" % (
            day, day + DAY)
        assert rep["organization-name"] == "Example-Sender"
        assert rep["contact-info"] == "postmaster@example.test"
        assert len(rep["policies"]) == 1
        pol = rep["policies"][0]
        assert pol["policy"] == {"policy-type": "no-policy-found",
                                 "policy-domain": "tls.test"}
        assert pol["summary"] == {"total-successful-session-count": 3,
                                  "total-failure-session-count": 0}
        assert "failure-details" not in pol
        # RFC 8460 5.3: DKIM-signed, as other local mail
        assert b"DKIM-Signature:" in raw
        dnsfunc = (lambda name, timeout=5: rec.encode()
                   if name.decode().rstrip(".") ==
                   "tr._domainkey.example.test" else None)
        assert dkim.verify(raw, dnsfunc=dnsfunc), raw[:2000]

        raw = m.wait_subject("carol@example.org",
                             "Report Domain: plain.test")
        msg, rep, fname = report_of(raw)
        jsonschema.validate(rep, SCHEMA)
        assert rep["date-range"] == date_range(day)
        pol = rep["policies"][0]
        assert pol["policy"]["policy-domain"] == "plain.test"
        assert pol["summary"] == {"total-successful-session-count": 0,
                                  "total-failure-session-count": 2}
        assert pol["failure-details"] == [{
            "result-type": "starttls-not-supported",
            "sending-mta-ip": "127.0.0.1",
            "receiving-mx-hostname": "mx.plain.test",
            "receiving-ip": "127.0.0.2",
            "failed-session-count": 2}]
        assert dkim.verify(raw, dnsfunc=dnsfunc)
        assert 'rua="https://reports.plain.test/v1" result=skipped' in \
            m.log()
        # sent: nothing is left to report, no file to reload, and
        # nothing goes twice
        assert wait_for(lambda: show(m)["periods"] == [], 10), m.log()
        assert os.listdir(os.path.join(m.state, "tlsrpt")) == []
        assert sent_nothing(ctl(m, "tlsrpt-send"))
        m.stop()
        m.start()
        assert sent_nothing(ctl(m, "tlsrpt-send"))
        assert len(m.messages("alice@example.test")) == 1
        assert len(m.messages("carol@example.org")) == 1


def test_the_day_is_reported_when_it_ends(mta_factory, dns):
    """The server's clock 20 s before 00:00 UTC: an outcome is counted
    on that day, tlsrpt-send sends nothing yet, and one second after
    midnight the day's report goes out by itself; an outcome after
    midnight counts on the next day, which is not sent."""
    mx(dns, "night.test", (10, "mx.night.test", "127.0.0.1"))
    dns.add("_smtp._tls.night.test", "TXT",
            "v=TLSRPTv1; rua=mailto:bob@example.test")
    midnight = day_of(time.time())
    day = midnight - DAY
    with Sink() as sink:
        m = remote_mta(mta_factory, sink.port,
                       "smtp_idle_time = 0s\ntlsrpt = yes",
                       env=shift_to(midnight - 20))
        send(m, ["bob@night.test"])
        assert len(sink.wait(1)) == 1
        want = {"night.test": (0, {"starttls-not-supported": 1})}
        assert wait_counts(m, want) == want, m.log()
        assert [p["date-range"] for p in show(m)["periods"]] == \
            [date_range(day)], "counted after midnight: too slow"
        assert sent_nothing(ctl(m, "tlsrpt-send"))
        raw = m.wait_subject("bob@example.test", "Report Domain: night.test",
                             timeout=45)
        _, rep, fname = report_of(raw)
        jsonschema.validate(rep, SCHEMA)
        assert rep["date-range"] == date_range(day)
        assert fname == "mx.example.test!night.test!%d!%d.json.gz" % (
            day, midnight)
        assert rep["policies"][0]["summary"] == {
            "total-successful-session-count": 0,
            "total-failure-session-count": 1}
        send(m, ["bob@night.test"])
        assert len(sink.wait(2)) == 2
        assert wait_for(lambda: [p["date-range"] for p in
                                 show(m)["periods"]] ==
                        [date_range(midnight)], 10), m.log()
        assert sent_nothing(ctl(m, "tlsrpt-send"))
        assert os.listdir(os.path.join(m.state, "tlsrpt")) == [
            str(midnight)]


def test_off_by_default_and_no_record_no_report(mta_factory, dns, workdir):
    mx(dns, "plain.test", (10, "mx.plain.test", "127.0.0.1"))
    with Sink() as sink:
        m = remote_mta(mta_factory, sink.port, "smtp_idle_time = 0s")
        send(m, ["bob@plain.test"])
        assert len(sink.wait(1)) == 1
        time.sleep(0.5)
        rep = show(m)
        assert rep == {"enabled": False, "periods": []}
        m.stop()
        # on, but the domain publishes no TLS-RPT record: nothing is sent
        text = open(m.conf).read().replace(
            "smtp_idle_time = 0s", "smtp_idle_time = 0s\ntlsrpt = yes")
        with open(m.conf, "w") as f:
            f.write(text)
        day = day_of(time.time()) - DAY
        m.start(env=shift_to(day + DAY // 2))
        send(m, ["bob@plain.test"])
        assert len(sink.wait(2)) == 2
        want = {"plain.test": (0, {"starttls-not-supported": 1})}
        assert wait_counts(m, want) == want, m.log()
        m.stop()
        m.start()
        assert "reports of 1 policy domain of 1 ended day " in \
            ctl(m, "tlsrpt-send")
        assert wait_for(lambda: 'domain=plain.test result=skipped '
                        'reason="no TLS-RPT record"' in m.log(), 10), \
            m.log()
        # handled: not asked again
        assert wait_for(lambda: os.listdir(
            os.path.join(m.state, "tlsrpt")) == [], 10)


def test_a_past_day_left_unsent_is_reported_after_start(mta_factory, dns):
    """A day that ended while postbote was not running is reported soon
    after the start, for the whole day (RFC 8460 4), and its file goes.
    The file is named as an older postbote named it (by the first second
    counted): it becomes the day's.  A line of another day is skipped, and
    a domain whose report went out before (a "D" line) is not sent
    again."""
    dns.add("_smtp._tls.late.test", "TXT",
            "v=TLSRPTv1; rua=mailto:bob@example.test")
    dns.add("_smtp._tls.done.test", "TXT",
            "v=TLSRPTv1; rua=mailto:bob@example.test")
    m = mta_factory(extra="tlsrpt = yes").start()
    m.stop()
    day = day_of(time.time()) - DAY
    start = day + 3600
    lines = [outcome(start + i, "late.test") for i in range(4)]
    lines.append(outcome(start + 9, "late.test", "certificate-expired",
                         "192.0.2.1", "mx.late.test", "192.0.2.2"))
    lines.append(outcome(day + DAY + 5, "late.test"))
    lines.append(outcome(start + 10, "done.test"))
    lines.append("garbage line\n")
    lines.append("D\tdone.test\n")
    old = day_file(m, start, lines)
    m.start()
    raw = m.wait_subject("bob@example.test", "Report Domain: late.test",
                         timeout=40)
    msg, rep, fname = report_of(raw)
    jsonschema.validate(rep, SCHEMA)
    assert fname == "mx.example.test!late.test!%d!%d.json.gz" % (
        day, day + DAY)
    assert rep["date-range"] == date_range(day)
    assert rep["report-id"] == report_id(day, "late.test")
    pol = rep["policies"][0]
    assert pol["summary"] == {"total-successful-session-count": 4,
                              "total-failure-session-count": 1}
    assert pol["failure-details"][0]["result-type"] == "certificate-expired"
    assert "event=tlsrpt-load file=tlsrpt/%d skipped=2" % day in m.log()
    path = os.path.join(m.state, "tlsrpt", str(day))
    assert wait_for(lambda: not os.path.exists(path), 10), m.log()
    assert not os.path.exists(old)
    assert show(m)["periods"] == []
    assert "domain=done.test" not in m.log()
    assert len(m.messages("bob@example.test")) == 1


def waiting_for_dns(mta_factory, dns, domain, *failure):
    """A server with yesterday's outcome for domain (a success, or the
    failure's fields), whose report waits for its TXT lookup (SERVFAIL,
    tried again 20 s later); the server and the day."""
    dns.set_rcode("_smtp._tls." + domain, "TXT", "SERVFAIL")
    m = mta_factory(extra="tlsrpt = yes").start()
    m.stop()
    day = day_of(time.time()) - DAY
    day_file(m, day, [outcome(day + 60, domain, *failure)])
    m.start()
    ctl(m, "tlsrpt-send")
    assert wait_for(lambda: "domain=%s result=retry" % domain in m.log(),
                    15), m.log()
    return m, day


def publish(dns, domain):
    """domain's TXT lookup works from now on."""
    dns.remove("_smtp._tls." + domain)
    dns.add("_smtp._tls." + domain, "TXT",
            "v=TLSRPTv1; rua=mailto:bob@example.test")


def test_txt_lookup_failing_for_now_is_tried_again(mta_factory, dns):
    """SERVFAIL for the _smtp._tls record: the report waits and the lookup
    is tried again (20 s later), which then finds the record."""
    m, _ = waiting_for_dns(mta_factory, dns, "flaky.test",
                           "starttls-not-supported", "127.0.0.1",
                           "mx.flaky.test", "127.0.0.1")
    publish(dns, "flaky.test")
    raw = m.wait_subject("bob@example.test", "Report Domain: flaky.test",
                         timeout=45)
    _, rep, _ = report_of(raw)
    jsonschema.validate(rep, SCHEMA)
    assert rep["policies"][0]["summary"][
        "total-failure-session-count"] == 1
    assert "try=1" in m.log() and "try=2" not in m.log()


def test_a_report_in_flight_at_a_crash_is_sent_after_it(mta_factory, dns):
    """The queue process dies (kill -9) while a day's report waits for its
    TXT lookup: the next queue process sends it, once."""
    m, day = waiting_for_dns(mta_factory, dns, "crash.test")
    restart_queue(m)
    publish(dns, "crash.test")
    raw = m.wait_subject("bob@example.test", "Report Domain: crash.test",
                         timeout=40)
    _, rep, _ = report_of(raw)
    assert rep["date-range"] == date_range(day)
    assert wait_for(lambda: os.listdir(os.path.join(m.state, "tlsrpt")) ==
                    [], 10), m.log()
    time.sleep(1)
    assert len(m.messages("bob@example.test")) == 1
