"""Security: bind address, public mode, trust_remote_code, uploads, file routes, CORS, errors, versions."""
from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

import app
from backends import config, models

pytestmark = pytest.mark.app
ROOT = Path(__file__).resolve().parents[2]
PASSWD_MARK = "root:x:0:0"


def _get(url: str, headers: dict | None = None) -> tuple[int, dict, str]:
    """(status, headers, body) without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode(errors="replace")


# ----- binding, public mode, model loading ------------------------------------------------------------
def test_default_bind_is_loopback(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    args = app.parse_args([])
    assert args.host == "127.0.0.1" and not args.public and not args.share
    kw = app.launch_kwargs(args)
    assert kw["server_name"] == "127.0.0.1" and kw["share"] is False


def test_monitoring_and_analytics_off_and_no_flagging(app_url, client):
    kw = app.launch_kwargs(app.parse_args([]))
    assert kw["enable_monitoring"] is False
    status, _, _ = _get(app_url + "monitoring")
    assert status in (403, 404)
    import os

    assert os.environ.get("GRADIO_ANALYTICS_ENABLED") == "False"
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert not [e for e in api if "flag" in e.lower()]


def test_public_mode_tightens_caps_and_allows_registry_models_only(monkeypatch):
    for k in [k for k in __import__("os").environ if k.startswith("WORKBENCH_")]:
        monkeypatch.delenv(k)
    assert app.parse_args(["--public"]).public
    monkeypatch.setenv("SPACE_ID", "someone/workbench")
    assert app.parse_args([]).public  # the default on a Space
    try:
        config.set_public_mode(True)
        lim, default = config.limits(), config.Limits()
        assert lim == config.PUBLIC_LIMITS
        for f in ("max_text_chars", "max_tokens", "max_new_tokens", "max_batch_texts", "max_upload_bytes",
                  "max_count", "time_budget_s"):
            assert getattr(lim, f) < getattr(default, f), f
        assert app.launch_kwargs(app.parse_args(["--public"]))["max_file_size"] == lim.max_upload_bytes
        with pytest.raises(config.InputError, match="4,000"):
            config.check_text("x" * 4001)
    finally:
        config.set_public_mode(False)
    reg = models.ModelRegistry("cpu", public=True)
    for bad in (lambda: reg.add("mine", "/tmp"), lambda: reg.add("mine", "someone/model"),
                lambda: reg.set_slot("chat", "Qwen/Qwen2.5-0.5B-Instruct"), lambda: reg.set_slot("chat", "/tmp"),
                lambda: reg.resolve("../../etc/passwd"), lambda: reg.get("someone/model")):
        with pytest.raises(models.ModelError):
            bad()
    # The registry's names, plus the precision variants the profile itself names (early exit in float32);
    # a visitor cannot load more copies of a model in other precisions.
    assert set(reg.names()) == {s.name for s in models.BUILTIN_SPECS} | {n for n in reg.slots.values() if "@" in n}
    with pytest.raises(models.UnknownModelError, match="public mode"):
        reg.resolve("qwen2.5-coder-1.5b@float32")
    with pytest.raises(models.ModelError):
        models.ModelRegistry("cpu", public=True, extra_models={"x": "someone/model"})


def test_trust_remote_code_is_never_enabled():
    hits = []
    for path in [ROOT / "app.py", *ROOT.glob("backends/*.py"), *ROOT.glob("tabs/*.py"), *ROOT.glob("scripts/*.py")]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "trust_remote_code" in line:
                hits.append((path.name, n, line))
                # Any value other than the literal False (True, a variable, a user's choice) is refused.
                assert not re.search(r"trust_remote_code['\"]?\s*[:=]\s*(?!False\b)\w", line), f"{path}:{n}: {line}"
    assert hits, "the loaders should pass trust_remote_code=False explicitly"
    spec = models.ModelSpec("x", models.CAUSAL_LM, models.HUB, "a/b")
    assert models.load_kwargs(spec, "cpu", from_cache=False)["trust_remote_code"] is False


# ----- files: the app serves nothing but its own --------------------------------------------------------
TRAVERSALS = [
    "/etc/passwd", "//etc/passwd", "../../../../../../etc/passwd", "..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/tmp/gradio/../../etc/passwd", "....//....//etc/passwd",
    "/proc/self/environ", "/proc/self/cmdline", str(ROOT / "app.py"), str(ROOT / "backends" / "config.py"),
    str(Path.home() / ".cache" / "llm-workbench"), "file:///etc/passwd", "C:\\Windows\\win.ini",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_file_routes_refuse_paths_outside_the_app(app_url, path):
    for route in ("gradio_api/file=", "gradio_api/file/", "file=", "static/", "gradio_api/static/"):
        status, _, body = _get(app_url + route + path)
        assert status in (400, 403, 404, 405), (route, path, status, body[:200])
        assert PASSWD_MARK not in body and "def launch_kwargs" not in body and "HF_HUB" not in body


def test_file_route_is_no_open_redirect_or_proxy(app_url):
    for url in ("https://evil.example/x", "http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:1/"):
        status, headers, _ = _get(app_url + "gradio_api/file=" + url)
        assert status != 302 or "evil.example" not in headers.get("location", ""), (url, status, headers)
        assert status not in (200, 301, 302, 307, 308) or "169.254" not in headers.get("location", ""), (url, status)


def test_cors_refuses_foreign_origins(app_url):
    for origin in ("https://evil.example", "null"):
        status, headers, _ = _get(app_url + "config", headers={"Origin": origin})
        allowed = {k.lower(): v for k, v in headers.items()}.get("access-control-allow-origin")
        assert allowed not in (origin, "*"), (origin, status, headers)


def test_a_file_reference_to_a_server_path_is_refused(app_url):
    """A client cannot make the server read one of its files by naming it in a FileData."""
    import json

    for path in ("/etc/passwd", str(ROOT / "app.py"), "../../etc/passwd"):
        body = json.dumps({"data": [{"path": path, "meta": {"_type": "gradio.FileData"}}, "smollm2-135m-instruct",
                                    "smollm2-135m-instruct", "observer", 1.0]}).encode()
        req = urllib.request.Request(app_url + "gradio_api/call/detect_batch", data=body,
                                     headers={"Content-Type": "application/json"})
        try:
            event = json.loads(urllib.request.urlopen(req, timeout=30).read())["event_id"]
            url = f"{app_url}gradio_api/call/detect_batch/{event}"
            stream = urllib.request.urlopen(url, timeout=60).read().decode()
        except urllib.error.HTTPError as e:
            stream = f"event: error\ndata: HTTP {e.code}"
        assert "event: error" in stream, stream[:300]
        assert PASSWD_MARK not in stream and "root" not in stream.split("event: error")[-1][:40]


def test_uploads_type_and_size_are_enforced_on_the_server(client, tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"text\n" + b"x" * (config.limits().max_upload_bytes + 10))
    with pytest.raises(Exception) as e:  # refused by the upload route (max_file_size), before any callback
        client.predict(handle_file(str(big)), "smollm2-135m-instruct", "smollm2-135m-instruct", "observer", 1.0,
                       api_name="/detect_batch")
    assert "Traceback" not in str(e.value)
    for name, data in (("evil.exe", b"MZ\x90\x00"), ("page.html", b"<script>alert(1)</script>"),
                       ("image.svg", b"<svg onload=alert(1)>")):
        f = tmp_path / name
        f.write_bytes(data)
        with pytest.raises(AppError) as e:
            client.predict(handle_file(str(f)), "smollm2-135m-instruct", "smollm2-135m-instruct", "observer", 1.0,
                           api_name="/detect_batch")
        assert "file" in str(e.value).lower() and "Traceback" not in str(e.value), str(e.value)


def test_user_text_is_never_a_path(client):
    """Text that looks like a path is scored as text; nothing of the file it names comes back."""
    for text in ("/etc/passwd is a file on Linux systems that lists the accounts of the machine and their shells.",
                 "../../../../etc/passwd " * 8):
        out = client.predict(text, "smollm2-135m-instruct", "smollm2-135m-instruct", "observer",
                             "default for this pair", 0.9, api_name="/detect")
        assert PASSWD_MARK not in str(out)


def test_unexpected_errors_reach_the_user_without_internals(client, monkeypatch):
    from backends import cosine

    def bug(*a, **k):
        raise ValueError(f"secret detail at {ROOT}/backends/cosine.py line 1, token hf_abc123")

    monkeypatch.setattr(cosine, "embed", bug)
    with pytest.raises(AppError) as e:
        client.predict("A cat sits on the mat.\nStocks fell today.", 1.0, 0, api_name="/cosine_embeddings")
    msg = str(e.value)
    assert "reference" in msg and "secret" not in msg and str(ROOT) not in msg and "hf_abc" not in msg, msg


def test_gradio_is_pinned_at_the_checked_release():
    """6.31.0 includes the fixes of Gradio's published advisories (see README, SECURITY)."""
    assert gr.__version__ == "6.31.0"
    assert "gradio==6.31.0" in (ROOT / "requirements.txt").read_text().split()
    # The Space is a Docker Space (README front matter): its image installs requirements.txt, so the pin above is
    # what it runs.
    readme = (ROOT / "README.md").read_text()
    assert "sdk: docker" in readme and "requirements.txt" in (ROOT / "scripts" / "space_build.sh").read_text()
