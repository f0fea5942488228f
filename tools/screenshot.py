"""make screenshot: docs/images/matrix.png, the README's picture of the admin page.

Serves the demo org from a fresh store, opens its permission matrix (estimates, from the CRM)
in headless Chromium (Debian's package, driven by Playwright) and saves the page.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images" / "matrix.png"
AUTHZ = [sys.executable, "-m", "suite_authz.cli.main"]


def main() -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "orgs.sqlite3")
        subprocess.run([*AUTHZ, "org", "import", "policies/examples/demo-org.json", "--store",
                        store], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        server = subprocess.Popen([*AUTHZ, "serve", "--store", store, "--port", "8391"],
                                  cwd=ROOT, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen("http://127.0.0.1:8391/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=chromium,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                page = browser.new_page(viewport={"width": 1100, "height": 760})
                page.goto("http://127.0.0.1:8391/ui/orgs/demo/matrix?module=estimate")
                OUT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(OUT))
                browser.close()
        finally:
            server.kill()
            server.wait()
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
