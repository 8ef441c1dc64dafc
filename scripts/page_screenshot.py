"""The server's page in a real browser: `zsner serve MODEL` started on a free port of 127.0.0.1, Debian's headless
Chromium (driven by Selenium through chromedriver) opens `GET /`, types a Spanish paragraph into the box, presses
"Tag", waits for the highlighted entities and saves the window as a PNG; browser and server are stopped at the end.

    apt-get install -y chromium chromium-driver
    python3 -m venv /tmp/shot && /tmp/shot/bin/pip install selenium      # a scratch environment, not zsner's
    /tmp/shot/bin/python scripts/page_screenshot.py runs/en-es-augmented/seed1/augmented \\
        --out docs/figures/serve-page.png

The server runs in zsner's environment (--python, default .venv/bin/python); only this script needs Selenium.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zsner.serve.process import ServerProcess  # noqa: E402 (standard library only: no torch here)

PARAGRAPH = ("El presidente del Gobierno, Pedro Sánchez, se reunió ayer en Bruselas con la presidenta de la "
             "Comisión Europea, Ursula von der Leyen, para negociar los fondos de la Unión Europea. Según fuentes "
             "de la Moncloa, el encuentro duró más de dos horas. Mientras tanto, en Barcelona, el director de "
             "Telefónica, José María Álvarez-Pallete, presentó los resultados de la empresa ante la Comisión "
             "Nacional del Mercado de Valores, y el alcalde de Madrid anunció un acuerdo con la Organización "
             "Mundial de la Salud.")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1200,820", "--hide-scrollbars"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="run folder or model file (any that `zsner tag` takes)")
    parser.add_argument("--out", default=str(REPO / "docs" / "figures" / "serve-page.png"))
    parser.add_argument("--text", default=PARAGRAPH, help="the text typed into the page")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"), help="zsner's interpreter")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the entities")
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with ServerProcess(args.model, ["--device", "cpu"], python=args.python) as server, \
            tempfile.TemporaryDirectory() as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = args.chromium
        for flag in [*FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(args.chromedriver))
        try:
            driver.set_page_load_timeout(args.timeout)
            driver.get(f"http://127.0.0.1:{server.port}/")
            driver.find_element(By.ID, "text").send_keys(args.text)  # typed, key by key
            driver.find_element(By.ID, "tag").click()
            marks = WebDriverWait(driver, args.timeout).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#out mark.entity"))
            labels = [mark.get_attribute("data-label") for mark in marks]
            found = [(label, mark.text.removesuffix(label).strip()) for label, mark in zip(labels, marks)]
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(args.out)
        finally:
            driver.quit()
    print(f"{args.out}: {len(found)} entities highlighted: " + ", ".join(f"{text} ({label})" for label, text in found))


if __name__ == "__main__":
    main()
