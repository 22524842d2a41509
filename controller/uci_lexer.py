"""libuci's line lexer (file.c's parse context), used by controller.uci's parser.

Kept apart from the document model and emitter: it is the part that mirrors
libuci's C buffer handling quirk for quirk.
"""

from __future__ import annotations

import re
from typing import NoReturn

from controller.errors import UciError

MAX_SHOWN = 40
_DQ_STOP = re.compile(r'["\\]')
_PLAIN_STOP = re.compile(r"[ \t\n\v\f\r'\"#;\\]")  # parse_str() looks at these
_SPACE = frozenset(" \t\n\v\f\r")  # C isspace() in the "C" locale
_TOKEN_STOP = re.compile(r"[ \t]")  # strtok(line, " \t") delimiters


class Lexer:
    """libuci's parse context: the buffer of the current line(s) and a position in it.

    libuci edits its buffer in place; the edits that can be seen later are
    modelled by cutting `buf` short (a NUL written at that point).
    """

    __slots__ = ("_lines", "_word_end", "buf", "line", "pos", "source")

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        parts = text.split("\n")  # fgets() splits on LF only
        self._lines = [p + "\n" for p in parts[:-1]]
        if parts[-1]:
            self._lines.append(parts[-1])
        nul = text.find("\x00")
        if nul >= 0:
            self.line = text.count("\n", 0, nul) + 1
            self.error("NUL character in the file")
        self.line = 0  # physical lines read so far; errors report this
        self.buf = ""
        self.pos = 0
        self._word_end = 0

    def error(self, reason: str) -> NoReturn:
        raise UciError(self.source, self.line, reason)

    def next_line(self) -> bool:
        """Start a new command line; False at the end of the text."""
        if self.line >= len(self._lines):
            return False
        self._getln()
        return True

    def _getln(self) -> None:
        """uci_getln(): go on with the next line, or with nothing at the end.

        libuci appends the line to its buffer at the current position. Nothing
        before that position is read again (what was parsed is already copied
        out), so the buffer restarts with the new line: a long multi-line value
        costs linear time, not quadratic.
        """
        self.pos = 0
        if self.line < len(self._lines):
            self.buf = self._lines[self.line]
            self.line += 1
        else:
            self.buf = ""

    def skip_space(self) -> None:
        buf, pos, end = self.buf, self.pos, len(self.buf)
        while pos < end and buf[pos] in _SPACE:
            pos += 1
        self.pos = pos

    def command(self) -> str | None:
        """The next command word (strtok on space and tab), None at end or comment."""
        buf, pos = self.buf, self.pos
        while pos < len(buf) and buf[pos] in " \t":
            pos += 1
        stop = _TOKEN_STOP.search(buf, pos)
        self._word_end = stop.start() if stop else len(buf)
        word = buf[pos : self._word_end]
        return word if word and word[0] != "#" else None

    def skip_command(self, command: str) -> None:
        if self._word_end >= len(self.buf):  # uci_increase_pos() fails: nothing follows
            self.error(f"{command} without name")
        self.pos = self._word_end + 1

    def arg(self, *, required: bool = False, name: re.Pattern[str] | None = None) -> str:
        """next_arg(): one argument; empty if there is none."""
        self.skip_space()
        if self.buf.startswith(";", self.pos):
            self.pos += 1
            value = ""
        else:
            value = self._string()
        if not value:
            if required:
                self.error("insufficient arguments")
        elif name is not None and not name.fullmatch(value):
            self.error(
                f"invalid character in name field: {value[:MAX_SHOWN]!r}"
                " (names use only A-Z, a-z, 0-9 and _)"
            )
        return value

    def end_of_command(self) -> None:
        """assert_eol()"""
        if self.arg():
            self.error("too many arguments — quote a value that contains spaces")

    def _string(self) -> str:
        """parse_str(): unquoted, '...' and "..." pieces glued into one argument."""
        out: list[str] = []
        squeezed = False  # a quote or backslash was dropped: the copy lags the input
        at_semicolon = False
        while True:
            buf, pos = self.buf, self.pos
            c = buf[pos : pos + 1]
            if c == "'":
                self._single_quoted(out)
                squeezed = True
            elif c == '"':
                self._double_quoted(out)
                squeezed = True
            elif c == "#":  # a comment, even glued to a value
                self.buf = buf[:pos]
                break
            elif c == ";":
                at_semicolon = True
                break
            elif not c:
                break
            elif c == "\\":
                squeezed = True
                if self._backslash():
                    out.append(self.buf[self.pos])
                    self.pos += 1
            else:
                stop = _PLAIN_STOP.search(buf, pos + 1)
                end = stop.start() if stop else len(buf)
                out.append(buf[pos:end])
                self.pos = end
            c = self.buf[self.pos : self.pos + 1]
            if not c or c in _SPACE:
                break
        if at_semicolon:
            if not squeezed:  # libuci's terminating NUL lands on the ';': the rest is lost
                self.buf = self.buf[: self.pos]
        elif self.pos < len(self.buf):
            self.pos += 1
        return "".join(out)

    def _backslash(self) -> bool:
        """parse_backslash(): False if it ended the line, which then joins the next."""
        self.pos += 1
        if self.buf[self.pos : self.pos + 3] in ("", "\n", "\r\n"):
            self._getln()
            return False
        return True

    def _single_quoted(self, out: list[str]) -> None:
        self.pos += 1
        while True:
            end = self.buf.find("'", self.pos)
            if end >= 0:
                out.append(self.buf[self.pos : end])
                self.pos = end + 1
                return
            out.append(self.buf[self.pos :])
            self._getln()
            if not self.buf:
                self.error("EOF with unterminated '")

    def _double_quoted(self, out: list[str]) -> None:
        self.pos += 1
        while True:
            buf, pos = self.buf, self.pos
            if pos == len(buf):
                self._getln()
                if not self.buf:
                    self.error('EOF with unterminated "')
            elif buf[pos] == '"':
                self.pos = pos + 1
                return
            elif buf[pos] == "\\":
                if self._backslash():
                    out.append(self.buf[self.pos])
                    self.pos += 1
            else:
                stop = _DQ_STOP.search(buf, pos)
                end = stop.start() if stop else len(buf)
                out.append(buf[pos:end])
                self.pos = end
