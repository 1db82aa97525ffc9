"""Receiving one upload safely: size bounded while it streams, type from its bytes.

Nothing here trusts the request: the body is counted as it arrives and refused with
413 past the limit (a ``Content-Length`` over it is refused before a byte is read);
the file is stored under a fixed name in the request's own folder, with the suffix
that its first bytes call for (:func:`affectkit.serve.sniff.sniff`); the client's
file name is kept only as display text (:func:`affectkit.errors.printable`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from affectkit.errors import printable
from affectkit.serve.sniff import HEAD_BYTES, describe, sniff

MAX_FIELD_BYTES = 1024
"""Longest value of a form field other than the file, bytes."""

SUPPORTED = "JPEG, PNG, GIF, BMP, TIFF, WebP, PGM/PPM images; MP4, MOV, MKV, WebM, AVI, MPEG, WMV, FLV videos"


class UploadRefused(Exception):
    """An upload that is refused; ``status`` is the HTTP status, the message one line.

    Parameters
    ----------
    status : int
        413 (too large), 415 (not a supported media type), 422 (empty or unreadable),
        400 (not a multipart form with one file).
    message : str
        One line.
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Upload:
    """A stored upload.

    Attributes
    ----------
    path : Path
        ``media`` plus the sniffed suffix, in the request's folder.
    kind : {"image", "video"}
    display : str
        The client's file name, printable on one line (display text only).
    size : int
        Bytes of the file.
    fields : dict of str to str
        The other form fields (options), each at most :data:`MAX_FIELD_BYTES`.
    """

    path: Path
    kind: str
    display: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)


def display_name(filename: str | None) -> str:
    """The last component of a client's file name, printable, at most 120 characters; ``"upload"`` if none."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = printable(name)[:120]
    return name or "upload"


def check_length(header: str | None, max_bytes: int) -> None:
    """Refuse a declared ``Content-Length`` over ``max_bytes`` (413), before reading the body.

    Raises
    ------
    UploadRefused
        413 when the header exceeds the limit; 400 when it is not a number.
    """
    if header is None:
        return
    try:
        n = int(header)
    except ValueError:
        raise UploadRefused(400, f"Content-Length is not a number: {printable(header)[:40]}") from None
    if n > max_bytes:
        raise UploadRefused(413, f"upload too large: {n / 1e6:.1f} MB, the limit is {max_bytes / 1e6:g} MB")


async def receive_upload(request, folder: Path, max_bytes: int) -> Upload:
    """Stream a ``multipart/form-data`` body with one ``file`` part into ``folder``.

    Parameters
    ----------
    request : starlette.requests.Request
    folder : Path
        The request's own, empty folder; the file is written as ``folder/media.<suffix>``.
    max_bytes : int
        Largest body accepted, bytes (checked on ``Content-Length`` and while streaming).

    Returns
    -------
    Upload

    Raises
    ------
    UploadRefused
        400 (not multipart, no file part, more than one file), 413 (too large), 415
        (the bytes are no supported image or video), 422 (an empty file).
    """
    from python_multipart.multipart import MultipartParser, parse_options_header

    check_length(request.headers.get("content-length"), max_bytes)
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UploadRefused(400, "send the media as multipart/form-data with a 'file' field")
    raw = folder / "media.upload"
    # "filename" is the current part's; "upload_name" the file part's, kept for after the parts
    state = {"headers": {}, "field": b"", "value": b"", "name": None, "filename": None, "out": None,
             "files": 0, "size": 0, "too_long": None, "upload_name": None}
    fields: dict[str, str] = {}
    out_file = open(raw, "wb")

    def on_part_begin():
        state.update(headers={}, field=b"", value=b"", name=None, filename=None, out=None, buf=b"")

    def on_header_field(data, start, end):
        state["field"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished():
        _, disp = parse_options_header(state["headers"].get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        filename = disp.get(b"filename")
        state["name"] = name
        if filename is not None:
            state["files"] += 1
            state["filename"] = filename.decode("utf-8", "surrogateescape")
            if name == "file" and state["files"] == 1:
                state["upload_name"] = state["filename"]
                state["out"] = out_file

    def on_part_data(data, start, end):
        if state["out"] is not None:
            state["out"].write(data[start:end])
            state["size"] += end - start
        elif state["name"] is not None and state["filename"] is None:
            state["buf"] += data[start:end]
            if len(state["buf"]) > MAX_FIELD_BYTES:
                state["too_long"] = state["name"]
                state["buf"] = b""

    def on_part_end():
        if state["out"] is None and state["name"] and state["filename"] is None:
            fields[state["name"]] = state["buf"].decode("utf-8", "replace")
        state["out"] = None

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
    })
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise UploadRefused(413, f"upload too large: over {max_bytes / 1e6:g} MB, the limit")
            parser.write(chunk)
        parser.finalize()
    except UploadRefused:
        raise
    except Exception as exc:  # a malformed multipart body
        raise UploadRefused(400, f"malformed multipart body ({type(exc).__name__})") from None
    finally:
        out_file.close()
    if state["too_long"]:
        raise UploadRefused(400, f"form field {printable(state['too_long'])[:40]!r} is longer than {MAX_FIELD_BYTES} bytes")
    if state["upload_name"] is None:
        raise UploadRefused(400, "no file: send the media in a form field named 'file'")
    if state["files"] > 1:
        raise UploadRefused(400, "one file per request")
    display = display_name(state["upload_name"])
    size = raw.stat().st_size
    if size == 0:
        raise UploadRefused(422, f"{display}: empty file (0 bytes)")
    with open(raw, "rb") as f:
        head = f.read(HEAD_BYTES)
    found = sniff(head)
    if found is None:
        raise UploadRefused(415, f"{display}: not a supported image or video (its content is {describe(head)}); "
                                 f"supported: {SUPPORTED}")
    kind, suffix = found
    path = raw.rename(folder / f"media{suffix}")
    return Upload(path, kind, display, size, fields)
