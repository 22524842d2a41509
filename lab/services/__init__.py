"""The lab's emulated internet services: DNS, HTTP, TLS and TCP echo in one program.

The practice lab runs `python -m lab.services.serve --config FILE` inside a
namespace; the program serves every listener the file names and re-reads the
file on SIGHUP, so a fault changes what the services answer (a lying
resolver, a block page, an SNI reset) without a restart. Stdlib only.

    config.py       the JSON config: typed dataclasses, its schema in the docstring
    fields.py       reading JSON values strictly, errors with the value's path
    names.py        DNS names and addresses: normalizing, rule matching, bogons
    dnswire.py      DNS messages: parse a query, build a response (pure)
    dns.py          what a resolver or an injector answers, and its UDP/TCP servers
    clienthello.py  the SNI of a TLS ClientHello (pure), for tls-sni blocking
    web.py          HTTP and HTTPS servers: a body per Host, block pages, resets
    echo.py         TCP echo
    listeners.py    a listening socket served by a bounded number of threads
    serve.py        the program: start, reload on SIGHUP, stop on SIGTERM
    ca.py           the lab CA and per-name certificates, made with the openssl CLI
    events.py       one log line per event on stderr
    errors.py       the exceptions, drawn in its docstring
"""
