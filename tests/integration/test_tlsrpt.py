"""test_tlsrpt.py - SMTP TLS Reporting (RFC 8460): real deliveries from
build/asan/postbote to aiosmtpd receivers on loopback, one with STARTTLS
and one without, counted per policy domain; the counts survive a restart;
`postbote queue tlsrpt-send` sends each domain's report to the mailto:
address of its `_smtp._tls` TXT record (served by the test's DNS), through
postbote's own queue into a local Maildir.  The report is decoded as a
mail reader would (MIME, base64, gzip), its JSON is validated against a
JSON Schema written here from RFC 8460 section 4, its counts are checked,
and its DKIM signature verifies (python3-dkim)."""

import email
import email.policy
import gzip
import json
import os
import re
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


def test_counts_survive_restart_and_reports_are_sent(mta_factory, dns,
                                                     workdir):
    ca, cert, key = make_ca(workdir, "mx.tls.test")
    mx(dns, "tls.test", (10, "mx.tls.test", "127.0.0.1"))
    mx(dns, "plain.test", (10, "mx.plain.test", "127.0.0.2"))
    dns.add("_smtp._tls.tls.test", "TXT",
            "v=TLSRPTv1; rua=mailto:alice@example.test")
    dns.add("_smtp._tls.plain.test", "TXT",
            "v=TLSRPTv1;rua=mailto:carol@example.org,"
            "https://reports.plain.test/v1")
    keyfile, rec = keygen(workdir, "example.test", "tr")
    with Sink(tls_context=tls_context(cert, key)) as tls_sink, \
            HostSink("127.0.0.2", tls_sink.port) as plain_sink:
        m = remote_mta(mta_factory, tls_sink.port, (
            "smtp_idle_time = 0s\ntlsrpt = yes\n"
            "tlsrpt_organization = Example-Sender\n"
            "tlsrpt_contact = postmaster@example.test\n"
            "tlsrpt_from = tlsrpt-noreply@example.test\n"
            "[dkim example.test]\nselector = tr\nkey = %s") % keyfile)
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

        # a restart loses nothing of the day
        m.stop()
        m.start()
        assert counts(m) == want, m.log()
        out = ctl(m, "tlsrpt-send")
        assert "2 policy domains" in out, out

        raw = m.wait_subject("alice@example.test",
                             "Report Domain: tls.test")
        msg, rep, fname = report_of(raw)
        jsonschema.validate(rep, SCHEMA)
        assert msg["TLS-Report-Domain"] == "tls.test"
        assert msg["TLS-Report-Submitter"] == "mx.example.test"
        subject = " ".join(msg["Subject"].split())
        assert subject == ("Report Domain: tls.test Submitter: "
                           "mx.example.test Report-ID: <%s>"
                           % rep["report-id"]), subject
        assert re.fullmatch(r"mx\.example\.test!tls\.test!\d+!\d+\.json\.gz",
                            fname), fname
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
        # sent: nothing is left to report, and no file to reload
        assert show(m)["periods"] == []
        assert os.listdir(os.path.join(m.state, "tlsrpt")) == []


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
        m.start()
        send(m, ["bob@plain.test"])
        assert len(sink.wait(2)) == 2
        want = {"plain.test": (0, {"starttls-not-supported": 1})}
        assert wait_counts(m, want) == want, m.log()
        assert "1 policy domain " in ctl(m, "tlsrpt-send")
        end = time.time() + 10
        while time.time() < end and "result=skipped reason=\"no TLS-RPT " \
                "record\"" not in m.log():
            time.sleep(0.1)
        assert 'domain=plain.test result=skipped reason="no TLS-RPT ' \
            'record"' in m.log()


def test_a_past_day_left_unsent_is_reported_after_start(mta_factory, dns):
    """A period that began before the last UTC midnight (postbote was not
    running at midnight) is reported soon after the start, with the date
    range of its day (RFC 8460 4.1), and its file goes."""
    dns.add("_smtp._tls.late.test", "TXT",
            "v=TLSRPTv1; rua=mailto:bob@example.test")
    m = mta_factory(extra="tlsrpt = yes").start()
    m.stop()
    day = (int(time.time()) // 86400 - 1) * 86400
    start = day + 3600
    path = os.path.join(m.state, "tlsrpt", str(start))
    with open(path, "w") as f:
        for i in range(4):
            f.write("1\t%d\tno-policy-found\tlate.test\t\t\t\t\t\t\t\n"
                    % (start + i))
        f.write("1\t%d\tno-policy-found\tlate.test\t\t\t"
                "certificate-expired\t192.0.2.1\tmx.late.test\t192.0.2.2\t"
                "\n" % (start + 9))
        f.write("garbage line\n")
    os.chmod(path, 0o644)
    m.start()
    raw = m.wait_subject("bob@example.test", "Report Domain: late.test",
                         timeout=40)
    msg, rep, fname = report_of(raw)
    jsonschema.validate(rep, SCHEMA)
    assert fname == "mx.example.test!late.test!%d!%d.json.gz" % (
        start, day + 86400)
    assert rep["date-range"] == {
        "start-datetime": time.strftime("%Y-%m-%dT01:00:00Z",
                                        time.gmtime(start)),
        "end-datetime": time.strftime("%Y-%m-%dT00:00:00Z",
                                      time.gmtime(day + 86400))}
    pol = rep["policies"][0]
    assert pol["summary"] == {"total-successful-session-count": 4,
                              "total-failure-session-count": 1}
    assert pol["failure-details"][0]["result-type"] == "certificate-expired"
    assert "event=tlsrpt-load file=tlsrpt/%d skipped=1" % start in m.log()
    assert wait_for(lambda: not os.path.exists(path), 10)
    assert show(m)["periods"] == []


def test_txt_lookup_failing_for_now_is_tried_again(mta_factory, dns):
    """SERVFAIL for the _smtp._tls record: the report waits and the lookup
    is tried again (20 s later), which then finds the record."""
    mx(dns, "flaky.test", (10, "mx.flaky.test", "127.0.0.1"))
    dns.set_rcode("_smtp._tls.flaky.test", "TXT", "SERVFAIL")
    with Sink() as sink:
        m = remote_mta(mta_factory, sink.port,
                       "smtp_idle_time = 0s\ntlsrpt = yes")
        send(m, ["bob@flaky.test"])
        assert len(sink.wait(1)) == 1
        want = {"flaky.test": (0, {"starttls-not-supported": 1})}
        assert wait_counts(m, want) == want, m.log()
        ctl(m, "tlsrpt-send")
        assert wait_for(lambda: "domain=flaky.test result=retry" in m.log(),
                        15), m.log()
        dns.remove("_smtp._tls.flaky.test")
        dns.add("_smtp._tls.flaky.test", "TXT",
                "v=TLSRPTv1; rua=mailto:bob@example.test")
        raw = m.wait_subject("bob@example.test", "Report Domain: flaky.test",
                             timeout=45)
        _, rep, _ = report_of(raw)
        jsonschema.validate(rep, SCHEMA)
        assert rep["policies"][0]["summary"][
            "total-failure-session-count"] == 1
        assert "try=1" in m.log() and "try=2" not in m.log()
