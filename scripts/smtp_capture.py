#!/usr/bin/python3
"""A throw-away SMTP server on loopback that keeps every mail it receives, for tests.

    smtp_capture.py --dir DIR [--tls] [--auth USER:PASSWORD]

Runs Debian's aiosmtpd (python3-aiosmtpd) on 127.0.0.1, on a free port written to DIR/port
once it listens. Each accepted message becomes DIR/mail-NNNN.eml (the bytes as received, CRLF
line ends and all) and, beside it, DIR/mail-NNNN.json: what Python's email package makes of it
(an independent MIME parser), so tests can check the mail without parsing MIME themselves:
{"mail_from", "rcpt_tos", "headers": [[name, value], ...] (decoded), "subject", "text",
"html", "starttls", "auth_user"}. The .json is written after the .eml and renamed into place,
so a reader that sees it sees a complete mail.

--tls offers STARTTLS with a self-signed certificate for 127.0.0.1 made with openssl
(DIR/cert.pem, which the client may trust); --auth requires AUTH PLAIN/LOGIN with that user
and password (after STARTTLS, as aiosmtpd requires by default). Stops on SIGTERM/SIGINT.
"""
import argparse
import asyncio
import email
import email.policy
import json
import os
import signal
import ssl
import subprocess
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Capture:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.folder, "mail-%04d" % self.count)
        raw = envelope.original_content or envelope.content
        with open(base + ".eml.tmp", "wb") as f:
            f.write(raw)
        os.rename(base + ".eml.tmp", base + ".eml")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        parsed = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "headers": [[k, str(v)] for k, v in msg.items()],
            "subject": str(msg.get("Subject", "")),
            "content_type": msg.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
            "starttls": session.ssl is not None,
            "auth_user": session.auth_data if isinstance(session.auth_data, str) else None,
            "defects": [str(d) for d in msg.defects],
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(parsed, f)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 Message accepted for delivery"


def self_signed(folder):
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--auth", default="")
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    handler = Capture(args.dir)
    tls = self_signed(args.dir) if args.tls else None
    user, _, password = args.auth.partition(":")

    def authenticator(server, session, envelope, mechanism, auth_data):
        good = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and
                auth_data.password.decode() == password)
        return AuthResult(success=good, auth_data=user if good else None)

    def factory():
        kw = {}
        if tls is not None:
            kw["tls_context"] = tls
            kw["require_starttls"] = bool(args.auth)
        if args.auth:
            kw["authenticator"] = authenticator
            kw["auth_required"] = True
        return SMTP(handler, hostname="capture.test", **kw)

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    with open(os.path.join(args.dir, "port.tmp"), "w") as f:
        f.write(str(port))
    os.rename(os.path.join(args.dir, "port.tmp"), os.path.join(args.dir, "port"))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    loop.run_forever()
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
