import smtplib
def test_smoke(mta):
    with smtplib.SMTP("127.0.0.1", mta.port) as c:
        c.ehlo("client.test")
        c.sendmail("x@client.test", ["alice@example.test"], b"Subject: hi\r\n\r\nbody\r\n")
    msgs = mta.wait_messages("alice@example.test", 1)
    assert len(msgs) == 1
    assert b"Delivered-To: alice@example.test" in msgs[0]
